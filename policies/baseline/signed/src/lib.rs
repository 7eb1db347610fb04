//! `signed`: the image carries a signature customs verified itself,
//! optionally from a given identity and issuer (keyless). A signature a
//! tool reported verified (`cosign verify` output) counts only with
//! `accept-reported=true`: whoever writes the input can claim one.

use customs_guest::{Finding, Image, Params, Policy, PolicyInfo, Severity, Trust, export_policy};
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
        .param(
            "accept-reported",
            "false",
            "true: also count signatures a tool reported verified that customs did not check (weaker: the input vouches for itself)",
        )
    }

    fn evaluate(image: &Image, params: &Params) -> Result<Vec<Finding>, String> {
        let identity = WildMatch::new(params.get("identity").unwrap_or("*"));
        let issuer = WildMatch::new(params.get("issuer").unwrap_or("*"));
        let Some(signatures) = image.signatures() else {
            return Ok(vec![Finding::warn(
                RULE,
                Severity::Medium,
                "no signature information is in the facts; give the image's signatures with --trusted-key or --trusted-root to check them",
            )]);
        };
        let matches = |field: &Option<String>, pattern: &WildMatch| {
            pattern.matches(field.as_deref().unwrap_or(""))
        };
        let accept_reported = params.get("accept-reported") == Some("true");
        let counts = |s: &&customs_guest::Signature| {
            s.verified && (s.trust == Trust::Verified || accept_reported)
        };
        let trusted = signatures
            .iter()
            .filter(counts)
            .any(|s| matches(&s.subject, &identity) && matches(&s.issuer, &issuer));
        if trusted {
            return Ok(vec![]);
        }
        let verified = signatures.iter().filter(counts).count();
        let reported = signatures
            .iter()
            .filter(|s| s.verified && s.trust == Trust::Reported)
            .count();
        let mut message = format!(
            "no verified signature from identity {:?} and issuer {:?}: {} signature(s) found, {verified} verified by customs",
            params.get("identity").unwrap_or("*"),
            params.get("issuer").unwrap_or("*"),
            signatures.len()
        );
        if accept_reported {
            message.push_str(" or reported verified");
        } else if reported > 0 {
            message.push_str(&format!(
                ", {reported} reported verified by a tool (not counted: check them with --trusted-key or --trusted-root)"
            ));
        }
        Ok(vec![Finding::deny(RULE, Severity::High, message)])
    }
}

export_policy!(Signed);
