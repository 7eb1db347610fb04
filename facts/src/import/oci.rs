//! OCI image config, image manifest and image index documents (and their
//! Docker v2 equivalents), as `regctl`, `crane` or `skopeo inspect --raw` print them.
//!
//! A document's own digest is the SHA-256 of its bytes, so it is computed here
//! rather than trusted from anywhere else.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::image_config::ImageConfig;
use super::{Format, ImportError, Origin, is_digest, parse_typed, plain_source, sha256_digest};
use crate::model::{Base, Facts, Layer};

const BASE_NAME: &str = "org.opencontainers.image.base.name";
const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

pub(super) fn import_config(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let config: ImageConfig = parse_typed(origin, bytes, Format::OciConfig)?;
    let mut facts = Facts::default();
    facts.image.config_digest = Some(sha256_digest(bytes));
    config.apply_to(&mut facts);
    facts
        .sources
        .push(plain_source("oci", Format::OciConfig, origin, Vec::new()));
    Ok(facts)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    config: Descriptor,
    layers: Vec<Descriptor>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: Option<String>,
    digest: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    platform: Option<Platform>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Platform {
    architecture: String,
    os: String,
    #[serde(default)]
    variant: Option<String>,
}

impl Platform {
    fn name(&self) -> String {
        match &self.variant {
            Some(variant) => format!("{}/{}/{variant}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

fn check_schema(origin: &Origin, format: Format, version: u32) -> Result<(), ImportError> {
    if version != 2 {
        return Err(ImportError::UnsupportedVersion {
            origin: origin.clone(),
            format,
            found: version.to_string(),
            supported: "schemaVersion 2",
        });
    }
    Ok(())
}

/// Digests that are not well formed are reported and left out of facts.
fn checked_digest(digest: String, what: &str, warnings: &mut Vec<String>) -> Option<String> {
    if is_digest(&digest) {
        Some(digest)
    } else {
        warnings.push(format!(
            "ignored the {what} digest {digest:?}: not a sha256/sha512 digest"
        ));
        None
    }
}

fn apply_base_annotations(
    facts: &mut Facts,
    annotations: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) {
    let name = annotations.get(BASE_NAME).cloned();
    let digest = annotations
        .get(BASE_DIGEST)
        .cloned()
        .and_then(|d| checked_digest(d, "base image", warnings));
    if name.is_some() || digest.is_some() {
        let base = facts.base.get_or_insert_with(Base::default);
        base.reference = base.reference.take().or(name);
        base.digest = base.digest.take().or(digest);
    }
}

pub(super) fn import_manifest(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let manifest: Manifest = parse_typed(origin, bytes, Format::OciManifest)?;
    check_schema(origin, Format::OciManifest, manifest.schema_version)?;
    let mut warnings = Vec::new();
    if let Some(media_type) = manifest.media_type.as_deref()
        && !media_type.contains("manifest")
    {
        warnings.push(format!(
            "unexpected mediaType {media_type:?} for an image manifest"
        ));
    }
    let mut facts = Facts::default();
    facts.image.digest = Some(sha256_digest(bytes));
    facts.image.config_digest = checked_digest(manifest.config.digest, "config", &mut warnings);
    facts.layers = Some(
        manifest
            .layers
            .into_iter()
            .map(|l| Layer {
                digest: checked_digest(l.digest, "layer", &mut warnings),
                diff_id: None,
                size: l.size,
            })
            .collect(),
    );
    apply_base_annotations(&mut facts, &manifest.annotations, &mut warnings);
    facts.image.annotations = manifest.annotations;
    facts
        .sources
        .push(plain_source("oci", Format::OciManifest, origin, warnings));
    Ok(facts)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    manifests: Vec<Descriptor>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

pub(super) fn import_index(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let index: Index = parse_typed(origin, bytes, Format::OciIndex)?;
    check_schema(origin, Format::OciIndex, index.schema_version)?;
    let mut warnings = Vec::new();
    let mut facts = Facts::default();
    facts.image.index_digest = Some(sha256_digest(bytes));

    // An index names one manifest per platform (and BuildKit adds attestation
    // manifests); the image's own layers and config are in the platform manifest.
    let mut platforms = Vec::new();
    let mut attestations = 0;
    for manifest in &index.manifests {
        let is_attestation = manifest
            .annotations
            .get("vnd.docker.reference.type")
            .is_some_and(|t| t == "attestation-manifest");
        if is_attestation {
            attestations += 1;
        } else if let Some(platform) = &manifest.platform {
            platforms.push(format!("{} ({})", platform.name(), manifest.digest));
        } else {
            platforms.push(format!(
                "{} ({})",
                manifest
                    .media_type
                    .as_deref()
                    .unwrap_or("unknown media type"),
                manifest.digest
            ));
        }
    }
    warnings.push(format!(
        "an image index of {} platform manifest(s): {}; add the manifest and config of the platform you run for its layers and user",
        platforms.len(),
        platforms.join(", ")
    ));
    if attestations > 0 {
        warnings.push(format!(
            "the index holds {attestations} unverified BuildKit attestation manifest(s); verify them with cosign or docker buildx imagetools to count them"
        ));
    }
    apply_base_annotations(&mut facts, &index.annotations, &mut warnings);
    facts.image.annotations = index.annotations;
    facts
        .sources
        .push(plain_source("oci", Format::OciIndex, origin, warnings));
    Ok(facts)
}
