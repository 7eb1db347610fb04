// The example policy of the language guides, in JavaScript: the image runs as
// a non-root user, has no critical vulnerability with a fix available, and no
// embedded secrets. It decides as the Rust version does (policies/examples/rust).

import { Severity, deny, policy, warn } from "./customs-policy.js";

export const { metadata, evaluate } = policy(
  {
    name: "example",
    version: "0.1.0",
    description: "Non-root user, no fixable critical vulnerabilities, no secrets.",
    rules: {
      "no-root-user": "the image runs as a non-root user",
      vulnerabilities: "no critical vulnerability with a fix available",
      "no-secrets": "the secret scan found nothing",
    },
  },
  (image, _params) => {
    const findings = [];

    const user = image.user();
    if (user === undefined) {
      findings.push(warn("no-root-user", Severity.medium, "the image config is unknown"));
    } else if (user.isRoot) {
      findings.push(deny("no-root-user", Severity.high, "the image runs as root"));
    }

    const found = image.vulnerabilities({
      minSeverity: Severity.critical,
      fixableOnly: true,
      includeSuppressed: false,
    });
    if (found === undefined) {
      findings.push(warn("vulnerabilities", Severity.medium, "no vulnerability scan is in the facts"));
    } else {
      for (const v of found) {
        findings.push(
          deny("vulnerabilities", Severity.critical, `${v.id} in ${v.packageName} ${v.packageVersion}`, v.id),
        );
      }
    }

    const secrets = image.secrets();
    if (secrets === undefined) {
      findings.push(warn("no-secrets", Severity.medium, "no secret scan is in the facts"));
    } else {
      for (const s of secrets) {
        findings.push(deny("no-secrets", s.severity, `secret ${s.ruleId} in ${s.path ?? "?"}`));
      }
    }

    return findings;
  },
);
