//! Clair v4 vulnerability reports (`GET /matcher/api/v1/vulnerability_report/{digest}`).
//!
//! The report is keyed by ids: installed packages, the vulnerabilities that
//! match them (`package_vulnerabilities`), and where each package came from
//! (`environments`, with the layer that introduced it).

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::{Format, ImportError, Origin, is_digest, parse_typed, plain_source};
use crate::derive::os_info;
use crate::model::{Base, Facts, FixState, Package, Severity, Vulnerability};

#[derive(Deserialize)]
struct Report {
    manifest_hash: String,
    #[serde(default)]
    packages: BTreeMap<String, ClairPackage>,
    #[serde(default)]
    distributions: BTreeMap<String, Distribution>,
    #[serde(default)]
    environments: HashMap<String, Vec<Environment>>,
    #[serde(default)]
    vulnerabilities: HashMap<String, ClairVulnerability>,
    #[serde(default)]
    package_vulnerabilities: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
struct ClairPackage {
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct Distribution {
    #[serde(default)]
    did: String,
    #[serde(default)]
    version_id: String,
}

#[derive(Deserialize)]
struct Environment {
    #[serde(default)]
    package_db: String,
    #[serde(default)]
    introduced_in: Option<String>,
}

#[derive(Deserialize)]
struct ClairVulnerability {
    name: String,
    #[serde(default)]
    normalized_severity: Option<String>,
    #[serde(default)]
    fixed_in_version: Option<String>,
    #[serde(default)]
    issued: Option<String>,
}

/// The package ecosystem from the database Clair found the package in.
fn ecosystem(package_db: &str) -> &'static str {
    let db = package_db.to_ascii_lowercase();
    if db.contains("dpkg") {
        "deb"
    } else if db.contains("apk") {
        "apk"
    } else if db.contains("rpm") {
        "rpm"
    } else if db.contains("python") || db.contains("pypi") || db.contains("site-packages") {
        "pypi"
    } else if db.contains("maven") || db.contains(".jar") {
        "maven"
    } else if db.starts_with("go:") || db.contains("gobin") {
        "gomod"
    } else {
        "unknown"
    }
}

pub(super) fn import(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let report: Report = parse_typed(origin, bytes, Format::ClairV4)?;
    let mut facts = Facts::default();
    let mut warnings = Vec::new();
    if is_digest(&report.manifest_hash) {
        facts.image.digest = Some(report.manifest_hash.clone());
    } else {
        warnings.push(format!(
            "ignored manifest_hash {:?}: not a sha256/sha512 digest",
            report.manifest_hash
        ));
    }
    if let Some(distribution) = report.distributions.values().find(|d| !d.did.is_empty()) {
        facts.base.get_or_insert_with(Base::default).os =
            Some(os_info(&distribution.did, &distribution.version_id, None));
    }
    let environment = |id: &str| report.environments.get(id).and_then(|e| e.first());
    let mut packages = Vec::new();
    for (id, package) in &report.packages {
        // Source packages are where binaries were built from, not what is installed.
        if package.kind.as_deref() == Some("source") {
            continue;
        }
        let env = environment(id);
        packages.push(Package {
            name: package.name.clone(),
            version: package.version.clone(),
            package_type: ecosystem(env.map_or("", |e| e.package_db.as_str())).to_owned(),
            purl: None,
            licenses: Vec::new(),
            layer: env.and_then(|e| e.introduced_in.clone()),
            source_name: None,
        });
    }
    let mut vulnerabilities = Vec::new();
    for (package_id, ids) in &report.package_vulnerabilities {
        let Some(package) = report.packages.get(package_id) else {
            warnings.push(format!("package_vulnerabilities names package {package_id:?}, which the report does not list; skipped"));
            continue;
        };
        let env = environment(package_id);
        for id in ids {
            let Some(v) = report.vulnerabilities.get(id) else {
                warnings.push(format!("package {} names vulnerability {id:?}, which the report does not list; skipped", package.name));
                continue;
            };
            let fixed: Vec<String> = v
                .fixed_in_version
                .iter()
                .filter(|f| !f.is_empty())
                .cloned()
                .collect();
            vulnerabilities.push(Vulnerability {
                id: v
                    .name
                    .split_whitespace()
                    .next()
                    .unwrap_or(&v.name)
                    .to_owned(),
                aliases: Vec::new(),
                package: package.name.clone(),
                package_version: package.version.clone(),
                package_type: Some(ecosystem(env.map_or("", |e| e.package_db.as_str())).to_owned()),
                purl: None,
                severity: v
                    .normalized_severity
                    .as_deref()
                    .and_then(Severity::parse_lenient)
                    .unwrap_or_default(),
                cvss_score: None,
                fix_state: if fixed.is_empty() {
                    FixState::Unknown
                } else {
                    FixState::Fixed
                },
                fixed_versions: fixed,
                title: None,
                published: v.issued.clone().filter(|t| !t.starts_with("0001-01-01")),
                layer: env.and_then(|e| e.introduced_in.clone()),
                vex_status: None,
                vex_justification: None,
                sources: vec!["clair".to_owned()],
            });
        }
    }
    facts.packages = Some(packages);
    facts.vulnerabilities = Some(vulnerabilities);
    facts
        .sources
        .push(plain_source("clair", Format::ClairV4, origin, warnings));
    Ok(facts)
}
