//! DSSE envelopes (the Dead Simple Signing Envelope cosign, in-toto and
//! Sigstore wrap attestations in) and the in-toto statements they carry.
//! A signature covers the pre-authentication encoding of the payload type
//! and payload, never the JSON around it.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::{Check, Error, PublicKey};

/// The payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A DSSE envelope, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub payload_type: String,
    pub payload: Vec<u8>,
    /// Each signature with the key id the signer wrote (a hint, never trusted).
    pub signatures: Vec<(String, Vec<u8>)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEnvelope {
    payload_type: String,
    payload: String,
    signatures: Vec<RawSignature>,
}

#[derive(Deserialize)]
struct RawSignature {
    #[serde(default)]
    keyid: String,
    sig: String,
}

impl Envelope {
    /// Reads an envelope's JSON (`payloadType`, base64 `payload`, `signatures`).
    pub fn from_json(origin: &str, json: &[u8]) -> Result<Envelope, Error> {
        let raw: RawEnvelope = serde_json::from_slice(json)
            .map_err(|e| Error::unreadable(origin, format!("not a DSSE envelope: {e}")))?;
        let base64 = |what: &str, text: &str| {
            base64_any(text)
                .ok_or_else(|| Error::unreadable(origin, format!("{what} is not base64")))
        };
        let payload = base64("the payload", &raw.payload)?;
        let mut signatures = Vec::with_capacity(raw.signatures.len());
        for (n, signature) in raw.signatures.into_iter().enumerate() {
            signatures.push((
                signature.keyid,
                base64(&format!("signature {n}"), &signature.sig)?,
            ));
        }
        if signatures.is_empty() {
            return Err(Error::unreadable(
                origin,
                "the envelope carries no signature",
            ));
        }
        Ok(Envelope {
            payload_type: raw.payload_type,
            payload,
            signatures,
        })
    }

    /// The bytes a DSSE signature covers: `DSSEv1 <len> <type> <len> <payload>`.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }

    /// Verifies that one of the envelope's signatures is `key`'s.
    pub fn verify(&self, key: &PublicKey) -> Result<(), Error> {
        let signed = self.pae();
        if self
            .signatures
            .iter()
            .any(|(_, signature)| key.verifies(&signed, signature))
        {
            Ok(())
        } else {
            Err(Error::refused(
                Check::Signature,
                format!(
                    "none of the envelope's {} signature(s) is {}'s over its payload",
                    self.signatures.len(),
                    key.id()
                ),
            ))
        }
    }
}

/// DSSE's pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(format!("DSSEv1 {} ", payload_type.len()).as_bytes());
    out.extend_from_slice(payload_type.as_bytes());
    out.extend_from_slice(format!(" {} ", payload.len()).as_bytes());
    out.extend_from_slice(payload);
    out
}

/// Standard or URL-safe base64, padded or not: DSSE allows either.
fn base64_any(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    let text = text.trim();
    STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .ok()
}

/// An in-toto statement (v0.1 or v1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: String,
    #[serde(default)]
    pub subject: Vec<Subject>,
    pub predicate_type: String,
    #[serde(default)]
    pub predicate: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    #[serde(default)]
    pub name: String,
    /// Algorithm (`sha256`, `sha512`, ...) to lowercase hex.
    pub digest: BTreeMap<String, String>,
}

impl Subject {
    /// Whether this subject names `digest` (`algorithm:hex`).
    pub fn names(&self, digest: &str) -> bool {
        let Some((algorithm, hex)) = digest.split_once(':') else {
            return false;
        };
        self.digest
            .get(algorithm)
            .is_some_and(|value| value.eq_ignore_ascii_case(hex))
    }
}

/// An attestation customs checked itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedAttestation {
    /// The artifact digest a subject of the statement named.
    pub subject_digest: String,
    pub predicate_type: String,
    pub statement: Statement,
    /// The key it verified with ([`PublicKey::id`]).
    pub key_id: String,
}

/// Verifies a DSSE envelope with `key`, reads the in-toto statement it
/// carries, and checks that a subject is `artifact_digest` (`sha256:hex`).
pub fn verify_attestation(
    envelope: &Envelope,
    key: &PublicKey,
    artifact_digest: &str,
) -> Result<VerifiedAttestation, Error> {
    envelope.verify(key)?;
    let statement = signed_statement(envelope, artifact_digest)?;
    Ok(VerifiedAttestation {
        subject_digest: artifact_digest.to_owned(),
        predicate_type: statement.predicate_type.clone(),
        statement,
        key_id: key.id().to_owned(),
    })
}

/// Reads the in-toto statement of an envelope whose signature verified,
/// and checks that a subject is `artifact_digest` (`algorithm:hex`, e.g.
/// `sha256:...` or `sha512:...`).
pub(crate) fn signed_statement(
    envelope: &Envelope,
    artifact_digest: &str,
) -> Result<Statement, Error> {
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(Error::refused(
            Check::PayloadType,
            format!(
                "the envelope carries {:?}, not an in-toto statement ({IN_TOTO_PAYLOAD_TYPE})",
                envelope.payload_type
            ),
        ));
    }
    let statement: Statement = serde_json::from_slice(&envelope.payload).map_err(|e| {
        Error::unreadable(
            "the envelope's payload",
            format!("not an in-toto statement: {e}"),
        )
    })?;
    if !statement
        .subject
        .iter()
        .any(|subject| subject.names(artifact_digest))
    {
        let named: Vec<String> = statement
            .subject
            .iter()
            .flat_map(|subject| {
                subject
                    .digest
                    .iter()
                    .map(|(algorithm, hex)| format!("{algorithm}:{hex}"))
            })
            .collect();
        return Err(Error::refused(
            Check::Subject,
            if named.is_empty() {
                format!("the statement names no subject, so not {artifact_digest}")
            } else {
                format!(
                    "the statement's subjects ({}) are not {artifact_digest}",
                    named.join(", ")
                )
            },
        ));
    }
    Ok(statement)
}
