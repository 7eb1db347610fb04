//! The signatures and attestations among an image's tool outputs, checked
//! by customs itself and recorded in the image's facts: what verifies is a
//! signature or attestation with `trust: verified`; what does not is a
//! warning in the facts' sources (the input's own claim stays as its
//! importer recorded it, `reported` and unverified).
//!
//! One path for every caller: `customs eval`/`facts` (trust flags), the
//! server's facts store and decision API (its `trust` settings), and
//! embedders. Inputs are checked against the image digest the facts name:
//! a signature of another image never counts.

use chrono::{DateTime, Utc};
use customs_facts::import::{Format, Origin, attestation_of};
use customs_facts::{Facts, Signature, SignatureKind, Source, Trust};

use crate::dsse::{Envelope, verify_attestation};
use crate::{
    Bundle, Error, Identity, Policy, PublicKey, Signed, Signer, TrustPolicy, TrustStores,
    TrustedRoot, cosign, notation, verify_bundle,
};

/// What the facts name as the verifier of what customs checked.
pub const VERIFIER: &str = "customs";

/// What signatures are checked against.
#[derive(Debug, Clone, Default)]
pub struct TrustMaterial {
    /// Keys whose signatures count: cosign key signatures, DSSE
    /// attestations, key-signed Sigstore bundles.
    pub keys: Vec<PublicKey>,
    /// The Sigstore trust root keyless signatures and bundles chain to.
    pub trusted_root: Option<TrustedRoot>,
    /// The signer a keyless certificate must name (with `trusted_root`).
    pub identity: Option<Identity>,
    /// Notation's trust policy and stores.
    pub notation: Option<NotationTrust>,
}

/// Notation's trust material.
#[derive(Debug, Clone)]
pub struct NotationTrust {
    pub policy: TrustPolicy,
    pub stores: TrustStores,
    /// The repository (`REGISTRY/REPOSITORY`) the policy's scopes are
    /// matched against; without one only a statement for `*` applies.
    pub scope: Option<String>,
}

/// Signatures given beside the inputs rather than as inputs.
#[derive(Debug, Clone, Default)]
pub struct Detached {
    /// cosign signatures of a simple-signing payload among the inputs.
    pub cosign_signatures: Vec<cosign::ManifestSignature>,
    /// Notation envelopes of the image: where each came from, its bytes.
    pub notation_envelopes: Vec<(String, Vec<u8>)>,
}

/// An input that may be signed: where it came from, its format, its bytes.
pub type SignedInput = (Origin, Format, Vec<u8>);

/// The input formats customs checks itself.
pub fn is_signed_input(format: Format) -> bool {
    matches!(
        format,
        Format::SimpleSigning | Format::DsseEnvelope | Format::SigstoreBundle
    )
}

impl TrustMaterial {
    /// Whether there is nothing to check signatures against.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.trusted_root.is_none() && self.notation.is_none()
    }

    /// Checks the signed inputs (and detached signatures) for the image
    /// digest `facts` names, adds what verified to `facts`, and records
    /// what did not in a `customs`/`verification` source. `now` is the time
    /// a certificate without a signed time is checked at (Notation's).
    ///
    /// An envelope given beside the inputs that cannot be read at all is an
    /// error; everything else that does not verify is a warning.
    pub fn check(
        &self,
        inputs: &[SignedInput],
        detached: &Detached,
        facts: &mut Facts,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.check_image(inputs, detached, facts, now, None)
    }

    /// [`TrustMaterial::check`] for an image customs read itself from a
    /// multi-platform index: `read_index` is that index's digest, which it
    /// read and found the image listed in, so a signature of the index also
    /// counts for the image. Never pass an index digest an input claims.
    pub fn check_image(
        &self,
        inputs: &[SignedInput],
        detached: &Detached,
        facts: &mut Facts,
        now: DateTime<Utc>,
        read_index: Option<&str>,
    ) -> Result<(), Error> {
        let mut warnings = Vec::new();
        let Some(image_digest) = facts.image.digest.clone() else {
            warnings.push(
                "no signature was checked: the inputs name no image digest to check them for"
                    .to_owned(),
            );
            record(facts, warnings);
            return Ok(());
        };
        if inputs.is_empty() && detached.notation_envelopes.is_empty() {
            warnings.push(format!(
                "no signature, attestation or bundle of {image_digest} is among the inputs to check"
            ));
        }
        let mut digests = vec![image_digest.as_str()];
        digests.extend(read_index);
        let mut policies: Vec<Policy> = self.keys.iter().cloned().map(Policy::Key).collect();
        policies.extend(self.identity.clone().map(Policy::Identity));
        for (origin, format, bytes) in inputs {
            let outcome = match format {
                Format::SimpleSigning => {
                    let keyless = self.trusted_root.as_ref().zip(self.identity.as_ref());
                    self.check_payload(bytes, &detached.cosign_signatures, keyless, &digests, facts)
                }
                Format::DsseEnvelope => self.check_envelope(origin, bytes, &digests, facts),
                Format::SigstoreBundle => match &self.trusted_root {
                    Some(root) => check_bundle(origin, bytes, &policies, root, &digests, facts),
                    None => Err(
                        "not verified: a Sigstore bundle is checked against a trust root, and none was given"
                            .to_owned(),
                    ),
                },
                _ => Ok(()),
            };
            if let Err(reason) = outcome {
                warnings.push(format!("{origin}: {reason}"));
            }
        }
        if let Some(trust) = &self.notation {
            check_notation(trust, detached, &digests, facts, now, &mut warnings)?;
        } else if !detached.notation_envelopes.is_empty() {
            warnings.push(
                "not verified: Notation envelopes are checked against a trust policy and trust stores, and none were given"
                    .to_owned(),
            );
        }
        record(facts, warnings);
        Ok(())
    }

    fn check_payload(
        &self,
        payload: &[u8],
        signatures: &[cosign::ManifestSignature],
        keyless: Option<(&TrustedRoot, &Identity)>,
        digests: &[&str],
        facts: &mut Facts,
    ) -> Result<(), String> {
        if signatures.is_empty() {
            return Err("not verified: no cosign signature was given for the payload".to_owned());
        }
        let mut refusal = "not verified: no trusted key, or keyless signature with a trust root and identity, to check the payload with".to_owned();
        for found in signatures {
            for key in &self.keys {
                for digest in digests {
                    match cosign::verify_simple_signing(
                        payload,
                        &found.signature,
                        key,
                        Some(digest),
                    ) {
                        Ok(verified) => {
                            push_signature(facts, Some(verified.key_id), None, None, None);
                            return Ok(());
                        }
                        Err(error) => refusal = error.to_string(),
                    }
                }
            }
            if let (Some((root, identity)), Some(certificate), Some(rekor_bundle)) =
                (keyless, &found.certificate, &found.rekor_bundle)
            {
                for digest in digests {
                    match cosign::verify_keyless_simple_signing(
                        payload,
                        &found.signature,
                        certificate.as_bytes(),
                        rekor_bundle.as_bytes(),
                        digest,
                        identity,
                        root,
                    ) {
                        Ok(verified) => {
                            let index = u64::try_from(verified.log_index).ok();
                            push_signature(
                                facts,
                                None,
                                Some(identity.identity.clone()),
                                Some(identity.issuer.clone()),
                                index,
                            );
                            return Ok(());
                        }
                        Err(error) => refusal = error.to_string(),
                    }
                }
            }
        }
        Err(refusal)
    }

    fn check_envelope(
        &self,
        origin: &Origin,
        bytes: &[u8],
        digests: &[&str],
        facts: &mut Facts,
    ) -> Result<(), String> {
        let envelope =
            Envelope::from_json(&origin.to_string(), bytes).map_err(|e| e.to_string())?;
        let mut refusal = "not verified: no trusted key to check the envelope with".to_owned();
        for key in &self.keys {
            for digest in digests {
                match verify_attestation(&envelope, key, digest) {
                    Ok(verified) => {
                        push_attestation(
                            facts,
                            &verified.predicate_type,
                            &verified.statement.predicate,
                        );
                        return Ok(());
                    }
                    Err(error) => refusal = error.to_string(),
                }
            }
        }
        Err(refusal)
    }
}

fn check_bundle(
    origin: &Origin,
    bytes: &[u8],
    policies: &[Policy],
    root: &TrustedRoot,
    digests: &[&str],
    facts: &mut Facts,
) -> Result<(), String> {
    let bundle = Bundle::from_json(&origin.to_string(), bytes).map_err(|e| e.to_string())?;
    let mut refusal =
        "not verified: no trusted key or certificate identity to check the bundle with".to_owned();
    for (policy, digest) in policies
        .iter()
        .flat_map(|p| digests.iter().map(move |d| (p, *d)))
    {
        match verify_bundle(&bundle, digest, policy, root) {
            Ok(verified) => {
                match &verified.signed {
                    Signed::MessageSignature => {
                        let (key_id, subject, issuer) = match &verified.signer {
                            Signer::Certificate {
                                identity, issuer, ..
                            } => (None, Some(identity.clone()), Some(issuer.clone())),
                            Signer::Key { key_id } => (Some(key_id.clone()), None, None),
                        };
                        let index = verified
                            .log_index
                            .and_then(|index| u64::try_from(index).ok());
                        push_signature(facts, key_id, subject, issuer, index);
                    }
                    Signed::Attestation {
                        predicate_type,
                        statement,
                        ..
                    } => push_attestation(facts, predicate_type, &statement.predicate),
                }
                return Ok(());
            }
            Err(error @ Error::Refused { .. }) => refusal = error.to_string(),
            Err(unreadable) => return Err(unreadable.to_string()),
        }
    }
    Err(refusal)
}

/// Checks each Notation envelope against the trust policy and stores.
fn check_notation(
    trust: &NotationTrust,
    detached: &Detached,
    digests: &[&str],
    facts: &mut Facts,
    now: DateTime<Utc>,
    warnings: &mut Vec<String>,
) -> Result<(), Error> {
    // Never the facts' reference: it comes from the inputs, which must not
    // choose the statement they are judged by. Without a scope, only a
    // statement for "*" applies.
    let scope = trust.scope.clone().unwrap_or_default();
    for (origin, envelope) in &detached.notation_envelopes {
        // The first digest the envelope verifies for; else the image's refusal.
        let mut outcome = None;
        for digest in digests {
            let this = notation::verify_envelope(
                notation::media_type_of(envelope),
                envelope,
                digest,
                &trust.policy,
                &trust.stores,
                &scope,
                now,
            );
            let done = this.is_ok();
            if done || outcome.is_none() {
                outcome = Some(this);
            }
            if done {
                break;
            }
        }
        let Some(outcome) = outcome else { continue };
        let signature = match outcome {
            Ok(verified) => match verified.shortfall() {
                None => notation_signature(Some(verified.leaf_subject)),
                Some(shortfall) => {
                    warnings.push(format!("{origin}: not verified: {shortfall}"));
                    notation_signature(None)
                }
            },
            Err(refused @ Error::Refused { .. }) => {
                warnings.push(format!("{origin}: {refused}"));
                notation_signature(None)
            }
            Err(unreadable) => return Err(unreadable),
        };
        facts
            .signatures
            .get_or_insert_with(Vec::new)
            .push(signature);
    }
    Ok(())
}

/// A Notation signature customs verified (signed by `subject`) or, with
/// none, one it was given and could not verify: recorded as an importer
/// records a signature it did not check, so the image counts as signed
/// badly rather than not signed.
fn notation_signature(verified_subject: Option<String>) -> Signature {
    let verified = verified_subject.is_some();
    Signature {
        kind: SignatureKind::Notation,
        verified,
        trust: if verified {
            Trust::Verified
        } else {
            Trust::Reported
        },
        verified_by: verified.then(|| VERIFIER.to_owned()),
        key_id: None,
        issuer: None,
        subject: verified_subject,
        rekor_log_index: None,
    }
}

fn push_signature(
    facts: &mut Facts,
    key_id: Option<String>,
    subject: Option<String>,
    issuer: Option<String>,
    rekor_log_index: Option<u64>,
) {
    facts
        .signatures
        .get_or_insert_with(Vec::new)
        .push(Signature {
            kind: SignatureKind::Cosign,
            verified: true,
            trust: Trust::Verified,
            verified_by: Some(VERIFIER.to_owned()),
            key_id,
            issuer,
            subject,
            rekor_log_index,
        });
}

fn push_attestation(facts: &mut Facts, predicate_type: &str, predicate: &serde_json::Value) {
    facts
        .attestations
        .get_or_insert_with(Vec::new)
        .push(attestation_of(
            predicate_type,
            predicate,
            true,
            Trust::Verified,
        ));
}

/// Warnings go into the facts' sources, as an importer's do.
fn record(facts: &mut Facts, warnings: Vec<String>) {
    facts.sources.push(Source {
        tool: VERIFIER.to_owned(),
        tool_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        format: "verification".to_owned(),
        scanned_at: None,
        file: None,
        warnings,
    });
}
