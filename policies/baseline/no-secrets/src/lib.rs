//! `no-secrets`: no embedded secrets (keys, tokens, passwords) in the image.
//! Findings name the rule that matched and where; the secret itself never
//! reaches facts, so it cannot reach a finding either.

use customs_guest::{Finding, Image, Params, Policy, PolicyInfo, Severity, export_policy};

const RULE: &str = "no-secrets";

struct NoSecrets;

impl Policy for NoSecrets {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            RULE,
            "0.1.0",
            "No secrets (keys, tokens, passwords) are embedded in the image.",
        )
        .rule(
            RULE,
            "the secret scan found nothing at or above min-severity",
        )
        .param(
            "min-severity",
            "unknown",
            "lowest secret severity that denies",
        )
    }

    fn evaluate(image: &Image, params: &Params) -> Result<Vec<Finding>, String> {
        let min_severity: Severity = params.parse("min-severity")?;
        let Some(secrets) = image.secrets() else {
            return Ok(vec![Finding::warn(
                RULE,
                Severity::Medium,
                "no secret scan is in the facts (a report without secret results); run a scanner with secret scanning",
            )]);
        };
        Ok(secrets
            .iter()
            .filter(|s| s.severity.at_least(min_severity))
            .map(|s| {
                let place = match (&s.path, s.line) {
                    (Some(path), Some(line)) => format!("{path}:{line}"),
                    (Some(path), None) => path.clone(),
                    _ => "an unknown file".to_owned(),
                };
                let what = s.title.as_deref().unwrap_or(&s.rule_id);
                Finding::deny(
                    RULE,
                    s.severity,
                    format!("{what} (secret rule {}) found in {place}", s.rule_id),
                )
                .with_subject(place)
            })
            .collect())
    }
}

export_policy!(NoSecrets);
