//! SPDX 2.2 and 2.3 JSON SBOMs: packages with purls and licenses; the image
//! from the package the document describes (or the CONTAINER package), the OS
//! from the OPERATING-SYSTEM package.

use std::str::FromStr as _;

use packageurl::PackageUrl;
use serde::Deserialize;

use super::{
    Format, ImportError, Origin, ecosystem_from_purl, is_digest, looks_like_path, parse_typed,
};
use crate::derive::os_info;
use crate::model::{Base, Facts, Package, Source};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    spdx_version: String,
    #[serde(default)]
    creation_info: Option<CreationInfo>,
    #[serde(default)]
    document_describes: Vec<String>,
    #[serde(default)]
    packages: Vec<SpdxPackage>,
    #[serde(default)]
    relationships: Vec<Relationship>,
}

#[derive(Deserialize)]
struct CreationInfo {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    creators: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpdxPackage {
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    name: String,
    #[serde(default)]
    version_info: Option<String>,
    #[serde(default)]
    license_concluded: Option<String>,
    #[serde(default)]
    license_declared: Option<String>,
    #[serde(default)]
    external_refs: Vec<ExternalRef>,
    #[serde(default)]
    primary_package_purpose: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    reference_type: String,
    reference_locator: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    spdx_element_id: String,
    relationship_type: String,
    related_spdx_element: String,
}

impl SpdxPackage {
    fn purl(&self) -> Option<&str> {
        self.external_refs
            .iter()
            .find(|r| r.reference_type == "purl")
            .map(|r| r.reference_locator.as_str())
    }

    fn licenses(&self) -> Vec<String> {
        [&self.license_concluded, &self.license_declared]
            .into_iter()
            .flatten()
            .find(|l| !matches!(l.as_str(), "NOASSERTION" | "NONE" | ""))
            .map(|l| vec![l.clone()])
            .unwrap_or_default()
    }
}

pub(super) fn import(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let doc: Document = parse_typed(origin, bytes, Format::Spdx)?;
    if !matches!(doc.spdx_version.as_str(), "SPDX-2.2" | "SPDX-2.3") {
        return Err(ImportError::UnsupportedVersion {
            origin: origin.clone(),
            format: Format::Spdx,
            found: doc.spdx_version,
            supported: "SPDX-2.2 and SPDX-2.3 (JSON)",
        });
    }
    let mut facts = Facts::default();
    let mut warnings = Vec::new();
    let described: Vec<&str> = doc
        .document_describes
        .iter()
        .map(String::as_str)
        .chain(
            doc.relationships
                .iter()
                .filter(|r| {
                    r.relationship_type == "DESCRIBES" && r.spdx_element_id == "SPDXRef-DOCUMENT"
                })
                .map(|r| r.related_spdx_element.as_str()),
        )
        .collect();
    let is_image = |p: &SpdxPackage| {
        p.primary_package_purpose.as_deref() == Some("CONTAINER")
            || p.spdx_id.starts_with("SPDXRef-ContainerImage")
            || p.spdx_id.starts_with("SPDXRef-DocumentRoot-Image")
            || p.purl().is_some_and(|purl| purl.starts_with("pkg:oci/"))
    };
    let is_os = |p: &SpdxPackage| {
        p.primary_package_purpose.as_deref() == Some("OPERATING-SYSTEM")
            || p.spdx_id.starts_with("SPDXRef-OperatingSystem")
    };

    let mut packages = Vec::new();
    let mut saw_image = false;
    for p in &doc.packages {
        if is_image(p) {
            saw_image = true;
            map_image(&mut facts, p, &mut warnings);
        } else if is_os(p) {
            facts.base.get_or_insert_with(Base::default).os = Some(os_info(
                &p.name,
                p.version_info.as_deref().unwrap_or(""),
                None,
            ));
        } else {
            let purl = p.purl().map(str::to_owned);
            packages.push(Package {
                package_type: purl
                    .as_deref()
                    .and_then(ecosystem_from_purl)
                    .unwrap_or_else(|| "unknown".to_owned()),
                name: p.name.clone(),
                version: p.version_info.clone().unwrap_or_default(),
                purl,
                licenses: p.licenses(),
                layer: None,
                source_name: None,
            });
        }
    }
    if !saw_image {
        let subject = described
            .first()
            .and_then(|id| doc.packages.iter().find(|p| p.spdx_id == *id))
            .map(|p| format!("{} {}", p.name, p.version_info.as_deref().unwrap_or("")));
        warnings.push(match subject {
            Some(subject) => format!(
                "the SBOM describes {}, not a container image: image metadata is missing",
                subject.trim()
            ),
            None => "the SBOM names no container image: image metadata is missing".to_owned(),
        });
    }
    facts.packages = Some(packages);
    let creation = doc.creation_info;
    let tool = creation
        .as_ref()
        .and_then(|c| c.creators.iter().find_map(|c| c.strip_prefix("Tool: ")))
        .map(str::to_owned);
    facts.sources.push(Source {
        tool: tool.unwrap_or_else(|| "spdx".to_owned()),
        tool_version: None,
        format: Format::Spdx.name().to_owned(),
        scanned_at: creation.and_then(|c| c.created),
        file: Some(origin.to_string()),
        warnings,
    });
    Ok(facts)
}

fn map_image(facts: &mut Facts, p: &SpdxPackage, warnings: &mut Vec<String>) {
    if !p.name.is_empty() && !looks_like_path(&p.name) {
        facts.image.reference = Some(p.name.clone());
    }
    let digest = p
        .purl()
        .and_then(|purl| PackageUrl::from_str(purl).ok())
        .filter(|purl| purl.ty() == "oci")
        .and_then(|purl| purl.version().map(str::to_owned))
        .or_else(|| p.version_info.clone());
    match digest {
        Some(d) if is_digest(&d) => facts.image.digest = Some(d),
        Some(d) => warnings.push(format!(
            "ignored the image digest {d:?}: not a sha256/sha512 digest"
        )),
        None => {}
    }
}
