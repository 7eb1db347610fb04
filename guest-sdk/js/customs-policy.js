// Write a customs policy in JavaScript.
//
// A policy is a function from the image's facts and its parameters to a list
// of findings; `policy` makes it the component's exports, so the app is:
//
//   import { policy, deny, Severity } from "./customs-policy.js";
//
//   export const { metadata, evaluate } = policy(
//     { name: "no-latest", version: "0.1.0", description: "...",
//       rules: { "no-latest": "the tag is not latest" } },
//     (image, params) =>
//       image.info().tag === "latest"
//         ? [deny("no-latest", Severity.high, "the image is tagged :latest")]
//         : [],
//   );
//
// Build with componentize-js (see docs/languages/javascript.md). Facts methods
// are the WIT's in camelCase (image.user(), image.vulnerabilities({...}),
// record fields such as user.isRoot); a method returns undefined when no input
// supplied that fact. Throw a PolicyError when the policy cannot decide; any
// other exception fails the policy too. Either way the image is denied with a
// finding that names the policy and the error.

/** Severities, least to most severe, as the WIT enum spells them. */
export const Severity = Object.freeze({
  unknown: "unknown",
  negligible: "negligible",
  low: "low",
  medium: "medium",
  high: "high",
  critical: "critical",
});

/** The policy cannot decide (a bad parameter, say): the image is denied. */
export class PolicyError extends Error {}

/** A finding that denies the image. */
export function deny(rule, severity, message, subject = undefined) {
  return { rule, effect: "deny", severity, message, subject };
}

/** A finding that is reported and never blocks. */
export function warn(rule, severity, message, subject = undefined) {
  return { rule, effect: "warn", severity, message, subject };
}

/**
 * Makes `evaluate(image, params)` a policy. `rules` maps each rule id to what
 * it checks; `params` maps each parameter to [default, description]. The host
 * fills in defaults, so `params[name]` is always set.
 */
export function policy({ name, version, description, rules, params = {} }, evaluate) {
  const info = {
    name,
    version,
    description,
    rules: Object.entries(rules).map(([id, text]) => ({ id, description: text })),
    params: Object.entries(params).map(([param, [defaultValue, text]]) => ({
      name: param,
      description: text,
      defaultValue,
    })),
  };
  return {
    metadata: () => info,
    evaluate: (image, pairs) => {
      try {
        return evaluate(image, Object.fromEntries(pairs));
      } catch (error) {
        // A thrown string is the `err` of the export's result.
        throw error instanceof PolicyError ? error.message : `${error?.name}: ${error?.message}`;
      }
    },
  };
}
