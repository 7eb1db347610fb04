//! Syft's own JSON SBOM (`syft IMAGE -o json`, schema 1.x to 16.x): packages
//! with purl, licenses and layer; the image from `source` (as Grype embeds it).

use serde::Deserialize;

use super::grype::{ArtifactLocation, Descriptor, apply_source, artifact_type};
use super::{Format, ImportError, Origin, ecosystem_from_purl, parse_typed};
use crate::derive::os_info;
use crate::model::{Base, Facts, Package, Source};

#[derive(Deserialize)]
struct Document {
    artifacts: Vec<Artifact>,
    #[serde(default)]
    source: Option<SyftSource>,
    #[serde(default)]
    distro: Option<Distro>,
    #[serde(default)]
    descriptor: Option<Descriptor>,
}

#[derive(Deserialize)]
struct SyftSource {
    #[serde(rename = "type")]
    kind: String,
    /// `metadata` since schema 11, `target` before.
    #[serde(default, alias = "target")]
    metadata: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Distro {
    #[serde(default)]
    id: Option<String>,
    #[serde(default, rename = "versionID")]
    version_id: Option<String>,
}

#[derive(Deserialize)]
struct Artifact {
    name: String,
    #[serde(default)]
    version: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    purl: Option<String>,
    #[serde(default)]
    licenses: Vec<License>,
    #[serde(default)]
    locations: Vec<ArtifactLocation>,
}

/// A plain string before schema 10; an object with a value and SPDX expression since.
#[derive(Deserialize)]
#[serde(untagged)]
enum License {
    Text(String),
    Detailed {
        #[serde(default, rename = "spdxExpression")]
        spdx_expression: Option<String>,
        #[serde(default)]
        value: Option<String>,
    },
}

pub(super) fn import(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let doc: Document = parse_typed(origin, bytes, Format::SyftJson)?;
    let mut facts = Facts::default();
    let mut warnings = Vec::new();
    match doc.source {
        Some(source) => apply_source(
            &mut facts,
            &source.kind,
            source.metadata,
            origin,
            Format::SyftJson,
            "source.metadata",
            &mut warnings,
        )?,
        None => warnings.push("the SBOM names no source: image metadata is missing".to_owned()),
    }
    if let Some(distro) = doc.distro
        && let Some(id) = distro.id.filter(|i| !i.is_empty())
    {
        facts.base.get_or_insert_with(Base::default).os = Some(os_info(
            &id,
            distro.version_id.as_deref().unwrap_or(""),
            None,
        ));
    }
    facts.packages = Some(
        doc.artifacts
            .into_iter()
            .map(|a| Package {
                package_type: a
                    .purl
                    .as_deref()
                    .and_then(ecosystem_from_purl)
                    .unwrap_or_else(|| artifact_type(&a.kind).to_owned()),
                name: a.name,
                version: a.version,
                purl: a.purl.filter(|p| !p.is_empty()),
                licenses: a
                    .licenses
                    .into_iter()
                    .filter_map(|l| match l {
                        License::Text(text) => Some(text),
                        License::Detailed {
                            spdx_expression,
                            value,
                        } => spdx_expression.filter(|e| !e.is_empty()).or(value),
                    })
                    .collect(),
                layer: a.locations.into_iter().find_map(|l| l.layer_id),
                source_name: None,
            })
            .collect(),
    );
    let descriptor = doc.descriptor;
    facts.sources.push(Source {
        tool: descriptor
            .as_ref()
            .and_then(|d| d.name.clone())
            .unwrap_or_else(|| "syft".to_owned()),
        tool_version: descriptor.and_then(|d| d.version),
        format: Format::SyftJson.name().to_owned(),
        scanned_at: None,
        file: Some(origin.to_string()),
        warnings,
    });
    Ok(facts)
}
