//! Trivy JSON reports (`trivy image|fs|repo --format json`, SchemaVersion 2).
//!
//! Only the fields facts v1 needs are modelled; serde skips the rest (descriptions,
//! references) without building them. Secret findings' `Match` text, which holds
//! the (masked or not) secret, is never read.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::image_config::ImageConfig;
use super::{
    Format, ImportError, Origin, ecosystem_from_purl, is_digest, looks_like_path, parse_typed,
};
use crate::derive::os_info;
use crate::model::{
    Base, Facts, FixState, Layer, Misconfiguration, Package, Secret, Severity, Source, VexStatus,
    Vulnerability,
};

const SUPPORTED_SCHEMA: u64 = 2;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Report {
    schema_version: u64,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    artifact_name: Option<String>,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    results: Option<Vec<ScanResult>>,
    #[serde(default)]
    trivy: Option<TrivyVersion>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyVersion {
    #[serde(default)]
    version: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Metadata {
    #[serde(default, rename = "OS")]
    os: Option<Os>,
    #[serde(default, rename = "ImageID")]
    image_id: Option<String>,
    #[serde(default, rename = "DiffIDs")]
    diff_ids: Option<Vec<String>>,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    repo_digests: Option<Vec<String>>,
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    image_config: Option<ImageConfig>,
    #[serde(default)]
    layers: Option<Vec<TrivyLayer>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Os {
    family: String,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "EOSL")]
    eosl: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyLayer {
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default, rename = "DiffID")]
    diff_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ScanResult {
    #[serde(default)]
    target: String,
    #[serde(default)]
    class: Option<String>,
    #[serde(default, rename = "Type")]
    kind: Option<String>,
    #[serde(default)]
    packages: Option<Vec<TrivyPackage>>,
    #[serde(default)]
    vulnerabilities: Option<Vec<TrivyVulnerability>>,
    #[serde(default)]
    secrets: Option<Vec<TrivySecret>>,
    #[serde(default)]
    misconfigurations: Option<Vec<TrivyMisconfiguration>>,
    #[serde(default)]
    licenses: Option<Vec<serde::de::IgnoredAny>>,
    #[serde(default)]
    custom_resources: Option<Vec<serde::de::IgnoredAny>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct LayerRef {
    #[serde(default)]
    digest: Option<String>,
    #[serde(default, rename = "DiffID")]
    diff_id: Option<String>,
}

impl LayerRef {
    fn id(self) -> Option<String> {
        self.digest
            .filter(|d| !d.is_empty())
            .or(self.diff_id.filter(|d| !d.is_empty()))
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct PkgIdentifier {
    #[serde(default, rename = "PURL")]
    purl: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyPackage {
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    release: Option<String>,
    #[serde(default)]
    epoch: Option<u64>,
    #[serde(default)]
    src_name: Option<String>,
    #[serde(default)]
    licenses: Option<Vec<String>>,
    #[serde(default)]
    identifier: Option<PkgIdentifier>,
    #[serde(default)]
    layer: Option<LayerRef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyVulnerability {
    #[serde(rename = "VulnerabilityID")]
    vulnerability_id: String,
    pkg_name: String,
    #[serde(default)]
    pkg_identifier: Option<PkgIdentifier>,
    #[serde(default)]
    installed_version: String,
    /// Where a language package was found (a binary, a lock file).
    #[serde(default)]
    pkg_path: Option<String>,
    #[serde(default)]
    fixed_version: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    layer: Option<LayerRef>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default, rename = "CVSS")]
    cvss: Option<BTreeMap<String, Cvss>>,
    #[serde(default)]
    published_date: Option<String>,
    #[serde(default)]
    vendor_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Cvss {
    #[serde(default)]
    v3_score: Option<f64>,
    #[serde(default)]
    v2_score: Option<f64>,
    #[serde(default)]
    v40_score: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivySecret {
    #[serde(rename = "RuleID")]
    rule_id: String,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    start_line: Option<u32>,
    #[serde(default)]
    layer: Option<LayerRef>,
    // `Match` (the matched text) is deliberately not modelled: it is never read.
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyMisconfiguration {
    #[serde(rename = "ID")]
    id: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default, rename = "Type")]
    kind: Option<String>,
}

pub(super) fn import(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let report: Report = parse_typed(origin, bytes, Format::TrivyJson)?;
    if report.schema_version != SUPPORTED_SCHEMA {
        return Err(ImportError::UnsupportedVersion {
            origin: origin.clone(),
            format: Format::TrivyJson,
            found: report.schema_version.to_string(),
            supported: "SchemaVersion 2 (Trivy 0.20 and later)",
        });
    }
    Ok(Mapper::default().map(origin, report))
}

#[derive(Default)]
struct Mapper {
    facts: Facts,
    warnings: Vec<String>,
    /// Results of classes facts v1 has no place for, by class: told once
    /// per class with counts, however many there are.
    skipped: BTreeMap<String, Skipped>,
}

#[derive(Default)]
struct Skipped {
    results: usize,
    entries: usize,
    /// The first few targets, to say where to look.
    targets: Vec<String>,
}

impl Skipped {
    const TARGETS_SHOWN: usize = 3;

    fn warning(&self, class: &str) -> String {
        let mut targets: Vec<String> = self
            .targets
            .iter()
            .map(|t| crate::text::quoted_prefix(t, 80))
            .collect();
        if self.results > targets.len() {
            targets.push("…".to_owned());
        }
        let (results, them) = match self.results {
            1 => ("a result".to_owned(), "it"),
            n => (format!("{n} results"), "them"),
        };
        format!(
            "skipped {results} of class {} ({} entries; target {}): facts v1 has no place for {them}",
            crate::text::quoted_prefix(class, 40),
            self.entries,
            targets.join(", ")
        )
    }
}

impl Mapper {
    fn map(mut self, origin: &Origin, report: Report) -> Facts {
        let artifact_type = report.artifact_type.as_deref().unwrap_or("");
        let is_image = artifact_type == "container_image";
        if !is_image {
            self.warnings.push(format!(
                "the report is a scan of {}, not of a container image: image metadata (config, user, layers) is missing",
                if artifact_type.is_empty() { "an unknown artifact type".to_owned() } else { format!("a {artifact_type}") }
            ));
        }
        let metadata = report.metadata.unwrap_or_default();
        self.map_image(&metadata, report.artifact_name.as_deref(), is_image);
        self.map_layers(&metadata);
        // A filesystem or repository scan carries an empty ImageConfig: it says
        // nothing about an image (not even that it runs as root).
        if let Some(config) = metadata.image_config.filter(|_| is_image) {
            config.apply_to(&mut self.facts);
        }
        if let Some(os) = metadata.os {
            self.facts.base.get_or_insert_with(Base::default).os =
                Some(os_info(&os.family, &os.name, os.eosl));
        }
        for result in report.results.unwrap_or_default() {
            self.map_result(result);
        }
        for (class, skipped) in std::mem::take(&mut self.skipped) {
            self.warnings.push(skipped.warning(&class));
        }
        self.facts.sources.push(Source {
            tool: "trivy".to_owned(),
            tool_version: report.trivy.and_then(|t| t.version),
            format: Format::TrivyJson.name().to_owned(),
            scanned_at: report.created_at,
            file: Some(origin.to_string()),
            warnings: self.warnings,
        });
        self.facts
    }

    fn map_image(&mut self, metadata: &Metadata, artifact_name: Option<&str>, is_image: bool) {
        let image = &mut self.facts.image;
        let first_tag = metadata.repo_tags.as_ref().and_then(|t| t.first());
        image.reference = metadata
            .reference
            .clone()
            .or_else(|| first_tag.cloned())
            .or_else(|| {
                // An image scanned from a tarball is named by its path, not a reference.
                artifact_name
                    .filter(|name| is_image && !name.is_empty() && !looks_like_path(name))
                    .map(str::to_owned)
            });
        image.digest = metadata
            .repo_digests
            .as_ref()
            .and_then(|digests| digests.first())
            .and_then(|d| d.split_once('@'))
            .map(|(_, digest)| digest.to_owned())
            .filter(|d| is_digest(d));
        image.config_digest = metadata.image_id.clone().filter(|id| is_digest(id));
    }

    fn map_layers(&mut self, metadata: &Metadata) {
        if let Some(layers) = &metadata.layers {
            self.facts.layers = Some(
                layers
                    .iter()
                    .map(|l| Layer {
                        digest: l.digest.clone(),
                        diff_id: l.diff_id.clone(),
                        size: l.size,
                    })
                    .collect(),
            );
        } else if let Some(diff_ids) = &metadata.diff_ids {
            self.facts.layers = Some(
                diff_ids
                    .iter()
                    .map(|d| Layer {
                        diff_id: Some(d.clone()),
                        ..Layer::default()
                    })
                    .collect(),
            );
        }
    }

    fn map_result(&mut self, result: ScanResult) {
        let class = result.class.as_deref().unwrap_or("");
        let ecosystem = result.kind.as_deref().unwrap_or("");
        match class {
            "os-pkgs" | "lang-pkgs" => {
                let vulnerabilities = self.facts.vulnerabilities.get_or_insert_with(Vec::new);
                for v in result.vulnerabilities.unwrap_or_default() {
                    let severity = match v.severity.as_deref() {
                        None => Severity::Unknown,
                        Some(word) => Severity::parse_lenient(word).unwrap_or_else(|| {
                            self.warnings.push(format!(
                                "{}: unknown severity {word:?} on {}, recorded as unknown",
                                result.target, v.vulnerability_id
                            ));
                            Severity::Unknown
                        }),
                    };
                    vulnerabilities.push(map_vulnerability(v, severity, ecosystem));
                }
                if let Some(packages) = result.packages {
                    let list = self.facts.packages.get_or_insert_with(Vec::new);
                    list.extend(packages.into_iter().map(|p| map_package(p, ecosystem)));
                }
            }
            "secret" => {
                let secrets = self.facts.secrets.get_or_insert_with(Vec::new);
                for s in result.secrets.unwrap_or_default() {
                    secrets.push(Secret {
                        rule_id: s.rule_id,
                        category: s.category,
                        severity: s
                            .severity
                            .as_deref()
                            .and_then(Severity::parse_lenient)
                            .unwrap_or_default(),
                        title: s.title,
                        path: Some(result.target.clone()).filter(|t| !t.is_empty()),
                        line: s.start_line,
                        layer: s.layer.and_then(LayerRef::id),
                    });
                }
            }
            "config" => {
                let misconfigurations = self.facts.misconfigurations.get_or_insert_with(Vec::new);
                for m in result.misconfigurations.unwrap_or_default() {
                    // Passed checks are listed too when Trivy runs with --include-non-failures.
                    if m.status.as_deref().is_some_and(|s| s != "FAIL") {
                        continue;
                    }
                    misconfigurations.push(Misconfiguration {
                        id: m.id,
                        title: m.title,
                        severity: m
                            .severity
                            .as_deref()
                            .and_then(Severity::parse_lenient)
                            .unwrap_or_default(),
                        kind: m.kind.or_else(|| Some(ecosystem.to_owned())),
                        message: m.message,
                        target: Some(result.target.clone()),
                    });
                }
            }
            other => {
                let count = result.licenses.as_ref().map_or(0, Vec::len)
                    + result.custom_resources.as_ref().map_or(0, Vec::len);
                let skipped = self.skipped.entry(other.to_owned()).or_default();
                skipped.results += 1;
                skipped.entries += count;
                if skipped.targets.len() < Skipped::TARGETS_SHOWN {
                    skipped.targets.push(result.target.clone());
                }
            }
        }
    }
}

fn map_vulnerability(v: TrivyVulnerability, severity: Severity, ecosystem: &str) -> Vulnerability {
    let purl = v.pkg_identifier.and_then(|i| i.purl);
    let fixed_versions: Vec<String> = v
        .fixed_version
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let (fix_state, vex_status) = match v.status.as_deref() {
        Some("fixed") => (FixState::Fixed, None),
        Some("affected" | "fix_deferred") => (FixState::NotFixed, None),
        Some("will_not_fix" | "end_of_life") => (FixState::WontFix, None),
        // The vendor says the package is not affected: that is a VEX-grade statement.
        Some("not_affected") => (FixState::Unknown, Some(VexStatus::NotAffected)),
        Some("under_investigation") => (FixState::Unknown, Some(VexStatus::UnderInvestigation)),
        // Reports from before Trivy recorded a status: a fixed version means fixable.
        _ if !fixed_versions.is_empty() => (FixState::Fixed, None),
        Some(_) | None => (FixState::Unknown, None),
    };
    let cvss_score = v.cvss.as_ref().and_then(best_cvss);
    Vulnerability {
        id: v.vulnerability_id,
        aliases: v.vendor_ids.unwrap_or_default(),
        package: v.pkg_name,
        package_version: v.installed_version,
        package_type: Some(package_type(purl.as_deref(), ecosystem)),
        purl,
        severity,
        cvss_score,
        fixed_versions,
        fix_state,
        title: v.title,
        published: v.published_date,
        layer: v.layer.and_then(LayerRef::id),
        locations: v.pkg_path.filter(|p| !p.is_empty()).into_iter().collect(),
        vex_status,
        vex_justification: None,
        sources: vec!["trivy".to_owned()],
    }
}

/// NVD's score when there is one (the common reference), else the highest vendor score.
fn best_cvss(scores: &BTreeMap<String, Cvss>) -> Option<f64> {
    let score = |c: &Cvss| c.v40_score.or(c.v3_score).or(c.v2_score);
    scores.get("nvd").and_then(score).or_else(|| {
        scores
            .values()
            .filter_map(score)
            .max_by(|a, b| a.total_cmp(b))
    })
}

fn map_package(p: TrivyPackage, ecosystem: &str) -> Package {
    let purl = p.identifier.and_then(|i| i.purl);
    // OS package versions in Trivy are split into epoch, version and release.
    let mut version = p.version;
    if let Some(release) = p.release.filter(|r| !r.is_empty()) {
        version = format!("{version}-{release}");
    }
    if let Some(epoch) = p.epoch.filter(|e| *e > 0) {
        version = format!("{epoch}:{version}");
    }
    Package {
        package_type: package_type(purl.as_deref(), ecosystem),
        name: p.name,
        version,
        purl,
        licenses: p.licenses.unwrap_or_default(),
        layer: p.layer.and_then(LayerRef::id),
        source_name: p.src_name,
    }
}

/// The package ecosystem, from the purl type when there is one, else from Trivy's target type.
fn package_type(purl: Option<&str>, trivy_type: &str) -> String {
    if let Some(kind) = purl.and_then(ecosystem_from_purl) {
        return kind;
    }
    match trivy_type {
        "alpine" | "wolfi" | "chainguard" => "apk",
        "debian" | "ubuntu" => "deb",
        "centos" | "redhat" | "rocky" | "alma" | "amazon" | "oracle" | "photon" | "suse"
        | "opensuse" | "opensuse.leap" | "fedora" | "cbl-mariner" | "azurelinux" => "rpm",
        "jar" | "pom" | "gradle" | "sbt" => "maven",
        "gemspec" | "bundler" => "gem",
        "python-pkg" | "pip" | "pipenv" | "poetry" | "uv" => "pypi",
        "node-pkg" | "npm" | "yarn" | "pnpm" | "bun" => "npm",
        "gobinary" | "gomod" => "gomod",
        "cargo" | "rustbinary" => "cargo",
        "nuget" | "dotnet-core" | "packages-props" => "nuget",
        "composer" | "composer-vendor" => "composer",
        "" => "unknown",
        other => other,
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_type_prefers_the_purl() {
        assert_eq!(
            package_type(Some("pkg:apk/alpine/musl@1.1"), "debian"),
            "apk"
        );
        assert_eq!(package_type(Some("pkg:golang/x/y@1"), ""), "gomod");
        assert_eq!(package_type(None, "jar"), "maven");
        assert_eq!(package_type(None, "ubuntu"), "deb");
        assert_eq!(package_type(None, "exotic"), "exotic");
    }

    #[test]
    fn cvss_prefers_nvd_then_highest() {
        let mut scores = BTreeMap::new();
        scores.insert(
            "redhat".into(),
            Cvss {
                v3_score: Some(9.1),
                v2_score: None,
                v40_score: None,
            },
        );
        assert_eq!(best_cvss(&scores), Some(9.1));
        scores.insert(
            "nvd".into(),
            Cvss {
                v3_score: Some(5.3),
                v2_score: Some(5.0),
                v40_score: None,
            },
        );
        assert_eq!(best_cvss(&scores), Some(5.3));
    }
}
