//! Sigstore bundles (protobuf-specs `Bundle`, v0.1 to v0.3) and their
//! verification offline against a trust root: message signatures logged in
//! Rekor v1 as hashedrekord 0.0.1 entries and DSSE envelopes (in-toto
//! statements) logged as dsse 0.0.1 or intoto 0.0.2 entries, signed keyless
//! (a Fulcio certificate) or with a key the caller brings.
//!
//! The signing time is the log's integrated time, vouched for by its signed
//! entry timestamp; the certificate, its authority and the log keys are
//! checked at that time, never at the wall clock. The identity is read from
//! the verified certificate only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::dsse::{self, Envelope, Statement};
use crate::protojson;
use crate::rekor::{self, LoggedSigner, RawTlogEntry, TlogEntry};
use crate::trust_root::TrustedRoot;
use crate::x509::{self, Certificate};
use crate::{Check, Error, PublicKey};

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
    pub log_index: i64,
    /// When the log integrated the entry (vouched for by its signed entry
    /// timestamp): the signing time every check used.
    pub integrated_time: DateTime<Utc>,
}

fn unsupported(reason: impl Into<String>) -> Error {
    Error::refused(Check::Unsupported, reason)
}

/// Verifies a bundle logged in Rekor v1 against `root`: that it signs
/// `artifact_digest` and was signed as `policy` requires. Message
/// signatures (hashedrekord 0.0.1 entries) sign `artifact_digest` as
/// `sha256:hex`; DSSE envelopes (dsse 0.0.1 or intoto 0.0.2 entries) carry
/// an in-toto statement one of whose subjects must be `artifact_digest`
/// (`sha256:hex` or `sha512:hex`). Bundles of other kinds (Rekor v2
/// entries, certificates with RFC 3161 timestamps) are refused as
/// unsupported.
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
    // RFC 3161 timestamps are not verified here. The Rekor v1 signed entry
    // timestamp gives a signed time on its own, and every check below uses
    // that one time; ignoring a further time source is sound only when no
    // outcome could depend on it. That holds for a key (no validity window:
    // the only time-bound check is the log key's, at the integrated time),
    // not for a certificate: a timestamp outside the certificate's validity
    // must refuse (conformance-intoto-tsa-timestamp-outside-cert-validity_fail)
    // even when the integrated time lies inside it.
    if bundle.rfc3161_timestamps > 0 && matches!(signer, BundleSigner::Certificate(..)) {
        return Err(unsupported(
            "RFC 3161 timestamps of certificate-signed bundles are not supported yet",
        ));
    }
    let [entry] = bundle.tlog_entries.as_slice() else {
        return Err(unsupported(format!(
            "a bundle with {} transparency log entries: exactly one is supported",
            bundle.tlog_entries.len()
        )));
    };
    let kind = (entry.kind.as_str(), entry.version.as_str());
    let supported = match &bundle.content {
        Content::MessageSignature { .. } => kind == ("hashedrekord", "0.0.1"),
        Content::Dsse(_) => kind == ("dsse", "0.0.1") || kind == ("intoto", "0.0.2"),
    };
    if !supported {
        return Err(unsupported(format!(
            "{} {} log entries are not supported for {} (only Rekor v1 hashedrekord 0.0.1, dsse 0.0.1 and intoto 0.0.2)",
            entry.kind,
            entry.version,
            match bundle.content {
                Content::MessageSignature { .. } => "message signatures",
                Content::Dsse(_) => "DSSE envelopes",
            }
        )));
    }
    if let Content::Dsse(envelope) = &bundle.content
        && envelope.signatures.len() != 1
    {
        return Err(unsupported(format!(
            "a DSSE envelope with {} signatures: a bundle's carries exactly one",
            envelope.signatures.len()
        )));
    }

    // The log first: it gives the signing time everything else is checked at.
    let time = rekor::verify_entry(entry, root, bundle.version != BundleVersion::V0_1)?;
    let (signer, key, logged) = match signer {
        BundleSigner::Certificate(leaf, identity) => (
            {
                verify_certificate(leaf, root, time)?;
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
            verify_message_signature(
                entry,
                digest.as_ref(),
                signature,
                artifact_digest,
                key,
                logged,
            )?;
            Signed::MessageSignature
        }
        Content::Dsse(envelope) => {
            check_digest_form(artifact_digest)?;
            envelope.verify(key)?;
            let statement = dsse::signed_statement(envelope, artifact_digest)?;
            // Last, that the log entry is of this very envelope: one whose
            // own signature is wrong is refused for that first.
            if entry.kind == "dsse" {
                rekor::check_dsse(&entry.body, envelope, logged)?;
            } else {
                rekor::check_intoto(&entry.body, envelope, logged)?;
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
        log_index: entry.log_index,
        integrated_time: time,
    })
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

fn verify_message_signature(
    entry: &TlogEntry,
    digest: Option<&(String, Vec<u8>)>,
    signature: &[u8],
    artifact_digest: &str,
    key: &PublicKey,
    logged: LoggedSigner<'_>,
) -> Result<(), Error> {
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
    // Last, that the log entry is of this very signing: a bundle whose
    // own signature is wrong is refused for that first.
    rekor::check_hashedrekord(&entry.body, false, signed_digest, signature, logged)
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
