//! `misconfigurations`: no misconfiguration finding at or above a severity.
//!
//! Reads what configuration scanners found (Trivy's `config` scanner on a
//! Dockerfile, Kubernetes manifests, Helm charts). Many pipelines run no such
//! scan, so its absence passes unless `require-scan` asks for it.

use customs_guest::{
    Finding, Image, Misconfiguration, Params, Policy, PolicyInfo, Severity, export_policy,
};

const RULE: &str = "misconfigurations";

struct Misconfigurations;

impl Policy for Misconfigurations {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            RULE,
            "0.1.0",
            "No misconfiguration (Dockerfile, manifests) at or above a severity.",
        )
        .rule(RULE, "no misconfiguration finding at or above min-severity")
        .param("min-severity", "high", "lowest severity that denies")
        .param(
            "ignore",
            "",
            "comma-separated check ids to ignore (e.g. DS-0002)",
        )
        .param(
            "require-scan",
            "false",
            "warn when no misconfiguration scan is in the facts",
        )
        .param(
            "max-findings",
            "25",
            "list at most this many findings one by one",
        )
    }

    fn evaluate(image: &Image, params: &Params) -> Result<Vec<Finding>, String> {
        let min_severity: Severity = params.parse("min-severity")?;
        let require_scan: bool = params.parse("require-scan")?;
        let max_findings: usize = params.parse("max-findings")?;
        let ignore = params.list("ignore");
        let Some(found) = image.misconfigurations() else {
            return Ok(if require_scan {
                vec![Finding::warn(
                    RULE,
                    Severity::Medium,
                    "no misconfiguration scan is in the facts; add a Trivy config scan (trivy config, or --scanners misconfig)",
                )]
            } else {
                vec![]
            });
        };
        let counted: Vec<&Misconfiguration> = found
            .iter()
            .filter(|m| m.severity.at_least(min_severity))
            .filter(|m| !ignore.contains(&m.id.as_str()))
            .collect();
        let mut findings: Vec<Finding> = counted
            .iter()
            .take(max_findings)
            .map(|m| Finding::deny(RULE, m.severity, describe(m)).with_subject(m.id.clone()))
            .collect();
        if counted.len() > max_findings {
            let worst = counted.iter().map(|m| m.severity).max_by_key(|s| *s as u8);
            findings.push(Finding::deny(
                RULE,
                worst.unwrap_or(min_severity),
                format!(
                    "and {} more misconfigurations at or above {min_severity}",
                    counted.len() - max_findings
                ),
            ));
        }
        Ok(findings)
    }
}

/// "DS-0002 (high) in Dockerfile: Image user should not be 'root': Specify ..."
fn describe(m: &Misconfiguration) -> String {
    let mut text = format!("{} ({})", m.id, m.severity);
    if let Some(target) = &m.target {
        text.push_str(&format!(" in {target}"));
    }
    for part in [&m.title, &m.message].into_iter().flatten() {
        text.push_str(": ");
        text.push_str(part);
    }
    text
}

export_policy!(Misconfigurations);
