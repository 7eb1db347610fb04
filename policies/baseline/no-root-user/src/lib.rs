//! `no-root-user`: the image must not run as root.
//!
//! Reads `user` (derived from the config's USER). At admission, a workload whose
//! every container is forced non-root (runAsNonRoot, or a non-zero runAsUser)
//! passes even when the image itself defaults to root.

use customs_guest::{Finding, Image, Params, Policy, PolicyInfo, Severity, export_policy};

const RULE: &str = "no-root-user";

struct NoRootUser;

impl Policy for NoRootUser {
    fn info() -> PolicyInfo {
        PolicyInfo::new(RULE, "0.1.0", "The image does not run as root (uid 0).").rule(
            RULE,
            "config USER is set to a non-root user, or the workload forces non-root",
        )
    }

    fn evaluate(image: &Image, _params: &Params) -> Result<Vec<Finding>, String> {
        if let Some(workload) = image.workload()
            && !workload.containers.is_empty()
            && workload.containers.iter().all(|c| {
                c.security_context.run_as_non_root == Some(true)
                    || c.security_context.run_as_user.is_some_and(|uid| uid > 0)
            })
        {
            return Ok(vec![]);
        }
        let Some(user) = image.user() else {
            return Ok(vec![Finding::warn(
                RULE,
                Severity::Medium,
                "the image config is unknown (no USER in the facts), so whether it runs as root cannot be checked",
            )]);
        };
        if !user.is_root {
            return Ok(vec![]);
        }
        let configured = image.config().map(|c| c.user).unwrap_or_default();
        let why = if configured.trim().is_empty() {
            "the image config sets no USER, so it runs as root".to_owned()
        } else {
            format!("the image config sets USER {configured:?}, which is root")
        };
        let finding = Finding::deny(
            RULE,
            Severity::High,
            format!("{why}; add a USER with a non-zero uid"),
        );
        Ok(vec![if configured.trim().is_empty() {
            finding
        } else {
            finding.with_subject(configured)
        }])
    }
}

export_policy!(NoRootUser);
