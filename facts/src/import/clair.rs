//! Clair v4 vulnerability reports (`GET /matcher/api/v1/vulnerability_report/{digest}`).
//!
//! The report is keyed by ids: installed packages, the vulnerabilities that
//! match them (`package_vulnerabilities`), and where each package came from
//! (`environments`, with the layer that introduced it).
//!
//! Read as Clair's updaters write it: a vulnerability's `name` is an id and
//! sometimes a title (`RHSA-2022:0892: libarchive security update
//! (Moderate)`) or a second id (`pyup.io-42559 (CVE-2021-3572)`); Debian's
//! fixed version `0` (`0:0`) means "not affected"; a severity Clair leaves
//! `Unknown` is taken from the `clair.cvss` enrichment, whose score is kept;
//! an advisory listed once per repository (RHEL's baseos and appstream) is
//! one vulnerability of its package.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::{Format, ImportError, Origin, is_digest, parse_typed, plain_source};
use crate::derive::os_info;
use crate::model::{Base, Facts, FixState, Package, Severity, VexStatus, Vulnerability};

/// Why a finding with Debian's not-affected marker is `not_affected`.
const NOT_AFFECTED_REASON: &str =
    "clair: fixed in version 0, the Debian security tracker's mark for not affected";

#[derive(Deserialize)]
struct Report {
    manifest_hash: String,
    #[serde(default)]
    enrichments: HashMap<String, Vec<HashMap<String, Vec<Cvss>>>>,
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
struct Cvss {
    #[serde(rename = "baseScore", default)]
    base_score: Option<f64>,
}

#[derive(Deserialize)]
struct ClairVulnerability {
    name: String,
    #[serde(default)]
    updater: String,
    #[serde(default)]
    links: String,
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
    let scores = cvss_scores(&report.enrichments);
    let mut vulnerabilities: Vec<Vulnerability> = Vec::new();
    // (id, package, version) -> index: Clair lists an advisory once per
    // repository it applies through.
    let mut seen: HashMap<(String, String, String), usize> = HashMap::new();
    let (mut repeats, mut not_affected) = (0, 0);
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
            let name = AdvisoryName::parse(&v.name, &v.links);
            let key = (
                name.id.clone(),
                package.name.clone(),
                package.version.clone(),
            );
            let fixed = v
                .fixed_in_version
                .as_deref()
                .filter(|f| !f.is_empty())
                .map(str::to_owned);
            if let Some(&known) = seen.get(&key) {
                repeats += 1;
                let known = &mut vulnerabilities[known];
                if let Some(fixed) = fixed
                    && !is_not_affected_marker(&v.updater, &fixed)
                    && !known.fixed_versions.contains(&fixed)
                {
                    known.fixed_versions.push(fixed);
                    known.fix_state = FixState::Fixed;
                }
                continue;
            }
            let score = scores.get(id.as_str()).copied();
            let severity = match v.normalized_severity.as_deref().and_then(clair_severity) {
                Some(severity) if severity != Severity::Unknown => severity,
                _ => score.map(Severity::from_cvss).unwrap_or_default(),
            };
            // Debian's "fixed in 0": every version is fixed, i.e. not affected.
            let marker = fixed
                .as_deref()
                .is_some_and(|f| is_not_affected_marker(&v.updater, f));
            if marker {
                not_affected += 1;
            }
            let fixed_versions: Vec<String> = fixed.into_iter().filter(|_| !marker).collect();
            seen.insert(key, vulnerabilities.len());
            vulnerabilities.push(Vulnerability {
                id: name.id,
                aliases: name.aliases,
                package: package.name.clone(),
                package_version: package.version.clone(),
                package_type: Some(ecosystem(env.map_or("", |e| e.package_db.as_str())).to_owned()),
                purl: None,
                severity,
                cvss_score: score,
                fix_state: if fixed_versions.is_empty() {
                    FixState::Unknown
                } else {
                    FixState::Fixed
                },
                fixed_versions,
                title: name.title,
                published: v.issued.clone().filter(|t| !t.starts_with("0001-01-01")),
                layer: env.and_then(|e| e.introduced_in.clone()),
                locations: Vec::new(),
                vex_status: marker.then_some(VexStatus::NotAffected),
                vex_justification: marker.then(|| NOT_AFFECTED_REASON.to_owned()),
                sources: vec!["clair".to_owned()],
            });
        }
    }
    if repeats > 0 {
        warnings.push(format!(
            "merged {repeats} repeated finding(s): Clair lists an advisory once per repository it applies through"
        ));
    }
    if not_affected > 0 {
        warnings.push(format!(
            "{not_affected} finding(s) with fixed version 0:0 are recorded as not affected (vex_status not_affected): Debian's security tracker marks \"not affected\" so, and Clair's matcher still reports them"
        ));
    }
    facts.packages = Some(packages);
    facts.vulnerabilities = Some(vulnerabilities);
    facts
        .sources
        .push(plain_source("clair", Format::ClairV4, origin, warnings));
    Ok(facts)
}

/// Whether a fixed version is an updater's way of saying "not affected":
/// Debian's tracker gives fixed version `0` (Clair shows `0:0`).
fn is_not_affected_marker(updater: &str, fixed: &str) -> bool {
    updater.starts_with("debian") && matches!(fixed, "0" | "0:0")
}

/// The highest base score of each vulnerability in the `clair.cvss`
/// enrichment (one map of vulnerability id to CVSS records per entry).
fn cvss_scores(
    enrichments: &HashMap<String, Vec<HashMap<String, Vec<Cvss>>>>,
) -> HashMap<&str, f64> {
    let mut scores: HashMap<&str, f64> = HashMap::new();
    let cvss = enrichments
        .iter()
        .filter(|(kind, _)| kind.contains("enricher=clair.cvss"))
        .flat_map(|(_, entries)| entries);
    for entry in cvss {
        for (id, records) in entry {
            for score in records.iter().filter_map(|r| r.base_score) {
                if score.is_finite() && (0.0..=10.0).contains(&score) {
                    let best = scores.entry(id.as_str()).or_insert(score);
                    *best = best.max(score);
                }
            }
        }
    }
    scores
}

/// A severity word as Clair writes it (v2's `Defcon1` is above critical).
pub(super) fn clair_severity(word: &str) -> Option<Severity> {
    if word.eq_ignore_ascii_case("defcon1") {
        Some(Severity::Critical)
    } else {
        Severity::parse_lenient(word)
    }
}

/// A vulnerability name as Clair's updaters write it, split into the id,
/// a title and other ids it names.
#[derive(Debug, PartialEq)]
pub(super) struct AdvisoryName {
    pub(super) id: String,
    pub(super) title: Option<String>,
    pub(super) aliases: Vec<String>,
}

impl AdvisoryName {
    /// `CVE-2022-23219 glibc` (the rest is a package), `RHSA-2022:0892:
    /// libarchive security update (Moderate)` (the rest is a title),
    /// `pyup.io-42559 (CVE-2021-3572)` (a second id). CVE ids in `links`
    /// (an advisory's references) become aliases too.
    pub(super) fn parse(name: &str, links: &str) -> AdvisoryName {
        let name = name.trim();
        let (first, rest) = name
            .split_once(char::is_whitespace)
            .map_or((name, ""), |(first, rest)| (first, rest.trim()));
        let titled = first.ends_with(':');
        let id = first.trim_end_matches(':').to_owned();
        let mut aliases = Vec::new();
        for candidate in cve_ids_in(rest).chain(cve_ids_in(links)) {
            if candidate != id && !aliases.iter().any(|a| a == candidate) {
                aliases.push(candidate.to_owned());
            }
        }
        // pyup.io's own PVE ids name no CVE, but they are ids all the same.
        if let Some(inner) = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')'))
            && inner.starts_with("PVE-")
            && !inner.contains(char::is_whitespace)
        {
            aliases.push(inner.to_owned());
        }
        AdvisoryName {
            id,
            title: (titled && !rest.is_empty()).then(|| rest.to_owned()),
            aliases,
        }
    }
}

/// Every `CVE-YYYY-N…` in a text, in order.
pub(super) fn cve_ids_in(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices("CVE-").filter_map(move |(start, _)| {
        let rest = &text[start + 4..];
        let year = rest
            .get(..4)
            .filter(|y| y.bytes().all(|b| b.is_ascii_digit()))?;
        let number = rest[4..].strip_prefix('-')?;
        let digits = number.bytes().take_while(u8::is_ascii_digit).count();
        (year.len() == 4 && digits >= 4).then(|| &text[start..start + 4 + 4 + 1 + digits])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advisory_names_split_into_id_title_and_aliases() {
        let parse = |name: &str, links: &str| AdvisoryName::parse(name, links);
        assert_eq!(
            parse("CVE-2022-23219 glibc", ""),
            AdvisoryName {
                id: "CVE-2022-23219".into(),
                title: None,
                aliases: vec![]
            }
        );
        assert_eq!(
            parse(
                "RHSA-2022:0892: libarchive security update (Moderate)",
                "https://access.redhat.com/errata/RHSA-2022:0892 https://access.redhat.com/security/cve/CVE-2021-23177 https://access.redhat.com/security/cve/CVE-2021-31566"
            ),
            AdvisoryName {
                id: "RHSA-2022:0892".into(),
                title: Some("libarchive security update (Moderate)".into()),
                aliases: vec!["CVE-2021-23177".into(), "CVE-2021-31566".into()]
            }
        );
        assert_eq!(
            parse("pyup.io-42559 (CVE-2021-3572)", ""),
            AdvisoryName {
                id: "pyup.io-42559".into(),
                title: None,
                aliases: vec!["CVE-2021-3572".into()]
            }
        );
        assert_eq!(
            parse("pyup.io-37667 (PVE-2021-37667)", "").aliases,
            vec!["PVE-2021-37667".to_owned()]
        );
        assert_eq!(parse("ALAS-2021-1234:", "").id, "ALAS-2021-1234");
        assert_eq!(parse("", "").id, "");
        // Not an id: too few digits, no year.
        assert_eq!(cve_ids_in("CVE-2021-12 CVE-x CVE-").count(), 0);
        assert_eq!(
            cve_ids_in("(CVE-2018-18311)").collect::<Vec<_>>(),
            ["CVE-2018-18311"]
        );
    }

    #[test]
    fn defcon1_is_critical_and_other_words_as_elsewhere() {
        assert_eq!(clair_severity("Defcon1"), Some(Severity::Critical));
        assert_eq!(clair_severity("Negligible"), Some(Severity::Negligible));
        assert_eq!(clair_severity("Moderate"), Some(Severity::Medium));
        assert_eq!(clair_severity("bogus"), None);
    }
}
