//! Sigstore bundles (protobuf-specs `Bundle`, v0.1 to v0.3) and their
//! verification offline against a trust root: message signatures and DSSE
//! envelopes (in-toto statements), signed keyless (a Fulcio certificate) or
//! with a key the caller brings, logged in Rekor v1 (hashedrekord 0.0.1,
//! dsse 0.0.1, intoto 0.0.2) or Rekor v2 (hashedrekord and dsse 0.0.2),
//! with or without RFC 3161 timestamps.
//!
//! The signed times are the Rekor v1 integrated time, vouched for by its
//! signed entry timestamp, and the time of each RFC 3161 timestamp; the
//! certificate, its authority and the log keys are checked at every one of
//! them, never at the wall clock. The identity is read from the verified
//! certificate only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::dsse::{self, Envelope, Statement};
use crate::protojson;
use crate::rekor::{self, LoggedSigner, RawTlogEntry, TlogEntry};
use crate::timestamp::{self, Timestamp, TimestampTrust};
use crate::trust_root::TrustedRoot;
use crate::x509::{self, Certificate};
use crate::{Check, Error, PublicKey};
use sha2::Digest as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BundleVersion {
    V0_1,
    V0_2,
    V0_3,
}

impl BundleVersion {
    fn from_media_type(media_type: &str) -> Option<BundleVersion> {
        match media_type {
            "application/vnd.dev.sigstore.bundle+json;version=0.1" => Some(BundleVersion::V0_1),
            "application/vnd.dev.sigstore.bundle+json;version=0.2" => Some(BundleVersion::V0_2),
            "application/vnd.dev.sigstore.bundle.v0.3+json"
            | "application/vnd.dev.sigstore.bundle+json;version=0.3" => Some(BundleVersion::V0_3),
            _ => None,
        }
    }
}

/// What the signature is checked with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Material {
    /// A Fulcio signing certificate (chain certificates a bundle adds are
    /// not read: the trust root's are the ones trusted).
    Certificate(Box<Certificate>),
    /// A key the verifier must bring, named by a hint (never trusted, not
    /// even to pick the key: hints come in several forms).
    PublicKey { hint: String },
}

/// What is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A signature over an artifact's digest.
    MessageSignature {
        /// The digest algorithm (`SHA2_256`, ...) and the digest.
        digest: Option<(String, Vec<u8>)>,
        signature: Vec<u8>,
    },
    Dsse(Envelope),
}

/// A Sigstore bundle, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub version: BundleVersion,
    pub material: Material,
    pub tlog_entries: Vec<TlogEntry>,
    /// The RFC 3161 timestamps the bundle carries (DER TimeStampResp each).
    pub rfc3161_timestamps: Vec<Vec<u8>>,
    pub content: Content,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBundle {
    verification_material: RawMaterial,
    message_signature: Option<RawMessageSignature>,
    dsse_envelope: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMaterial {
    certificate: Option<RawCertificate>,
    x509_certificate_chain: Option<RawChain>,
    public_key: Option<RawKeyHint>,
    tlog_entries: Option<Vec<RawTlogEntry>>,
    timestamp_verification_data: Option<RawTimestamps>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCertificate {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct RawChain {
    #[serde(default)]
    certificates: Vec<RawCertificate>,
}

#[derive(Deserialize)]
struct RawKeyHint {
    #[serde(default)]
    hint: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTimestamps {
    rfc3161_timestamps: Option<Vec<RawTimestamp>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTimestamp {
    signed_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMessageSignature {
    message_digest: Option<RawDigest>,
    signature: String,
}

#[derive(Deserialize)]
struct RawDigest {
    algorithm: String,
    digest: String,
}

impl Bundle {
    /// Reads a bundle's JSON; `origin` names it in errors. Media types other
    /// than those of v0.1, v0.2 and v0.3 are unreadable.
    pub fn from_json(origin: &str, json: &[u8]) -> Result<Bundle, Error> {
        let value: serde_json::Value = serde_json::from_slice(json)
            .map_err(|e| Error::unreadable(origin, format!("not JSON: {e}")))?;
        let media_type = value
            .get("mediaType")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let version = BundleVersion::from_media_type(media_type).ok_or_else(|| {
            Error::unreadable(
                origin,
                format!("media type {media_type:?} is not a Sigstore bundle v0.1, v0.2 or v0.3"),
            )
        })?;
        let raw: RawBundle = serde_json::from_value(value)
            .map_err(|e| Error::unreadable(origin, format!("not a Sigstore bundle: {e}")))?;
        let raw_material = raw.verification_material;
        let leaf = match (
            raw_material.certificate,
            raw_material.x509_certificate_chain,
        ) {
            (Some(certificate), _) => Some(certificate),
            (None, Some(chain)) => {
                Some(chain.certificates.into_iter().next().ok_or_else(|| {
                    Error::unreadable(origin, "the x509CertificateChain holds no certificate")
                })?)
            }
            (None, None) => None,
        };
        let material = match (leaf, raw_material.public_key) {
            (Some(leaf), _) => Material::Certificate(Box::new(Certificate::from_der(
                origin,
                &protojson::bytes(origin, "the certificate", &leaf.raw_bytes)?,
            )?)),
            (None, Some(key)) => Material::PublicKey { hint: key.hint },
            (None, None) => {
                return Err(Error::unreadable(
                    origin,
                    "the verification material has no certificate or public key",
                ));
            }
        };
        let tlog_entries = raw_material
            .tlog_entries
            .unwrap_or_default()
            .into_iter()
            .map(|entry| TlogEntry::from_raw(origin, entry))
            .collect::<Result<Vec<_>, _>>()?;
        let rfc3161_timestamps = raw_material
            .timestamp_verification_data
            .and_then(|data| data.rfc3161_timestamps)
            .unwrap_or_default()
            .iter()
            .map(|timestamp| {
                protojson::bytes(origin, "an RFC 3161 timestamp", &timestamp.signed_timestamp)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let content = match (raw.message_signature, raw.dsse_envelope) {
            (Some(signature), None) => Content::MessageSignature {
                digest: signature
                    .message_digest
                    .map(|digest| {
                        Ok::<_, Error>((
                            digest.algorithm,
                            protojson::bytes(origin, "the message digest", &digest.digest)?,
                        ))
                    })
                    .transpose()?,
                signature: protojson::bytes(origin, "the message signature", &signature.signature)?,
            },
            (None, Some(envelope)) => Content::Dsse(Envelope::from_json(
                origin,
                envelope.to_string().as_bytes(),
            )?),
            _ => {
                return Err(Error::unreadable(
                    origin,
                    "the bundle must hold exactly one of messageSignature and dsseEnvelope",
                ));
            }
        };
        Ok(Bundle {
            version,
            material,
            tlog_entries,
            rfc3161_timestamps,
            content,
        })
    }
}

/// Who must have signed: the certificate's subject alternative name and
/// the OIDC issuer that vouched for it, both matched exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub identity: String,
    pub issuer: String,
}

/// What a bundle must be signed with: a Fulcio certificate for an
/// identity (keyless), or the caller's own key (a bundle whose material is
/// a public key names it only by a hint, never trusted: the key must come
/// from the caller). A bundle of the other kind is refused ([`Check::Identity`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    Identity(Identity),
    Key(PublicKey),
}

impl From<Identity> for Policy {
    fn from(identity: Identity) -> Policy {
        Policy::Identity(identity)
    }
}

impl From<PublicKey> for Policy {
    fn from(key: PublicKey) -> Policy {
        Policy::Key(key)
    }
}

/// Who signed a verified bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Signer {
    /// A Fulcio certificate for the policy's identity, valid at the signing time.
    Certificate {
        /// The certificate's SAN the policy named.
        identity: String,
        issuer: String,
        not_before: DateTime<Utc>,
        not_after: DateTime<Utc>,
    },
    /// The policy's key ([`PublicKey::id`]).
    Key { key_id: String },
}

/// What a verified bundle signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Signed {
    /// A message signature over the artifact's digest.
    MessageSignature,
    /// A DSSE envelope whose in-toto statement names the artifact as a subject.
    Attestation {
        statement_type: String,
        predicate_type: String,
        statement: Statement,
    },
}

/// A bundle customs verified itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedBundle {
    pub signer: Signer,
    /// The artifact decided, which the bundle signs (`algorithm:hex`).
    pub artifact_digest: String,
    pub signed: Signed,
    /// The transparency log entry's index (none for a bundle signed with a
    /// key and timestamped only).
    pub log_index: Option<i64>,
    /// When a Rekor v1 log integrated the entry, vouched for by its signed
    /// entry timestamp (Rekor v2 entries state no time).
    pub integrated_time: Option<DateTime<Utc>>,
    /// The RFC 3161 timestamps, each verified against the trust root's
    /// timestamp authorities.
    pub timestamps: Vec<Timestamp>,
}

impl VerifiedBundle {
    /// Every signed time the checks used: the integrated time and the
    /// timestamps' times. The certificate was valid at each of them.
    pub fn signed_times(&self) -> Vec<DateTime<Utc>> {
        self.integrated_time
            .iter()
            .copied()
            .chain(self.timestamps.iter().map(|timestamp| timestamp.time))
            .collect()
    }
}

fn unsupported(reason: impl Into<String>) -> Error {
    Error::refused(Check::Unsupported, reason)
}

/// Verifies a bundle against `root`: that it signs `artifact_digest` and
/// was signed as `policy` requires, at a time the log or a timestamp
/// authority of `root` vouches for.
///
/// Message signatures sign `artifact_digest` as `sha256:hex`; DSSE
/// envelopes carry an in-toto statement one of whose subjects must be
/// `artifact_digest` (`sha256:hex` or `sha512:hex`). Log entries are Rekor
/// v1 (hashedrekord 0.0.1, dsse 0.0.1, intoto 0.0.2, whose signed entry
/// timestamp gives the integrated time) or Rekor v2 (hashedrekord and dsse
/// 0.0.2, which state no time). Every RFC 3161 timestamp is verified, and
/// the certificate must be valid at every signed time; there must be at
/// least one. A bundle signed with a key may carry timestamps and no log
/// entry; one signed with a certificate needs its log entry.
pub fn verify_bundle(
    bundle: &Bundle,
    artifact_digest: &str,
    policy: &Policy,
    root: &TrustedRoot,
) -> Result<VerifiedBundle, Error> {
    let signer = match (&bundle.material, policy) {
        (Material::Certificate(leaf), Policy::Identity(identity)) => {
            BundleSigner::Certificate(leaf, identity)
        }
        (Material::PublicKey { .. }, Policy::Key(key)) => BundleSigner::Key(key),
        (Material::PublicKey { hint }, Policy::Identity(identity)) => {
            return Err(Error::refused(
                Check::Identity,
                format!(
                    "the bundle is signed with a key (hint {hint:?}) and no key was given, only the identity {}",
                    identity.identity
                ),
            ));
        }
        (Material::Certificate(leaf), Policy::Key(key)) => {
            return Err(Error::refused(
                Check::Identity,
                format!(
                    "the bundle is signed with a certificate (for {}), not with the key {}",
                    leaf.identities().join(", "),
                    key.id()
                ),
            ));
        }
    };
    let entry = match (bundle.tlog_entries.as_slice(), &signer) {
        ([entry], _) => Some(entry),
        ([], BundleSigner::Key(_)) if !bundle.rfc3161_timestamps.is_empty() => None,
        (entries, _) => {
            return Err(unsupported(format!(
                "a bundle with {} transparency log entries: exactly one is supported (none only for a key-signed bundle with a timestamp)",
                entries.len()
            )));
        }
    };
    if let Some(entry) = entry {
        check_entry_kind(entry, &bundle.content)?;
    }
    let signature = match &bundle.content {
        Content::MessageSignature { signature, .. } => signature,
        Content::Dsse(envelope) => match envelope.signatures.as_slice() {
            [(_, signature)] => signature,
            signatures => {
                return Err(unsupported(format!(
                    "a DSSE envelope with {} signatures: a bundle's carries exactly one",
                    signatures.len()
                )));
            }
        },
    };

    // The signed times first: everything else is checked at them.
    let timestamps = bundle
        .rfc3161_timestamps
        .iter()
        .enumerate()
        .map(|(n, token)| {
            timestamp::verify_timestamp(
                &format!("RFC 3161 timestamp {}", n + 1),
                token,
                signature,
                TimestampTrust::Authorities(&root.timestamp_authorities),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Sigstore's clients check validity at genTime and leave its accuracy
    // aside (a Fulcio certificate begins the second a TSA stamps); so here.
    let mut times: Vec<DateTime<Utc>> = timestamps.iter().map(|stamp| stamp.time).collect();
    let integrated_time = match entry {
        Some(entry) if rekor::is_v2(entry) => {
            if times.is_empty() {
                return Err(Error::refused(
                    Check::Timestamp,
                    "a Rekor v2 entry states no time and the bundle has no RFC 3161 timestamp: no signed time",
                ));
            }
            rekor::verify_entry_v2(entry, root, &times)?;
            None
        }
        Some(entry) => {
            let time = rekor::verify_entry(entry, root, bundle.version != BundleVersion::V0_1)?;
            times.push(time);
            Some(time)
        }
        None => None,
    };

    let (signer, key, logged) = match signer {
        BundleSigner::Certificate(leaf, identity) => (
            {
                for time in &times {
                    verify_certificate(leaf, root, *time)?;
                }
                certificate_signer(leaf, identity)?
            },
            leaf.public_key(),
            LoggedSigner::Certificate(leaf.der()),
        ),
        BundleSigner::Key(key) => (
            Signer::Key {
                key_id: key.id().to_owned(),
            },
            key,
            LoggedSigner::Key(key),
        ),
    };
    let signed = match &bundle.content {
        Content::MessageSignature { digest, signature } => {
            let signed_digest =
                verify_message_signature(digest.as_ref(), signature, artifact_digest, key, logged)?;
            // Last, that the log entry is of this very signing: a bundle
            // whose own signature is wrong is refused for that first.
            if let Some(entry) = entry {
                if rekor::is_v2(entry) {
                    rekor::check_hashedrekord_v2(&entry.body, signed_digest, signature, logged)?;
                } else {
                    rekor::check_hashedrekord(
                        &entry.body,
                        false,
                        signed_digest,
                        signature,
                        logged,
                    )?;
                }
            }
            Signed::MessageSignature
        }
        Content::Dsse(envelope) => {
            check_digest_form(artifact_digest)?;
            envelope.verify(key)?;
            let statement = dsse::signed_statement(envelope, artifact_digest)?;
            if let Some(entry) = entry {
                match (entry.kind.as_str(), entry.version.as_str()) {
                    ("hashedrekord", _) => {
                        let pae = sha2::Sha256::digest(envelope.pae());
                        rekor::check_hashedrekord_v2(&entry.body, &pae, signature, logged)?;
                    }
                    ("dsse", "0.0.2") => rekor::check_dsse_v2(&entry.body, envelope, logged)?,
                    ("dsse", _) => rekor::check_dsse(&entry.body, envelope, logged)?,
                    _ => rekor::check_intoto(&entry.body, envelope, logged)?,
                }
            }
            Signed::Attestation {
                statement_type: statement.statement_type.clone(),
                predicate_type: statement.predicate_type.clone(),
                statement,
            }
        }
    };
    Ok(VerifiedBundle {
        signer,
        artifact_digest: artifact_digest.to_owned(),
        signed,
        log_index: entry.map(|entry| entry.log_index),
        integrated_time,
        timestamps,
    })
}

/// Refuses a log entry of a kind this content cannot be logged as (or one
/// not read here).
fn check_entry_kind(entry: &TlogEntry, content: &Content) -> Result<(), Error> {
    let kind = (entry.kind.as_str(), entry.version.as_str());
    let supported = match content {
        Content::MessageSignature { .. } => {
            kind == ("hashedrekord", "0.0.1") || kind == ("hashedrekord", "0.0.2")
        }
        Content::Dsse(_) => matches!(
            kind,
            ("dsse", "0.0.1") | ("intoto", "0.0.2") | ("dsse", "0.0.2") | ("hashedrekord", "0.0.2")
        ),
    };
    if supported {
        return Ok(());
    }
    Err(unsupported(format!(
        "{} {} log entries are not supported for {} (Rekor v1 hashedrekord 0.0.1, dsse 0.0.1 and intoto 0.0.2; Rekor v2 hashedrekord and dsse 0.0.2)",
        entry.kind,
        entry.version,
        match content {
            Content::MessageSignature { .. } => "message signatures",
            Content::Dsse(_) => "DSSE envelopes",
        }
    )))
}

/// The signer a bundle and its policy agree on.
enum BundleSigner<'a> {
    Certificate(&'a Certificate, &'a Identity),
    Key(&'a PublicKey),
}

/// Refuses an artifact digest a statement subject could not name: the
/// algorithm (`sha256`, `sha512`) and as many hex digits as it has.
fn check_digest_form(artifact_digest: &str) -> Result<(), Error> {
    let well_formed = match artifact_digest.split_once(':') {
        Some(("sha256", hex)) => hex.len() == 64 && hex::decode(hex).is_ok(),
        Some(("sha512", hex)) => hex.len() == 128 && hex::decode(hex).is_ok(),
        _ => false,
    };
    if well_formed {
        Ok(())
    } else {
        Err(Error::unreadable(
            "artifact digest",
            format!("{artifact_digest:?} is not sha256:<hex> or sha512:<hex>"),
        ))
    }
}

/// Verifies a message signature over `artifact_digest` and returns the
/// signed digest.
fn verify_message_signature<'a>(
    digest: Option<&'a (String, Vec<u8>)>,
    signature: &[u8],
    artifact_digest: &str,
    key: &PublicKey,
    logged: LoggedSigner<'_>,
) -> Result<&'a [u8], Error> {
    let signed_digest = match digest {
        Some((algorithm, digest)) if algorithm == "SHA2_256" && digest.len() == 32 => digest,
        Some((algorithm, _)) => {
            return Err(unsupported(format!(
                "message digests of {algorithm} are not supported"
            )));
        }
        None => return Err(unsupported("a message signature without its digest")),
    };
    let expected = artifact_digest
        .strip_prefix("sha256:")
        .and_then(|hex| hex::decode(hex).ok())
        .ok_or_else(|| {
            Error::unreadable(
                "artifact digest",
                format!("{artifact_digest:?} is not sha256:<hex>"),
            )
        })?;
    if expected != *signed_digest {
        return Err(Error::refused(
            Check::ArtifactDigest,
            format!(
                "the bundle signs sha256:{}, not the artifact decided ({artifact_digest})",
                hex::encode(signed_digest)
            ),
        ));
    }
    let prehash =
        aws_lc_rs::digest::Digest::import_less_safe(signed_digest, &aws_lc_rs::digest::SHA256)
            .map_err(|_| unsupported("a SHA-256 digest that is not 32 bytes"))?;
    if !key.verifies_digest(&prehash, signature) {
        return Err(Error::refused(
            Check::Signature,
            format!(
                "the signature is not {}'s over sha256:{}",
                match logged {
                    LoggedSigner::Certificate(_) => "the certificate's key".to_owned(),
                    LoggedSigner::Key(key) => key.id().to_owned(),
                },
                hex::encode(signed_digest)
            ),
        ));
    }
    Ok(signed_digest)
}

/// Verifies a Fulcio signing certificate at the signing `time`: within its
/// validity, issued by a certificate authority of `root` trusted then, and
/// seen by a CT log of `root` (when it has any). The identity is checked
/// apart ([`certificate_signer`]).
pub(crate) fn verify_certificate(
    leaf: &Certificate,
    root: &TrustedRoot,
    time: DateTime<Utc>,
) -> Result<(), Error> {
    if !leaf.valid_at(time) {
        return Err(Error::refused(
            Check::Timestamp,
            format!(
                "signed at {time} (a signed time of the log or a timestamp), outside the certificate's validity ({} to {})",
                leaf.not_before(),
                leaf.not_after()
            ),
        ));
    }
    let issuer = x509::verify_chain(leaf, &root.certificate_authorities, time)?;
    if !root.ctlogs.is_empty() {
        crate::sct::verify_embedded(leaf, issuer, &root.ctlogs)?;
    }
    Ok(())
}

/// The signer of a verified certificate, when it is for `policy`'s identity.
pub(crate) fn certificate_signer(leaf: &Certificate, policy: &Identity) -> Result<Signer, Error> {
    check_identity(leaf, policy)?;
    Ok(Signer::Certificate {
        identity: policy.identity.clone(),
        issuer: policy.issuer.clone(),
        not_before: leaf.not_before(),
        not_after: leaf.not_after(),
    })
}

fn check_identity(leaf: &Certificate, policy: &Identity) -> Result<(), Error> {
    let identities = leaf.identities();
    if !identities.contains(&policy.identity) {
        return Err(Error::refused(
            Check::Identity,
            format!(
                "the certificate is for {}, not {}",
                if identities.is_empty() {
                    "no identity".to_owned()
                } else {
                    identities.join(", ")
                },
                policy.identity
            ),
        ));
    }
    match leaf.oidc_issuer() {
        Some(issuer) if issuer == policy.issuer => Ok(()),
        Some(issuer) => Err(Error::refused(
            Check::Identity,
            format!(
                "the certificate's OIDC issuer is {issuer}, not {}",
                policy.issuer
            ),
        )),
        None => Err(Error::refused(
            Check::Identity,
            format!(
                "the certificate names no OIDC issuer, so not {}",
                policy.issuer
            ),
        )),
    }
}
