//! `freshness`: the image was built recently and its base OS is still supported.

use customs_guest::{DAY, Finding, Image, Params, Policy, PolicyInfo, Severity, export_policy};

const RULE: &str = "freshness";

struct Freshness;

impl Policy for Freshness {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            RULE,
            "0.1.0",
            "The image was rebuilt recently and its base OS release is still supported.",
        )
        .rule(
            RULE,
            "image age within max-age-days; base OS not past end of life",
        )
        .param(
            "max-age-days",
            "365",
            "oldest image (days since created) that passes",
        )
        .param(
            "eol-warning-days",
            "90",
            "warn this many days before the base OS reaches end of life",
        )
    }

    fn evaluate(image: &Image, params: &Params) -> Result<Vec<Finding>, String> {
        let max_age_days: i64 = params.parse("max-age-days")?;
        let eol_warning_days: i64 = params.parse("eol-warning-days")?;
        let now = image.now();
        let mut findings = Vec::new();

        match image.info().created {
            None => findings.push(Finding::warn(
                RULE,
                Severity::Low,
                "the image creation time is unknown, so its age cannot be checked",
            )),
            // Reproducible builds (distroless, ko, Bazel, Nix) stamp the Unix epoch on purpose.
            Some(created) if created <= 0 => findings.push(Finding::warn(
                RULE,
                Severity::Low,
                "the image carries a reproducible-build timestamp (1970-01-01), so its age is unknown",
            )),
            Some(created) => {
                let age_days = (now - created) / DAY;
                if age_days > max_age_days {
                    findings.push(Finding::deny(
                        RULE,
                        Severity::Medium,
                        format!("the image was built {age_days} days ago, more than max-age-days ({max_age_days}); rebuild it"),
                    ));
                }
            }
        }

        if let Some(os) = image.base().and_then(|b| b.os) {
            let release = format!("{} {}", os.family, os.version);
            match os.eol {
                Some(eol) if eol <= now => findings.push(
                    Finding::deny(
                        RULE,
                        Severity::High,
                        format!("the base OS {release} reached end of life {} days ago and gets no security fixes", (now - eol) / DAY),
                    )
                    .with_subject(release),
                ),
                Some(eol) if eol - now <= eol_warning_days * DAY => findings.push(
                    Finding::warn(
                        RULE,
                        Severity::Medium,
                        format!("the base OS {release} reaches end of life in {} days", (eol - now) / DAY),
                    )
                    .with_subject(release),
                ),
                Some(_) => {}
                None if os.eosl == Some(true) => findings.push(
                    Finding::deny(RULE, Severity::High, format!("the scanner reports the base OS {release} as past end of support"))
                        .with_subject(release),
                ),
                None => {}
            }
        }
        Ok(findings)
    }
}

export_policy!(Freshness);
