//! CycloneDX JSON SBOMs (spec 1.2 to 1.7) as Trivy and Syft write them for
//! container images: the image from `metadata.component`, packages from the
//! components (nested ones too), the OS from the `operating-system` component,
//! and vulnerabilities when the BOM carries them (Trivy's `--format cyclonedx`
//! with vulnerability scanning).

use std::str::FromStr as _;

use std::collections::HashMap;

use packageurl::PackageUrl;
use serde::Deserialize;

use super::{
    Format, ImportError, Origin, ecosystem_from_purl, is_digest, looks_like_path, parse_typed,
};
use crate::derive::os_info;
use crate::model::{
    Base, Facts, FixState, Layer, Package, Severity, Source, VexStatus, Vulnerability,
};

const SUPPORTED: &str = "specVersion 1.2 to 1.7";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bom {
    spec_version: String,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    components: Vec<Component>,
    #[serde(default)]
    vulnerabilities: Vec<CdxVulnerability>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    tools: Option<Tools>,
    #[serde(default)]
    component: Option<Component>,
}

/// `tools` is a list before 1.5 and an object of components/services since.
#[derive(Deserialize)]
#[serde(untagged)]
enum Tools {
    List(Vec<Tool>),
    Object {
        #[serde(default)]
        components: Vec<Tool>,
    },
}

#[derive(Deserialize)]
struct Tool {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
}

#[derive(Deserialize)]
struct Component {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(rename = "bom-ref", default)]
    bom_ref: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    purl: Option<String>,
    #[serde(default)]
    licenses: Vec<LicenseChoice>,
    #[serde(default)]
    properties: Vec<Property>,
    #[serde(default)]
    components: Vec<Component>,
}

#[derive(Deserialize)]
struct LicenseChoice {
    #[serde(default)]
    license: Option<License>,
    #[serde(default)]
    expression: Option<String>,
}

#[derive(Deserialize)]
struct License {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct Property {
    name: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
struct CdxVulnerability {
    id: String,
    #[serde(default)]
    ratings: Vec<Rating>,
    #[serde(default)]
    affects: Vec<Affects>,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    analysis: Option<Analysis>,
    #[serde(default)]
    references: Vec<Reference>,
}

#[derive(Deserialize)]
struct Rating {
    #[serde(default)]
    source: Option<RatingSource>,
    #[serde(default)]
    score: Option<f64>,
    #[serde(default)]
    severity: Option<String>,
}

#[derive(Deserialize)]
struct RatingSource {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct Affects {
    #[serde(rename = "ref")]
    reference: String,
}

#[derive(Deserialize)]
struct Analysis {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    justification: Option<String>,
}

#[derive(Deserialize)]
struct Reference {
    id: String,
}

impl Component {
    fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.value.as_deref())
    }

    fn properties_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.properties
            .iter()
            .filter(move |p| p.name == name)
            .filter_map(|p| p.value.as_deref())
    }

    fn licenses(&self) -> Vec<String> {
        self.licenses
            .iter()
            .filter_map(|l| {
                l.expression.clone().or_else(|| {
                    l.license
                        .as_ref()
                        .and_then(|lic| lic.id.clone().or_else(|| lic.name.clone()))
                })
            })
            .collect()
    }
}

fn supported(version: &str) -> bool {
    matches!(version, "1.2" | "1.3" | "1.4" | "1.5" | "1.6" | "1.7")
}

pub(super) fn import(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let bom: Bom = parse_typed(origin, bytes, Format::CycloneDx)?;
    if !supported(&bom.spec_version) {
        return Err(ImportError::UnsupportedVersion {
            origin: origin.clone(),
            format: Format::CycloneDx,
            found: bom.spec_version,
            supported: SUPPORTED,
        });
    }
    let mut facts = Facts::default();
    let mut warnings = Vec::new();
    let metadata = bom.metadata;
    let (tool, tool_version) = metadata
        .as_ref()
        .and_then(|m| m.tools.as_ref())
        .and_then(|tools| match tools {
            Tools::List(list) => list.first(),
            Tools::Object { components } => components.first(),
        })
        .map(|t| (t.name.clone(), t.version.clone()))
        .unwrap_or_default();
    let subject = metadata.as_ref().and_then(|m| m.component.as_ref());
    match subject {
        Some(image) if image.kind == "container" => map_image(&mut facts, image, &mut warnings),
        Some(other) => warnings.push(format!(
            "the SBOM describes a {} ({}), not a container image: image metadata is missing",
            if other.kind.is_empty() {
                "component"
            } else {
                &other.kind
            },
            other.name
        )),
        None => warnings
            .push("the SBOM names no subject component: image metadata is missing".to_owned()),
    }

    // Packages, keyed by bom-ref so vulnerabilities can name what they affect.
    let mut packages = Vec::new();
    let mut by_ref: HashMap<String, usize> = HashMap::new();
    let mut skipped_files = 0;
    let mut stack: Vec<&Component> = bom.components.iter().rev().collect();
    while let Some(component) = stack.pop() {
        stack.extend(component.components.iter().rev());
        match component.kind.as_str() {
            "operating-system" => {
                facts.base.get_or_insert_with(Base::default).os = Some(os_info(
                    &component.name,
                    component.version.as_deref().unwrap_or(""),
                    None,
                ));
            }
            "file" => skipped_files += 1,
            _ => {
                if let Some(bom_ref) = &component.bom_ref {
                    by_ref.insert(bom_ref.clone(), packages.len());
                }
                packages.push(map_component(component));
            }
        }
    }
    if skipped_files > 0 {
        warnings.push(format!(
            "skipped {skipped_files} file component(s): facts list packages, not files"
        ));
    }

    if !bom.vulnerabilities.is_empty() {
        let mut vulnerabilities = Vec::new();
        for v in bom.vulnerabilities {
            map_vulnerability(v, &packages, &by_ref, &mut vulnerabilities, &mut warnings);
        }
        facts.vulnerabilities = Some(vulnerabilities);
    }
    facts.packages = Some(packages);
    facts.sources.push(Source {
        tool: tool.unwrap_or_else(|| "cyclonedx".to_owned()),
        tool_version,
        format: Format::CycloneDx.name().to_owned(),
        scanned_at: metadata.and_then(|m| m.timestamp),
        file: Some(origin.to_string()),
        warnings,
    });
    Ok(facts)
}

fn map_image(facts: &mut Facts, image: &Component, warnings: &mut Vec<String>) {
    let tag = image
        .property("aquasecurity:trivy:RepoTag")
        .or(image.property("aquasecurity:trivy:Reference"));
    let name = Some(image.name.as_str()).filter(|n| !n.is_empty() && !looks_like_path(n));
    facts.image.reference = tag.or(name).map(str::to_owned);
    // The image's digest: Trivy's RepoDigest, else the pkg:oci purl's version,
    // else (Syft) the component version when it is a digest.
    let oci_digest = image
        .purl
        .as_deref()
        .or(image.bom_ref.as_deref())
        .and_then(|p| PackageUrl::from_str(p).ok())
        .filter(|p| p.ty() == "oci")
        .and_then(|p| p.version().map(str::to_owned));
    let digest = image
        .property("aquasecurity:trivy:RepoDigest")
        .and_then(|d| d.split_once('@').map(|(_, d)| d.to_owned()))
        .or(oci_digest)
        .or_else(|| image.version.clone());
    match digest {
        Some(d) if is_digest(&d) => facts.image.digest = Some(d),
        Some(d) => warnings.push(format!(
            "ignored the image digest {d:?}: not a sha256/sha512 digest"
        )),
        None => {}
    }
    facts.image.config_digest = image
        .property("aquasecurity:trivy:ImageID")
        .filter(|d| is_digest(d))
        .map(str::to_owned);
    let diff_ids: Vec<Layer> = image
        .properties_named("aquasecurity:trivy:DiffID")
        .map(|d| Layer {
            digest: None,
            diff_id: Some(d.to_owned()),
            size: None,
        })
        .collect();
    if !diff_ids.is_empty() {
        facts.layers = Some(diff_ids);
    }
}

fn map_component(c: &Component) -> Package {
    let package_type = c
        .purl
        .as_deref()
        .and_then(ecosystem_from_purl)
        .unwrap_or_else(|| {
            if c.kind.is_empty() {
                "unknown".to_owned()
            } else {
                c.kind.clone()
            }
        });
    Package {
        name: c.name.clone(),
        version: c.version.clone().unwrap_or_default(),
        package_type,
        purl: c.purl.clone(),
        licenses: c.licenses(),
        layer: c
            .property("aquasecurity:trivy:LayerDigest")
            .or(c.property("aquasecurity:trivy:LayerDiffID"))
            .or(c.property("syft:location:0:layerID"))
            .map(str::to_owned),
        source_name: c.property("aquasecurity:trivy:SrcName").map(str::to_owned),
    }
}

fn map_vulnerability(
    v: CdxVulnerability,
    packages: &[Package],
    by_ref: &HashMap<String, usize>,
    out: &mut Vec<Vulnerability>,
    warnings: &mut Vec<String>,
) {
    let severity = v
        .ratings
        .iter()
        .filter_map(|r| r.severity.as_deref().and_then(Severity::parse_lenient))
        .max()
        .unwrap_or_default();
    let nvd = |r: &&Rating| r.source.as_ref().and_then(|s| s.name.as_deref()) == Some("nvd");
    let cvss_score = v
        .ratings
        .iter()
        .filter(nvd)
        .filter_map(|r| r.score)
        .max_by(f64::total_cmp)
        .or_else(|| {
            v.ratings
                .iter()
                .filter_map(|r| r.score)
                .max_by(f64::total_cmp)
        });
    let vex_status = v
        .analysis
        .as_ref()
        .and_then(|a| a.state.as_deref())
        .and_then(|state| match state {
            "not_affected" | "false_positive" => Some(VexStatus::NotAffected),
            "resolved" | "resolved_with_pedigree" => Some(VexStatus::Fixed),
            "exploitable" => Some(VexStatus::Affected),
            "in_triage" => Some(VexStatus::UnderInvestigation),
            _ => None,
        });
    let aliases: Vec<String> = v
        .references
        .iter()
        .map(|r| r.id.clone())
        .filter(|id| *id != v.id)
        .collect();
    for affects in &v.affects {
        let Some(package) = by_ref.get(&affects.reference).map(|&i| &packages[i]) else {
            warnings.push(format!(
                "{} affects {:?}, which is no component of the SBOM; skipped",
                v.id, affects.reference
            ));
            continue;
        };
        out.push(Vulnerability {
            id: v.id.clone(),
            aliases: aliases.clone(),
            package: package.name.clone(),
            package_version: package.version.clone(),
            package_type: Some(package.package_type.clone()),
            purl: package.purl.clone(),
            severity,
            cvss_score,
            // CycloneDX has no structured fixed version; it is unknown, not absent.
            fixed_versions: Vec::new(),
            fix_state: FixState::Unknown,
            title: None,
            published: v.published.clone(),
            layer: package.layer.clone(),
            locations: Vec::new(),
            vex_status,
            vex_justification: v.analysis.as_ref().and_then(|a| a.justification.clone()),
            sources: vec!["cyclonedx".to_owned()],
        });
    }
}
