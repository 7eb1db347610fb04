//! Outputs of the clients of Clair's v2 API, still common in CI pipelines
//! and older Harbor installations: clair-scanner (`--report`: the image,
//! the vulnerabilities not on its whitelist, every vulnerability) and klar
//! (`JSON_OUTPUT=true`: vulnerabilities grouped by severity, no image).
//!
//! Both list features (installed packages) only where a vulnerability
//! names them, so the facts have no package list; the OS comes from the
//! namespace (`ubuntu:18.04`, `centos:7`).

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use super::clair::{AdvisoryName, clair_severity, cve_ids_in};
use super::{Format, ImportError, Origin, parse_typed, plain_source};
use crate::derive::os_info;
use crate::model::{Base, Facts, FixState, Severity, Vulnerability};

#[derive(Deserialize)]
struct ClairScannerReport {
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    unapproved: Vec<String>,
    #[serde(default)]
    vulnerabilities: Vec<ClairScannerVulnerability>,
}

#[derive(Deserialize)]
struct ClairScannerVulnerability {
    featurename: String,
    #[serde(default)]
    featureversion: String,
    vulnerability: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    link: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    fixedby: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KlarReport {
    #[serde(default)]
    layer_count: Option<u64>,
    #[serde(default)]
    vulnerabilities: BTreeMap<String, Vec<KlarVulnerability>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KlarVulnerability {
    name: String,
    #[serde(default)]
    namespace_name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    link: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    fixed_by: String,
    feature_name: String,
    #[serde(default)]
    feature_version: String,
}

/// One finding as both clients give it.
struct Finding<'a> {
    name: &'a str,
    /// Where other ids may be named (links, a description).
    references: [&'a str; 2],
    package: &'a str,
    version: &'a str,
    namespace: &'a str,
    severity: &'a str,
    fixed_by: &'a str,
}

const NO_PACKAGE_LIST: &str = "the report lists only the packages a vulnerability was found in: the image's packages are unknown (add an SBOM)";

pub(super) fn import_clair_scanner(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let report: ClairScannerReport = parse_typed(origin, bytes, Format::ClairScanner)?;
    let mut facts = Facts::default();
    let mut warnings = vec![NO_PACKAGE_LIST.to_owned()];
    facts.image.reference = report.image.filter(|image| !image.is_empty());
    let findings = report.vulnerabilities.iter().map(|v| Finding {
        name: &v.vulnerability,
        references: [&v.link, ""],
        package: &v.featurename,
        version: &v.featureversion,
        namespace: &v.namespace,
        severity: &v.severity,
        fixed_by: &v.fixedby,
    });
    add_findings(&mut facts, findings, &mut warnings);
    // clair-scanner's whitelist is its own waiver list: customs decides
    // with its waivers, so approved findings stay (and are counted here).
    let unapproved: HashSet<&str> = report.unapproved.iter().map(String::as_str).collect();
    let approved = report
        .vulnerabilities
        .iter()
        .filter(|v| !unapproved.contains(v.vulnerability.as_str()))
        .count();
    if approved > 0 {
        warnings.push(format!(
            "{approved} finding(s) clair-scanner's whitelist approved are kept: waive them in customs' waivers file"
        ));
    }
    facts.sources.push(plain_source(
        "clair-scanner",
        Format::ClairScanner,
        origin,
        warnings,
    ));
    Ok(facts)
}

pub(super) fn import_klar(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let report: KlarReport = parse_typed(origin, bytes, Format::Klar)?;
    let mut facts = Facts::default();
    let mut warnings = vec![
        NO_PACKAGE_LIST.to_owned(),
        format!(
            "klar names no image{}: give the image's digest with another input (its manifest, config or a scan)",
            report
                .layer_count
                .map(|n| format!(" (it counted {n} layers)"))
                .unwrap_or_default()
        ),
    ];
    // Grouped by severity; each entry says its own severity as well.
    let findings = report.vulnerabilities.values().flatten().map(|v| Finding {
        name: &v.name,
        references: [&v.link, &v.description],
        package: &v.feature_name,
        version: &v.feature_version,
        namespace: &v.namespace_name,
        severity: &v.severity,
        fixed_by: &v.fixed_by,
    });
    add_findings(&mut facts, findings, &mut warnings);
    facts
        .sources
        .push(plain_source("klar", Format::Klar, origin, warnings));
    Ok(facts)
}

/// The findings as vulnerabilities (one per id, package and version), and
/// the OS from the first namespace.
fn add_findings<'a>(
    facts: &mut Facts,
    findings: impl Iterator<Item = Finding<'a>>,
    warnings: &mut Vec<String>,
) {
    let mut vulnerabilities: Vec<Vulnerability> = Vec::new();
    let mut seen = HashSet::new();
    let mut repeats = 0;
    for finding in findings {
        if facts.base.is_none()
            && let Some((family, version)) = finding.namespace.split_once(':')
        {
            facts.base.get_or_insert_with(Base::default).os = Some(os_info(family, version, None));
        }
        let [links, description] = finding.references;
        let mut name = AdvisoryName::parse(finding.name, links);
        for alias in cve_ids_in(description) {
            if alias != name.id && !name.aliases.iter().any(|a| a == alias) {
                name.aliases.push(alias.to_owned());
            }
        }
        if !seen.insert((
            name.id.clone(),
            finding.package.to_owned(),
            finding.version.to_owned(),
        )) {
            repeats += 1;
            continue;
        }
        let severity = clair_severity(finding.severity).unwrap_or_else(|| {
            warnings.push(format!(
                "{}: severity {:?} is not one customs knows; recorded as unknown",
                name.id, finding.severity
            ));
            Severity::Unknown
        });
        let fixed_versions: Vec<String> = Some(finding.fixed_by)
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .into_iter()
            .collect();
        vulnerabilities.push(Vulnerability {
            id: name.id,
            aliases: name.aliases,
            package: finding.package.to_owned(),
            package_version: finding.version.to_owned(),
            package_type: os_package_type(finding.namespace).map(str::to_owned),
            purl: None,
            severity,
            cvss_score: None,
            fix_state: if fixed_versions.is_empty() {
                FixState::Unknown
            } else {
                FixState::Fixed
            },
            fixed_versions,
            title: name.title,
            published: None,
            layer: None,
            locations: Vec::new(),
            vex_status: None,
            vex_justification: None,
            sources: vec!["clair".to_owned()],
        });
    }
    if repeats > 0 {
        warnings.push(format!("merged {repeats} repeated finding(s)"));
    }
    facts.vulnerabilities = Some(vulnerabilities);
}

/// The package ecosystem of a Clair v2 namespace's distribution.
fn os_package_type(namespace: &str) -> Option<&'static str> {
    let family = namespace.split(':').next().unwrap_or_default();
    match family {
        "ubuntu" | "debian" => Some("deb"),
        "centos" | "rhel" | "fedora" | "amzn" | "oracle" | "opensuse" | "sles" => Some("rpm"),
        "alpine" => Some("apk"),
        _ => None,
    }
}
