//! The example policy of the language guides (docs/languages): the image
//! runs as a non-root user, has no critical vulnerability with a fix
//! available, and no embedded secrets. The Python and JavaScript versions
//! beside it must decide the same on every image (tests/tests/languages.rs).

use customs_guest::{
    Finding, Image, Params, Policy, PolicyInfo, Severity, VulnerabilityQuery, export_policy,
};

struct Example;

impl Policy for Example {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "example",
            "0.1.0",
            "Non-root user, no fixable critical vulnerabilities, no secrets.",
        )
        .rule("no-root-user", "the image runs as a non-root user")
        .rule(
            "vulnerabilities",
            "no critical vulnerability with a fix available",
        )
        .rule("no-secrets", "the secret scan found nothing")
    }

    fn evaluate(image: &Image, _params: &Params) -> Result<Vec<Finding>, String> {
        let mut findings = Vec::new();

        match image.user() {
            None => findings.push(Finding::warn(
                "no-root-user",
                Severity::Medium,
                "the image config is unknown",
            )),
            Some(user) if user.is_root => findings.push(Finding::deny(
                "no-root-user",
                Severity::High,
                "the image runs as root",
            )),
            Some(_) => {}
        }

        let query = VulnerabilityQuery {
            min_severity: Severity::Critical,
            fixable_only: true,
            include_suppressed: false,
        };
        match image.vulnerabilities(query) {
            None => findings.push(Finding::warn(
                "vulnerabilities",
                Severity::Medium,
                "no vulnerability scan is in the facts",
            )),
            Some(found) => findings.extend(found.iter().map(|v| {
                Finding::deny(
                    "vulnerabilities",
                    Severity::Critical,
                    format!("{} in {} {}", v.id, v.package_name, v.package_version),
                )
                .with_subject(v.id.clone())
            })),
        }

        match image.secrets() {
            None => findings.push(Finding::warn(
                "no-secrets",
                Severity::Medium,
                "no secret scan is in the facts",
            )),
            Some(found) => findings.extend(found.iter().map(|s| {
                Finding::deny(
                    "no-secrets",
                    s.severity,
                    format!(
                        "secret {} in {}",
                        s.rule_id,
                        s.path.as_deref().unwrap_or("?")
                    ),
                )
            })),
        }
        Ok(findings)
    }
}

export_policy!(Example);
