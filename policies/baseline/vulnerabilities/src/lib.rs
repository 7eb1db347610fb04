//! `vulnerabilities`: no known vulnerabilities at or above a severity that have a fix.
//!
//! VEX `not_affected`/`fixed` findings are not counted (the host filters them).
//! `grace-days` leaves advisories published fewer than that many days ago
//! alone, so a CVE published yesterday does not break production today; the
//! advisory date stands in for the fix date, which scanners rarely report.

use customs_guest::{
    DAY, Finding, Image, Params, Policy, PolicyInfo, Severity, Vulnerability, VulnerabilityQuery,
    export_policy,
};

const RULE: &str = "vulnerabilities";

struct Vulnerabilities;

impl Policy for Vulnerabilities {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            RULE,
            "0.1.0",
            "No known vulnerabilities at or above a severity, by default only those with a fix.",
        )
        .rule(RULE, "no (fixable) vulnerability at or above min-severity")
        .param("min-severity", "high", "lowest severity that denies")
        .param(
            "fixable-only",
            "true",
            "count only vulnerabilities that have a fix",
        )
        .param(
            "grace-days",
            "0",
            "ignore advisories published fewer than this many days ago",
        )
        .param(
            "ignore",
            "",
            "comma-separated vulnerability ids (or aliases) to ignore",
        )
        .param(
            "max-findings",
            "25",
            "list at most this many vulnerabilities one by one",
        )
    }

    fn evaluate(image: &Image, params: &Params) -> Result<Vec<Finding>, String> {
        let min_severity: Severity = params.parse("min-severity")?;
        let fixable_only: bool = params.parse("fixable-only")?;
        let grace_days: i64 = params.parse("grace-days")?;
        let max_findings: usize = params.parse("max-findings")?;
        let ignore = params.list("ignore");
        let query = VulnerabilityQuery {
            min_severity,
            fixable_only,
            include_suppressed: false,
        };
        let Some(found) = image.vulnerabilities(query) else {
            return Ok(vec![Finding::warn(
                RULE,
                Severity::Medium,
                "no vulnerability scan is in the facts; add a Trivy or Grype report",
            )]);
        };
        let cutoff = image.now() - grace_days.max(0) * DAY;
        let counted: Vec<&Vulnerability> = found
            .iter()
            .filter(|v| {
                !ignore
                    .iter()
                    .any(|id| *id == v.id || v.aliases.iter().any(|a| a == id))
            })
            .filter(|v| grace_days <= 0 || v.published.is_none_or(|p| p <= cutoff))
            .collect();
        let mut findings: Vec<Finding> = counted
            .iter()
            .take(max_findings)
            .map(|v| Finding::deny(RULE, v.severity, describe(v)).with_subject(v.id.clone()))
            .collect();
        if counted.len() > max_findings {
            let worst = counted.iter().map(|v| v.severity).max_by_key(|s| *s as u8);
            findings.push(Finding::deny(
                RULE,
                worst.unwrap_or(min_severity),
                format!(
                    "and {} more vulnerabilities at or above {min_severity}",
                    counted.len() - max_findings
                ),
            ));
        }
        Ok(findings)
    }
}

fn describe(v: &Vulnerability) -> String {
    let fix = if v.fixed_versions.is_empty() {
        "no fixed version yet".to_owned()
    } else {
        format!("fixed in {}", v.fixed_versions.join(", "))
    };
    format!(
        "{} ({}) in {} {}: {fix}",
        v.id, v.severity, v.package_name, v.package_version
    )
}

export_policy!(Vulnerabilities);
