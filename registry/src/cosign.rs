//! Signatures in cosign's registry layout: for a manifest `sha256:HEX`, an
//! image tagged `sha256-HEX.sig` in the same repository whose layers are
//! "simple signing" payloads naming the digest, each with its base64
//! signature in the `dev.cosignproject.cosign/signature` annotation.

use std::collections::BTreeMap;

use base64::Engine as _;
use oci_client::Reference;
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::sha256_digest;

const PAYLOAD_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
const SIGNATURE_TYPE: &str = "cosign container image signature";
const DOCKER_MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
const IMAGE_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// The largest signature payload read (they are a few hundred bytes).
const MAX_PAYLOAD_BYTES: i64 = 64 << 10;
/// The most signature layers considered.
const MAX_SIGNATURES: usize = 64;

/// The signatures found for one digest, as cached.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Signatures {
    layers: Vec<SignatureLayer>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SignatureLayer {
    /// Base64 of the payload bytes exactly as signed.
    payload: String,
    signature: String,
}

#[derive(Deserialize)]
struct SimpleSigning {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    image: SignedImage,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct SignedImage {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

fn signature_tag(target: &Reference, digest: &str) -> Reference {
    Reference::with_tag(
        target.resolve_registry().to_owned(),
        target.repository().to_owned(),
        format!("{}.sig", digest.replace(':', "-")),
    )
}

fn payload_for(target: &Reference, digest: &str) -> Vec<u8> {
    serde_json::json!({
        "critical": {
            "identity": {"docker-reference": format!("{}/{}", target.resolve_registry(), target.repository())},
            "image": {"docker-manifest-digest": digest},
            "type": SIGNATURE_TYPE,
        },
        "optional": null,
    })
    .to_string()
    .into_bytes()
}

/// Adds a signature by `key` to the signature image of `digest`, keeping the
/// signatures already there (as cosign does).
pub(crate) async fn push_signature(
    client: &oci_client::Client,
    auth: &RegistryAuth,
    target: &Reference,
    reference: &str,
    digest: &str,
    key: &crate::signing::SigningKey,
) -> Result<(), Error> {
    let wrap = |e| Error::from_oci(reference, e);
    let sig_ref = signature_tag(target, digest);
    client
        .auth(&sig_ref, auth, oci_client::RegistryOperation::Push)
        .await
        .map_err(wrap)?;
    let mut layers = match client
        .pull_manifest_raw(
            &sig_ref,
            auth,
            &[OCI_IMAGE_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE],
        )
        .await
    {
        Ok((body, _)) => serde_json::from_slice::<OciImageManifest>(&body)
            .map(|m| m.layers)
            .unwrap_or_default(),
        Err(e) => match Error::from_oci(reference, e) {
            Error::NotFound { .. } => Vec::new(),
            other => return Err(other),
        },
    };
    let payload = payload_for(target, digest);
    let signature = key.sign(&payload)?;
    let payload_digest = sha256_digest(&payload);
    client
        .push_blob(&sig_ref, payload.clone(), &payload_digest)
        .await
        .map_err(wrap)?;
    layers.push(OciDescriptor {
        media_type: PAYLOAD_MEDIA_TYPE.to_owned(),
        digest: payload_digest,
        size: payload.len() as i64,
        annotations: Some(BTreeMap::from([(
            SIGNATURE_ANNOTATION.to_owned(),
            signature,
        )])),
        ..OciDescriptor::default()
    });
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
    let config = serde_json::json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {},
    })
    .to_string()
    .into_bytes();
    let config_digest = sha256_digest(&config);
    client
        .push_blob(&sig_ref, config.clone(), &config_digest)
        .await
        .map_err(wrap)?;
    let manifest = OciImageManifest {
        schema_version: 2,
        media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_owned()),
        config: OciDescriptor {
            media_type: IMAGE_CONFIG_MEDIA_TYPE.to_owned(),
            digest: config_digest,
            size: config.len() as i64,
            ..OciDescriptor::default()
        },
        layers,
        ..OciImageManifest::default()
    };
    crate::push_manifest(client, &sig_ref, reference, &manifest).await?;
    Ok(())
}

/// Every signature layer of the signature image of `digest`.
pub(crate) async fn pull_signatures(
    client: &oci_client::Client,
    auth: &RegistryAuth,
    target: &Reference,
    reference: &str,
    digest: &str,
) -> Result<Signatures, Error> {
    let sig_ref = signature_tag(target, digest);
    let body = match client
        .pull_manifest_raw(
            &sig_ref,
            auth,
            &[OCI_IMAGE_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE],
        )
        .await
    {
        Ok((body, _)) => body,
        Err(e) => {
            return Err(match Error::from_oci(reference, e) {
                Error::NotFound { .. } => Error::Unsigned {
                    reference: reference.to_owned(),
                    reason: format!(
                        "the registry has no cosign signature for {digest} (no tag {})",
                        sig_ref.tag().unwrap_or_default()
                    ),
                },
                other => other,
            });
        }
    };
    let manifest: OciImageManifest =
        serde_json::from_slice(&body).map_err(|e| Error::Unsigned {
            reference: reference.to_owned(),
            reason: format!("the signature manifest is malformed: {e}"),
        })?;
    let mut signatures = Signatures::default();
    for layer in manifest
        .layers
        .iter()
        .filter(|l| l.media_type == PAYLOAD_MEDIA_TYPE && l.size <= MAX_PAYLOAD_BYTES)
        .take(MAX_SIGNATURES)
    {
        let Some(signature) = layer
            .annotations
            .as_ref()
            .and_then(|a| a.get(SIGNATURE_ANNOTATION))
        else {
            continue;
        };
        let mut payload = Vec::new();
        client
            .pull_blob(&sig_ref, layer, &mut payload)
            .await
            .map_err(|e| Error::from_oci(reference, e))?;
        signatures.layers.push(SignatureLayer {
            payload: base64::engine::general_purpose::STANDARD.encode(&payload),
            signature: signature.clone(),
        });
    }
    Ok(signatures)
}

/// Succeeds when one signature is by `key` over a payload naming `digest`.
pub(crate) fn check(
    signatures: &Signatures,
    reference: &str,
    digest: &str,
    key: &customs::signing::VerifyingKey,
) -> Result<(), Error> {
    let unsigned = |reason: String| Error::Unsigned {
        reference: reference.to_owned(),
        reason,
    };
    if signatures.layers.is_empty() {
        return Err(unsigned(format!("no cosign signature for {digest}")));
    }
    let mut wrong_digest = None;
    for layer in &signatures.layers {
        let Ok(payload) = base64::engine::general_purpose::STANDARD.decode(&layer.payload) else {
            continue;
        };
        if key.verify(reference, &payload, &layer.signature).is_err() {
            continue;
        }
        match serde_json::from_slice::<SimpleSigning>(&payload) {
            Ok(signed)
                if signed.critical.kind == SIGNATURE_TYPE
                    && signed.critical.image.docker_manifest_digest == digest =>
            {
                return Ok(());
            }
            Ok(signed) => wrong_digest = Some(signed.critical.image.docker_manifest_digest),
            Err(_) => {}
        }
    }
    Err(unsigned(match wrong_digest {
        Some(other) => format!("the key signed {other}, not {digest}"),
        None => format!(
            "{} signature(s) for {digest}, none by this key",
            signatures.layers.len()
        ),
    }))
}
