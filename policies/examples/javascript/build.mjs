// Builds a JavaScript policy into a component:
//   node build.mjs APP.js WIT_DIR OUT.wasm
// APP.js and the modules it imports (customs-policy.js) are read from its
// directory; the customs WIT world is `policy`.
import { componentize } from "@bytecodealliance/componentize-js";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";

const [app, witPath, out] = process.argv.slice(2);
if (!out) {
  console.error("usage: node build.mjs APP.js WIT_DIR OUT.wasm");
  process.exit(2);
}
// The engine reads the sources from a sandbox that does not follow symbolic
// links (the example links the helper from guest-sdk/js): copy them.
const sources = await mkdtemp(join(tmpdir(), "customs-js-"));
await cp(dirname(app), sources, {
  recursive: true,
  dereference: true,
  filter: (path) => !path.includes("node_modules"),
});
const { component } = await componentize({
  sourcePath: join(sources, basename(app)),
  witPath,
  worldName: "policy",
  // A policy serves no HTTP: leave StarlingMonkey's HTTP support out.
  disableFeatures: ["http", "fetch-event"],
});
await rm(sources, { recursive: true });
await writeFile(out, component);
console.log(`wrote ${out} (${component.length} bytes)`);
