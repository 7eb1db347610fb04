//! `docker image inspect` output: a JSON array with one object per image.

use serde::Deserialize;

use super::image_config::ContainerConfig;
use super::{Format, ImportError, Origin, is_digest, parse_typed, plain_source, schema_error};
use crate::model::{Facts, Layer};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Inspected {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    repo_digests: Option<Vec<String>>,
    #[serde(default, deserialize_with = "super::rfc3339_time")]
    created: Option<String>,
    #[serde(default)]
    config: Option<ContainerConfig>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    os: Option<String>,
    #[serde(default, rename = "RootFS")]
    root_fs: Option<RootFs>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RootFs {
    #[serde(default)]
    layers: Option<Vec<String>>,
}

pub(super) fn import(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let images: Vec<Inspected> = parse_typed(origin, bytes, Format::DockerInspect)?;
    let image = match <[Inspected; 1]>::try_from(images) {
        Ok([image]) => image,
        Err(images) => {
            return Err(schema_error(
                origin,
                Format::DockerInspect,
                ".",
                format!(
                    "the output describes {} images; customs evaluates one image at a time, so inspect one",
                    images.len()
                ),
            ));
        }
    };
    let mut warnings = Vec::new();
    let mut facts = Facts::default();
    facts.image.reference = image
        .repo_tags
        .and_then(|tags| tags.into_iter().next())
        .filter(|t| !t.is_empty());
    for entry in image.repo_digests.unwrap_or_default() {
        match entry.split_once('@') {
            Some((_, digest)) if is_digest(digest) => {
                facts.image.digest.get_or_insert_with(|| digest.to_owned());
            }
            _ => warnings.push(format!(
                "ignored RepoDigests entry {entry:?}: not REPOSITORY@DIGEST"
            )),
        }
    }
    facts.image.config_digest = image.id.filter(|id| is_digest(id));
    facts.image.created = image
        .created
        .filter(|c| !c.is_empty() && !c.starts_with("0001-01-01"));
    facts.image.os = image.os.filter(|s| !s.is_empty());
    facts.image.architecture = match (image.architecture.filter(|s| !s.is_empty()), image.variant) {
        (Some(arch), Some(variant)) if !variant.is_empty() => Some(format!("{arch}/{variant}")),
        (arch, _) => arch,
    };
    facts.layers = image.root_fs.and_then(|r| r.layers).map(|layers| {
        layers
            .into_iter()
            .map(|diff_id| Layer {
                digest: None,
                diff_id: Some(diff_id),
                size: None,
            })
            .collect()
    });
    match image.config {
        Some(config) => config.apply_to(&mut facts),
        None => {
            warnings.push("the image has no Config: its user and entrypoint are unknown".to_owned())
        }
    }
    if facts.image.reference.is_none() && facts.image.digest.is_none() {
        warnings.push("the image has neither a tag nor a repository digest".to_owned());
    }
    facts.sources.push(plain_source(
        "docker",
        Format::DockerInspect,
        origin,
        warnings,
    ));
    Ok(facts)
}
