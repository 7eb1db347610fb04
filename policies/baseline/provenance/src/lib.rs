//! `provenance`: the image has a build provenance attestation (SLSA) that
//! customs verified itself, optionally from a given builder. One a tool
//! reported verified counts only with `accept-reported=true`.

use customs_guest::{Finding, Image, Params, Policy, PolicyInfo, Severity, Trust, export_policy};
use wildmatch::WildMatch;

const RULE: &str = "provenance";

struct Provenance;

impl Policy for Provenance {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            RULE,
            "0.1.0",
            "The image has verified build provenance from a trusted builder.",
        )
        .rule(RULE, "a verified provenance attestation matches builder-id")
        .param(
            "predicate-types",
            "https://slsa.dev/provenance/v0.2,https://slsa.dev/provenance/v1",
            "attestation predicate types that count as provenance",
        )
        .param("builder-id", "*", "glob the builder id must match")
        .param(
            "accept-reported",
            "false",
            "true: also count attestations a tool reported verified that customs did not check (weaker: the input vouches for itself)",
        )
    }

    fn evaluate(image: &Image, params: &Params) -> Result<Vec<Finding>, String> {
        let predicate_types = params.list("predicate-types");
        let builder = WildMatch::new(params.get("builder-id").unwrap_or("*"));
        let Some(attestations) = image.attestations() else {
            return Ok(vec![Finding::warn(
                RULE,
                Severity::Medium,
                "no attestation information is in the facts; give the image's attestations with --trusted-key or --trusted-root to check provenance",
            )]);
        };
        let provenance: Vec<_> = attestations
            .iter()
            .filter(|a| predicate_types.contains(&a.predicate_type.as_str()))
            .collect();
        let accept_reported = params.get("accept-reported") == Some("true");
        let counts = |a: &&&customs_guest::Attestation| {
            a.verified && (a.trust == Trust::Verified || accept_reported)
        };
        if provenance
            .iter()
            .filter(counts)
            .any(|a| builder.matches(a.builder_id.as_deref().unwrap_or("")))
        {
            return Ok(vec![]);
        }
        Ok(vec![Finding::deny(
            RULE,
            Severity::Medium,
            format!(
                "no verified provenance attestation from builder {:?}: {} provenance attestation(s) found, {} verified by customs{}",
                params.get("builder-id").unwrap_or("*"),
                provenance.len(),
                provenance.iter().filter(counts).count(),
                if accept_reported {
                    " or reported verified"
                } else {
                    ""
                }
            ),
        )])
    }
}

export_policy!(Provenance);
