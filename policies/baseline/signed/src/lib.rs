//! `signed`: the image carries a verified signature, optionally from a given
//! identity and issuer (keyless) or key.

use customs_guest::{Finding, Image, Params, Policy, PolicyInfo, Severity, export_policy};
use wildmatch::WildMatch;

const RULE: &str = "signed";

struct Signed;

impl Policy for Signed {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            RULE,
            "0.1.0",
            "The image has a verified signature from a trusted signer.",
        )
        .rule(RULE, "a verified signature matches identity and issuer")
        .param(
            "identity",
            "*",
            "glob the signer identity (certificate subject) must match",
        )
        .param("issuer", "*", "glob the OIDC issuer must match")
    }

    fn evaluate(image: &Image, params: &Params) -> Result<Vec<Finding>, String> {
        let identity = WildMatch::new(params.get("identity").unwrap_or("*"));
        let issuer = WildMatch::new(params.get("issuer").unwrap_or("*"));
        let Some(signatures) = image.signatures() else {
            return Ok(vec![Finding::warn(
                RULE,
                Severity::Medium,
                "no signature information is in the facts; add `cosign verify` output to check signatures",
            )]);
        };
        let matches = |field: &Option<String>, pattern: &WildMatch| {
            pattern.matches(field.as_deref().unwrap_or(""))
        };
        let trusted = signatures
            .iter()
            .any(|s| s.verified && matches(&s.subject, &identity) && matches(&s.issuer, &issuer));
        if trusted {
            return Ok(vec![]);
        }
        let verified = signatures.iter().filter(|s| s.verified).count();
        Ok(vec![Finding::deny(
            RULE,
            Severity::High,
            format!(
                "no verified signature from identity {:?} and issuer {:?}: {} signature(s) found, {verified} verified",
                params.get("identity").unwrap_or("*"),
                params.get("issuer").unwrap_or("*"),
                signatures.len()
            ),
        )])
    }
}

export_policy!(Signed);
