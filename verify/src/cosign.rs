//! cosign's key-based image signatures: a simple-signing payload (the JSON
//! naming the image's manifest digest) and the base64 ASN.1 signature over
//! its exact bytes, as `cosign sign --key` stores them beside the image (the
//! payload as a layer of the `sha256-<digest>.sig` manifest, the signature
//! in the layer's `dev.cosignproject.cosign/signature` annotation).
//!
//! Only `critical` is signed-for content that identifies the image; the
//! `optional` annotations are whatever the signer chose to write (cosign's
//! `-a Subject=...` included), so nothing here reads an identity from them.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::{Check, Error, PublicKey};

/// The simple-signing `type` cosign writes.
pub const SIMPLE_SIGNING_TYPE: &str = "cosign container image signature";
/// The annotation of a cosign signature manifest's layer that holds the signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// A signature customs checked itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedSignature {
    /// The image manifest digest the payload signs.
    pub image_digest: String,
    /// The repository the signer named (`critical.identity.docker-reference`).
    pub docker_reference: Option<String>,
    /// The key it verified with ([`PublicKey::id`]).
    pub key_id: String,
}

#[derive(Deserialize)]
struct Payload {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    identity: Option<Identity>,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: Option<String>,
}

#[derive(Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// Verifies a cosign signature (base64, surrounding whitespace ignored)
/// over a simple-signing `payload` with `key`, and that the payload signs
/// `image_digest` when one is given (leave it out only to inspect).
pub fn verify_simple_signing(
    payload: &[u8],
    signature_base64: &str,
    key: &PublicKey,
    image_digest: Option<&str>,
) -> Result<VerifiedSignature, Error> {
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature_base64.trim())
        .map_err(|e| Error::unreadable("signature", format!("not base64: {e}")))?;
    // The signature first: nothing of an unsigned payload is worth reading.
    if !key.verifies(payload, &signature) {
        return Err(Error::refused(
            Check::Signature,
            format!(
                "the signature is not {}'s over the payload ({} bytes, {})",
                key.id(),
                payload.len(),
                crate::sha256_digest(payload)
            ),
        ));
    }
    let read: Payload = serde_json::from_slice(payload).map_err(|e| {
        Error::unreadable(
            "payload",
            format!("not a cosign simple-signing payload: {e}"),
        )
    })?;
    if read.critical.kind != SIMPLE_SIGNING_TYPE {
        return Err(Error::refused(
            Check::PayloadType,
            format!(
                "the payload's critical.type is {:?}, not {SIMPLE_SIGNING_TYPE:?}",
                read.critical.kind
            ),
        ));
    }
    let signed = read.critical.image.docker_manifest_digest;
    if let Some(expected) = image_digest
        && signed != expected
    {
        return Err(Error::refused(
            Check::ImageDigest,
            format!("the payload signs {signed}, not the image decided ({expected})"),
        ));
    }
    Ok(VerifiedSignature {
        image_digest: signed,
        docker_reference: read.critical.identity.and_then(|i| i.docker_reference),
        key_id: key.id().to_owned(),
    })
}

/// The annotation cosign writes the Fulcio certificate (PEM) of a keyless signature in.
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// The annotation cosign writes the Rekor entry of a signature in.
pub const REKOR_BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// One signature of a cosign signature manifest, with what cosign stored
/// beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestSignature {
    /// The digest of the layer: the simple-signing payload it signs.
    pub layer_digest: String,
    /// The base64 signature.
    pub signature: String,
    /// A keyless signature's certificate (PEM).
    pub certificate: Option<String>,
    /// The Rekor entry cosign logged the signature in (JSON).
    pub rekor_bundle: Option<String>,
}

/// The signatures of a cosign signature manifest (the OCI image manifest
/// cosign stores under the tag `sha256-<digest>.sig`): one per layer with a
/// signature annotation. Layers without one are left out.
pub fn manifest_signatures(origin: &str, manifest: &[u8]) -> Result<Vec<ManifestSignature>, Error> {
    #[derive(Deserialize)]
    struct Manifest {
        layers: Vec<Layer>,
    }
    #[derive(Deserialize)]
    struct Layer {
        digest: String,
        #[serde(default)]
        annotations: std::collections::BTreeMap<String, String>,
    }
    let manifest: Manifest = serde_json::from_slice(manifest)
        .map_err(|e| Error::unreadable(origin, format!("not an OCI image manifest: {e}")))?;
    Ok(manifest
        .layers
        .into_iter()
        .filter_map(|mut layer| {
            Some(ManifestSignature {
                signature: layer.annotations.remove(SIGNATURE_ANNOTATION)?,
                certificate: layer.annotations.remove(CERTIFICATE_ANNOTATION),
                rekor_bundle: layer.annotations.remove(REKOR_BUNDLE_ANNOTATION),
                layer_digest: layer.digest,
            })
        })
        .collect())
}

/// A keyless cosign signature customs checked itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedKeylessSignature {
    /// The image manifest digest the payload signs.
    pub image_digest: String,
    /// The repository the signer named (`critical.identity.docker-reference`).
    pub docker_reference: Option<String>,
    /// The certificate, for the policy's identity.
    pub signer: crate::Signer,
    pub log_index: i64,
    /// When the log integrated the entry (vouched for by its signed entry
    /// timestamp): the signing time every check used.
    pub integrated_time: chrono::DateTime<chrono::Utc>,
}

/// Verifies a keyless cosign signature as cosign stored it before Sigstore
/// bundles (the `dev.sigstore.cosign/certificate` and `dev.sigstore.cosign/bundle`
/// annotations beside the signature): the Fulcio certificate (PEM) at the
/// time the Rekor v1 entry of `rekor_bundle_json` was integrated (its signed
/// entry timestamp verified with a log of `root`), the certificate's chain
/// to a certificate authority of `root` and its SCT (when `root` has CT
/// logs), the signature over `payload`, that the payload signs
/// `image_digest`, that the log entry (hashedrekord or rekord 0.0.1) is of
/// this signature and certificate, and last the identity.
///
/// The `dev.sigstore.cosign/chain` annotation is not taken: the trust
/// root's certificates are the ones trusted.
pub fn verify_keyless_simple_signing(
    payload: &[u8],
    signature_base64: &str,
    certificate_pem: &[u8],
    rekor_bundle_json: &[u8],
    image_digest: &str,
    identity: &crate::Identity,
    root: &crate::TrustedRoot,
) -> Result<VerifiedKeylessSignature, Error> {
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature_base64.trim())
        .map_err(|e| Error::unreadable("signature", format!("not base64: {e}")))?;
    let der = crate::keys::pem_block(certificate_pem)
        .filter(|(label, _)| label == "CERTIFICATE")
        .map(|(_, der)| der)
        .ok_or_else(|| Error::unreadable("certificate", "not a PEM CERTIFICATE"))?;
    let leaf = crate::x509::Certificate::from_der("certificate", &der)?;
    let entry = crate::rekor::entry_from_cosign_bundle("rekor bundle", rekor_bundle_json)?;
    let legacy = match (entry.kind.as_str(), entry.version.as_str()) {
        ("hashedrekord", "0.0.1") => false,
        ("rekord", "0.0.1") => true,
        (kind, version) => {
            return Err(Error::refused(
                Check::Unsupported,
                format!(
                    "{kind} {version} log entries are not supported for cosign signatures (only hashedrekord and rekord 0.0.1)"
                ),
            ));
        }
    };
    // The log first: it gives the signing time everything else is checked at.
    let time = crate::rekor::verify_entry(&entry, root, false)?;
    crate::bundle::verify_certificate(&leaf, root, time)?;
    let verified = verify_simple_signing(
        payload,
        signature_base64,
        leaf.public_key(),
        Some(image_digest),
    )?;
    use sha2::Digest as _;
    crate::rekor::check_hashedrekord(
        &entry.body,
        legacy,
        &sha2::Sha256::digest(payload),
        &signature,
        crate::rekor::LoggedSigner::Certificate(leaf.der()),
    )?;
    // The identity last: a refusal for it says everything else verified.
    let signer = crate::bundle::certificate_signer(&leaf, identity)?;
    Ok(VerifiedKeylessSignature {
        image_digest: verified.image_digest,
        docker_reference: verified.docker_reference,
        signer,
        log_index: entry.log_index,
        integrated_time: time,
    })
}
