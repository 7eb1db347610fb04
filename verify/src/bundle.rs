//! Sigstore bundles (protobuf-specs `Bundle`, v0.1 to v0.3) and their
//! verification offline against a trust root: keyless (Fulcio certificate)
//! message signatures logged in Rekor v1 as hashedrekord 0.0.1 entries.
//!
//! The signing time is the log's integrated time, vouched for by its signed
//! entry timestamp; the certificate, its authority and the log keys are
//! checked at that time, never at the wall clock. The identity is read from
//! the verified certificate only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::dsse::Envelope;
use crate::protojson;
use crate::rekor::{self, RawTlogEntry, TlogEntry};
use crate::trust_root::TrustedRoot;
use crate::x509::{self, Certificate};
use crate::{Check, Error};

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
    /// A key the verifier must bring, named by a hint.
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
    /// How many RFC 3161 timestamps the bundle carries.
    pub rfc3161_timestamps: usize,
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
    rfc3161_timestamps: Option<Vec<serde_json::Value>>,
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
            .map_or(0, |timestamps| timestamps.len());
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

/// A bundle customs verified itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedBundle {
    /// The certificate's SAN the policy named.
    pub identity: String,
    pub issuer: String,
    pub log_index: i64,
    /// When the log integrated the entry: the signing time.
    pub integrated_time: DateTime<Utc>,
    pub certificate_not_before: DateTime<Utc>,
    pub certificate_not_after: DateTime<Utc>,
}

fn unsupported(reason: impl Into<String>) -> Error {
    Error::refused(Check::Unsupported, reason)
}

/// Verifies a keyless message-signature bundle logged in Rekor v1 against
/// `root`: that it signs `artifact_digest` (`sha256:hex`) and was signed
/// by `policy`'s identity. Bundles of other kinds (DSSE, public keys,
/// Rekor v2 entries, RFC 3161 timestamps) are refused as unsupported.
pub fn verify_bundle(
    bundle: &Bundle,
    artifact_digest: &str,
    policy: &Identity,
    root: &TrustedRoot,
) -> Result<VerifiedBundle, Error> {
    let Content::MessageSignature { digest, signature } = &bundle.content else {
        return Err(unsupported("DSSE bundles are not supported yet"));
    };
    let Material::Certificate(leaf) = &bundle.material else {
        return Err(unsupported("public-key bundles are not supported yet"));
    };
    if bundle.rfc3161_timestamps > 0 {
        return Err(unsupported("RFC 3161 timestamps are not supported yet"));
    }
    let [entry] = bundle.tlog_entries.as_slice() else {
        return Err(unsupported(format!(
            "a bundle with {} transparency log entries: exactly one is supported",
            bundle.tlog_entries.len()
        )));
    };
    if (entry.kind.as_str(), entry.version.as_str()) != ("hashedrekord", "0.0.1") {
        return Err(unsupported(format!(
            "{} {} log entries are not supported yet (only Rekor v1 hashedrekord 0.0.1)",
            entry.kind, entry.version
        )));
    }
    let signed_digest = match digest {
        Some((algorithm, digest)) if algorithm == "SHA2_256" && digest.len() == 32 => digest,
        Some((algorithm, _)) => {
            return Err(unsupported(format!(
                "message digests of {algorithm} are not supported"
            )));
        }
        None => return Err(unsupported("a message signature without its digest")),
    };

    // The log first: it gives the signing time everything else is checked at.
    let time = rekor::verify_entry(entry, root, bundle.version != BundleVersion::V0_1)?;
    if !leaf.valid_at(time) {
        return Err(Error::refused(
            Check::Timestamp,
            format!(
                "the entry was logged at {time}, outside the certificate's validity ({} to {})",
                leaf.not_before(),
                leaf.not_after()
            ),
        ));
    }
    let issuer = x509::verify_chain(leaf, &root.certificate_authorities, time)?;
    if !root.ctlogs.is_empty() {
        crate::sct::verify_embedded(leaf, issuer, &root.ctlogs)?;
    }
    check_identity(leaf, policy)?;

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
    if !leaf.public_key().verifies_digest(&prehash, signature) {
        return Err(Error::refused(
            Check::Signature,
            format!(
                "the signature is not the certificate's key's over sha256:{}",
                hex::encode(signed_digest)
            ),
        ));
    }
    // Last, that the log entry is of this very signing: a bundle whose
    // own signature is wrong is refused for that first.
    rekor::check_hashedrekord(&entry.body, signed_digest, signature, leaf.der())?;
    Ok(VerifiedBundle {
        identity: policy.identity.clone(),
        issuer: policy.issuer.clone(),
        log_index: entry.log_index,
        integrated_time: time,
        certificate_not_before: leaf.not_before(),
        certificate_not_after: leaf.not_after(),
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
