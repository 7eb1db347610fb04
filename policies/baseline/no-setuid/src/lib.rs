//! `no-setuid`: no setuid or setgid executables beyond an allowed list.
//!
//! A setuid binary runs with its owner's rights whatever user runs it: the
//! classic way out of a non-root container user. Reads the executables
//! customs found in the image's layers (links are judged by their target,
//! once); without them (no image read, only reports) it passes, unless
//! `require-files` asks for a warning.

use customs_guest::{Finding, Image, Params, Policy, PolicyInfo, Severity, export_policy};

const RULE: &str = "no-setuid";

struct NoSetuid;

impl Policy for NoSetuid {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            RULE,
            "0.1.0",
            "No setuid or setgid executables in the image, beyond an allowed list.",
        )
        .rule(
            RULE,
            "no executable has the setuid or setgid bit, unless allowed",
        )
        .param(
            "allowed",
            "",
            "comma-separated paths that may stay setuid/setgid (e.g. /usr/bin/passwd)",
        )
        .param(
            "require-files",
            "false",
            "warn when the image's files were not read (only reports about it were given)",
        )
    }

    fn evaluate(image: &Image, params: &Params) -> Result<Vec<Finding>, String> {
        let allowed = params.list("allowed");
        let require_files: bool = params.parse("require-files")?;
        let Some(executables) = image.executables() else {
            return Ok(if require_files {
                vec![Finding::warn(
                    RULE,
                    Severity::Medium,
                    "the image's files are unknown (give the image itself: oci-layout:, docker-archive:), so setuid binaries cannot be checked",
                )]
            } else {
                vec![]
            });
        };
        Ok(executables
            .iter()
            .filter(|e| e.link_target.is_none() && (e.setuid || e.setgid))
            .filter(|e| !allowed.contains(&e.path.as_str()))
            .map(|e| {
                let bits = match (e.setuid, e.setgid) {
                    (true, true) => "setuid and setgid",
                    (true, false) => "setuid",
                    _ => "setgid",
                };
                Finding::deny(
                    RULE,
                    Severity::High,
                    format!(
                        "{} is {bits} (mode {:o}, owner {}:{}); remove the bit (chmod u-s,g-s) or list it in allowed",
                        e.path, e.mode, e.uid, e.gid
                    ),
                )
                .with_subject(e.path.clone())
            })
            .collect())
    }
}

export_policy!(NoSetuid);
