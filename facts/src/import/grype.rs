//! Grype JSON reports (`grype IMAGE -o json`), layouts from 0.2x to current.
//!
//! Image scans carry the image's config (base64 of the config blob), which
//! gives the user, history and platform; directory scans have none, and say so.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;

use super::image_config::ImageConfig;
use super::{
    Format, ImportError, Origin, ecosystem_from_purl, is_digest, parse_typed, schema_error,
};
use crate::derive::os_info;
use crate::model::{Base, Facts, FixState, Layer, Severity, Source, Vulnerability};

#[derive(Deserialize)]
struct Report {
    matches: Vec<Match>,
    #[serde(default)]
    source: Option<GrypeSource>,
    #[serde(default)]
    distro: Option<Distro>,
    #[serde(default)]
    descriptor: Option<Descriptor>,
}

/// The tool that wrote a Grype or Syft document.
#[derive(Deserialize)]
pub(super) struct Descriptor {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) version: Option<String>,
    #[serde(default)]
    pub(super) timestamp: Option<String>,
}

#[derive(Deserialize)]
struct GrypeSource {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    target: Option<serde_json::Value>,
}

/// `source.target` of an image scan (Syft calls it `source.metadata`).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ImageTarget {
    #[serde(default)]
    user_input: Option<String>,
    #[serde(rename = "imageID", default)]
    image_id: Option<String>,
    #[serde(default)]
    manifest_digest: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    repo_digests: Option<Vec<String>>,
    #[serde(default)]
    layers: Option<Vec<TargetLayer>>,
    /// The image config blob, base64-encoded.
    #[serde(default)]
    config: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    os: Option<String>,
}

#[derive(Deserialize)]
struct TargetLayer {
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    size: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Distro {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Match {
    vulnerability: GrypeVulnerability,
    #[serde(default)]
    related_vulnerabilities: Vec<Related>,
    artifact: Artifact,
}

#[derive(Deserialize)]
struct GrypeVulnerability {
    id: String,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    fix: Option<Fix>,
    #[serde(default)]
    cvss: Vec<Cvss>,
}

#[derive(Deserialize)]
struct Fix {
    #[serde(default)]
    state: String,
    #[serde(default)]
    versions: Vec<String>,
}

#[derive(Deserialize)]
struct Cvss {
    #[serde(default)]
    metrics: Option<CvssMetrics>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CvssMetrics {
    #[serde(default)]
    base_score: Option<f64>,
}

#[derive(Deserialize)]
struct Related {
    id: String,
    #[serde(default)]
    cvss: Vec<Cvss>,
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
    locations: Vec<ArtifactLocation>,
}

/// Where syft found a package; shared with the Syft importer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ArtifactLocation {
    #[serde(rename = "layerID", default)]
    pub(super) layer_id: Option<String>,
    #[serde(default)]
    pub(super) path: Option<String>,
}

pub(super) fn import(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let report: Report = parse_typed(origin, bytes, Format::GrypeJson)?;
    let mut facts = Facts::default();
    let mut warnings = Vec::new();

    match report.source {
        Some(source) => apply_source(
            &mut facts,
            &source.kind,
            source.target,
            origin,
            Format::GrypeJson,
            "source.target",
            &mut warnings,
        )?,
        None => warnings.push("the report names no source: image metadata is missing".to_owned()),
    }
    if let Some(distro) = report.distro.filter(|d| !d.name.is_empty()) {
        facts.base.get_or_insert_with(Base::default).os =
            Some(os_info(&distro.name, &distro.version, None));
    }

    let vulnerabilities = report
        .matches
        .into_iter()
        .map(|m| map_match(m, &mut warnings))
        .collect();
    facts.vulnerabilities = Some(vulnerabilities);

    let descriptor = report.descriptor;
    facts.sources.push(Source {
        tool: descriptor
            .as_ref()
            .and_then(|d| d.name.clone())
            .unwrap_or_else(|| "grype".to_owned()),
        tool_version: descriptor.as_ref().and_then(|d| d.version.clone()),
        format: Format::GrypeJson.name().to_owned(),
        scanned_at: descriptor
            .and_then(|d| d.timestamp)
            .filter(|t| !t.is_empty()),
        file: Some(origin.to_string()),
        warnings,
    });
    Ok(facts)
}

/// Maps the `source` of a Grype report or Syft SBOM: an image's target, or a
/// warning that the scan was of something else.
pub(super) fn apply_source(
    facts: &mut Facts,
    kind: &str,
    target: Option<serde_json::Value>,
    origin: &Origin,
    format: Format,
    path: &str,
    warnings: &mut Vec<String>,
) -> Result<(), ImportError> {
    if kind != "image" {
        warnings.push(format!(
            "the input is a scan of a {kind} source, not of a container image: image metadata (config, user, layers) is missing"
        ));
        return Ok(());
    }
    let target: ImageTarget = target
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| schema_error(origin, format, path, e.to_string()))?
        .unwrap_or_default();
    map_image(facts, target, warnings);
    Ok(())
}

fn map_image(facts: &mut Facts, target: ImageTarget, warnings: &mut Vec<String>) {
    let image = &mut facts.image;
    image.reference = target.user_input.filter(|s| !s.is_empty());
    image.os = target.os.filter(|s| !s.is_empty());
    image.architecture = target.architecture.filter(|s| !s.is_empty());
    image.labels = target.labels.unwrap_or_default();
    // The registry's digest is the one in RepoDigests; manifestDigest is what the
    // scanner computed locally and can differ for images loaded from a daemon.
    let mut repo_digest = None;
    for entry in target.repo_digests.unwrap_or_default() {
        match entry.split_once('@') {
            Some((_, digest)) if repo_digest.is_none() => repo_digest = Some(digest.to_owned()),
            Some(_) => {}
            None => warnings.push(format!(
                "ignored repoDigests entry {entry:?}: not REPOSITORY@DIGEST"
            )),
        }
    }
    for (field, digest) in [
        ("repoDigests", &repo_digest),
        ("manifestDigest", &target.manifest_digest),
    ] {
        if let Some(digest) = digest.as_deref().filter(|d| !is_digest(d)) {
            warnings.push(format!(
                "ignored {field} {digest:?}: not a sha256/sha512 digest"
            ));
        }
    }
    image.digest = repo_digest
        .filter(|d| is_digest(d))
        .or(target.manifest_digest.filter(|d| is_digest(d)));
    image.config_digest = target.image_id.filter(|d| is_digest(d));
    if image.reference.is_none()
        && let Some(tag) = target.tags.and_then(|t| t.into_iter().next())
    {
        image.reference = Some(tag);
    }
    facts.layers = target.layers.map(|layers| {
        layers
            .into_iter()
            .map(|l| Layer {
                digest: l.digest,
                diff_id: None,
                size: l.size,
            })
            .collect()
    });
    match target.config.as_deref().map(decode_config) {
        Some(Ok(config)) => config.apply_to(facts),
        Some(Err(why)) => warnings.push(format!(
            "source.target.config could not be read ({why}): user and history are unknown"
        )),
        None => warnings
            .push("the report carries no image config: user and history are unknown".to_owned()),
    }
}

fn decode_config(encoded: &str) -> Result<ImageConfig, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not an image config: {e}"))
}

fn map_match(m: Match, warnings: &mut Vec<String>) -> Vulnerability {
    let v = m.vulnerability;
    let severity = match v.severity.as_deref() {
        None => Severity::Unknown,
        Some(word) => Severity::parse_lenient(word).unwrap_or_else(|| {
            warnings.push(format!(
                "unknown severity {word:?} on {}, recorded as unknown",
                v.id
            ));
            Severity::Unknown
        }),
    };
    let fix = v.fix.unwrap_or(Fix {
        state: String::new(),
        versions: Vec::new(),
    });
    let fix_state = match fix.state.as_str() {
        "fixed" => FixState::Fixed,
        "not-fixed" => FixState::NotFixed,
        "wont-fix" => FixState::WontFix,
        _ if !fix.versions.is_empty() => FixState::Fixed,
        _ => FixState::Unknown,
    };
    let score = |list: &[Cvss]| {
        list.iter()
            .filter_map(|c| c.metrics.as_ref().and_then(|m| m.base_score))
            .max_by(f64::total_cmp)
    };
    let cvss_score = score(&v.cvss).or_else(|| {
        m.related_vulnerabilities
            .iter()
            .filter_map(|r| score(&r.cvss))
            .max_by(f64::total_cmp)
    });
    let mut aliases: Vec<String> = Vec::new();
    for related in m.related_vulnerabilities {
        if related.id != v.id && !aliases.contains(&related.id) {
            aliases.push(related.id);
        }
    }
    let artifact = m.artifact;
    let package_type = artifact
        .purl
        .as_deref()
        .and_then(ecosystem_from_purl)
        .unwrap_or_else(|| artifact_type(&artifact.kind).to_owned());
    Vulnerability {
        id: v.id,
        aliases,
        package: artifact.name,
        package_version: artifact.version,
        package_type: Some(package_type),
        purl: artifact.purl.filter(|p| !p.is_empty()),
        severity,
        cvss_score,
        fixed_versions: fix.versions,
        fix_state,
        title: None,
        published: None,
        layer: artifact.locations.iter().find_map(|l| l.layer_id.clone()),
        locations: artifact
            .locations
            .into_iter()
            .filter_map(|l| l.path)
            .collect(),
        vex_status: None,
        vex_justification: None,
        sources: vec!["grype".to_owned()],
    }
}

/// Grype's (syft's) package type, in facts' words.
pub(super) fn artifact_type(kind: &str) -> &str {
    match kind {
        "python" => "pypi",
        "java-archive" | "jenkins-plugin" => "maven",
        "go-module" => "gomod",
        "rust-crate" => "cargo",
        "dotnet" => "nuget",
        "php-composer" => "composer",
        "" => "unknown",
        other => other,
    }
}
