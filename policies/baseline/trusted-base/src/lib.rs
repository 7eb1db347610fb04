//! `trusted-base`: the image is built on a base image from an allowed source.
//!
//! The base reference comes from the image's `org.opencontainers.image.base.name`
//! annotation or label (what BuildKit and most CI builders record).

use customs_guest::{Finding, Image, Params, Policy, PolicyInfo, Severity, export_policy};
use wildmatch::WildMatch;

const RULE: &str = "trusted-base";

struct TrustedBase;

impl Policy for TrustedBase {
    fn info() -> PolicyInfo {
        PolicyInfo::new(RULE, "0.1.0", "The image is built on a base image from an allowed source.")
            .rule(RULE, "the base image reference matches allowed-bases")
            .param(
                "allowed-bases",
                "docker.io/library/*,gcr.io/distroless/*,cgr.dev/chainguard/*,registry.access.redhat.com/*,mcr.microsoft.com/*,public.ecr.aws/docker/library/*",
                "comma-separated globs of allowed base image references (short Docker Hub names are expanded first)",
            )
    }

    fn evaluate(image: &Image, params: &Params) -> Result<Vec<Finding>, String> {
        let allowed: Vec<WildMatch> = params
            .list("allowed-bases")
            .into_iter()
            .map(WildMatch::new)
            .collect();
        let base = image.base();
        let reference = base
            .as_ref()
            .and_then(|b| b.reference.clone())
            .or_else(|| image.annotation("org.opencontainers.image.base.name"))
            .or_else(|| image.label("org.opencontainers.image.base.name"));
        let Some(reference) = reference else {
            let os = base
                .and_then(|b| b.os)
                .map(|os| format!(" (its OS is {} {})", os.family, os.version))
                .unwrap_or_default();
            return Ok(vec![Finding::warn(
                RULE,
                Severity::Low,
                format!(
                    "the base image reference is unknown{os}; record it as the org.opencontainers.image.base.name annotation"
                ),
            )]);
        };
        let full = expand_docker_hub(&reference);
        if allowed.iter().any(|pattern| pattern.matches(&full)) {
            return Ok(vec![]);
        }
        Ok(vec![
            Finding::deny(
                RULE,
                Severity::High,
                format!("base image {full} is not in allowed-bases"),
            )
            .with_subject(full),
        ])
    }
}

/// `alpine:3.20` → `docker.io/library/alpine:3.20`, `org/app` → `docker.io/org/app`.
fn expand_docker_hub(reference: &str) -> String {
    let first = reference.split('/').next().unwrap_or("");
    let has_registry = reference.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_registry {
        reference.to_owned()
    } else if reference.contains('/') {
        format!("docker.io/{reference}")
    } else {
        format!("docker.io/library/{reference}")
    }
}

export_policy!(TrustedBase);
