//! Snyk container test results (`snyk container test IMAGE --json`): the OS
//! packages' vulnerabilities, and those of the applications in the image.
//!
//! Snyk lists a vulnerability once per dependency path; facts have no paths, so
//! repeats of one id in one package are merged (and counted in a warning). A
//! CVE id is used as the id when Snyk names one, so the finding merges with
//! other scanners'; the Snyk id is kept as an alias.

use serde::Deserialize;

use super::{Format, ImportError, Origin, parse_typed, plain_source};
use crate::model::{Base, Facts, FixState, Severity, Vulnerability};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Project {
    #[serde(default)]
    vulnerabilities: Vec<SnykVulnerability>,
    #[serde(default)]
    package_manager: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    docker: Option<Docker>,
    #[serde(default)]
    applications: Vec<Project>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Docker {
    #[serde(default)]
    base_image: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SnykVulnerability {
    id: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    package_name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    fixed_in: Vec<String>,
    #[serde(default)]
    identifiers: Option<Identifiers>,
    #[serde(default)]
    cvss_score: Option<f64>,
    #[serde(default)]
    publication_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "UPPERCASE")]
struct Identifiers {
    #[serde(default)]
    cve: Vec<String>,
}

fn ecosystem(package_manager: &str) -> &str {
    match package_manager {
        "pip" | "poetry" | "pipenv" => "pypi",
        "maven" | "gradle" | "sbt" => "maven",
        "gomodules" | "golangdep" => "gomod",
        "rubygems" => "gem",
        "yarn" | "npm" | "pnpm" => "npm",
        other => other,
    }
}

pub(super) fn import(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let project: Project = parse_typed(origin, bytes, Format::SnykJson)?;
    let mut facts = Facts::default();
    let mut warnings = Vec::new();
    facts.image.reference = project.path.clone().filter(|p| !p.is_empty());
    if let Some(base) = project.docker.as_ref().and_then(|d| d.base_image.clone()) {
        facts.base.get_or_insert_with(Base::default).reference = Some(base);
    }
    let mut vulnerabilities: Vec<Vulnerability> = Vec::new();
    let mut repeats = 0;
    for p in std::iter::once(&project).chain(&project.applications) {
        let package_type = ecosystem(p.package_manager.as_deref().unwrap_or("unknown")).to_owned();
        for v in &p.vulnerabilities {
            let cves = v
                .identifiers
                .as_ref()
                .map(|i| i.cve.clone())
                .unwrap_or_default();
            let id = cves.first().cloned().unwrap_or_else(|| v.id.clone());
            if vulnerabilities.iter().any(|known| {
                known.id == id
                    && known.package == v.package_name
                    && known.package_version == v.version
            }) {
                repeats += 1;
                continue;
            }
            let mut aliases: Vec<String> = cves.into_iter().skip(1).collect();
            if id != v.id {
                aliases.push(v.id.clone());
            }
            vulnerabilities.push(Vulnerability {
                id,
                aliases,
                package: v.package_name.clone(),
                package_version: v.version.clone(),
                package_type: Some(package_type.clone()),
                purl: None,
                severity: v
                    .severity
                    .as_deref()
                    .and_then(Severity::parse_lenient)
                    .unwrap_or_default(),
                cvss_score: v.cvss_score,
                fix_state: if v.fixed_in.is_empty() {
                    FixState::NotFixed
                } else {
                    FixState::Fixed
                },
                fixed_versions: v.fixed_in.clone(),
                title: v.title.clone(),
                published: v.publication_time.clone(),
                layer: None,
                vex_status: None,
                vex_justification: None,
                sources: vec!["snyk".to_owned()],
            });
        }
    }
    if repeats > 0 {
        warnings.push(format!("merged {repeats} repeated finding(s): Snyk lists a vulnerability once per dependency path"));
    }
    facts.vulnerabilities = Some(vulnerabilities);
    facts
        .sources
        .push(plain_source("snyk", Format::SnykJson, origin, warnings));
    Ok(facts)
}
