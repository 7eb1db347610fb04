//! The real Clair (v4 reports, clair-scanner and klar) and Snyk outputs of
//! ../shared/corpus: counts are taken from the raw files, and the fields
//! that change decisions (fix state, ids, severity, CVSS, the image
//! reference) are checked against them.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeSet, HashMap};

use customs::{EvalOptions, PolicyDecision, PreparedFacts};
use customs_facts::import::{Format, Origin, detect, import_file};
use customs_facts::{FixState, Severity, VexStatus};
use customs_tests::{baseline, corpus_dir, corpus_files, engine};
use serde_json::Value;

fn raw(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The id Clair's name starts with, as the importer must read it.
fn clair_id(name: &str) -> String {
    name.split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_end_matches(':')
        .to_owned()
}

#[test]
fn every_clair_and_snyk_corpus_file_is_detected() {
    let mut seen = Vec::new();
    for file in corpus_files("clair")
        .into_iter()
        .chain(corpus_files("snyk"))
    {
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        let format = detect(&Origin::file(&file), &std::fs::read(&file).unwrap()).unwrap();
        let expected = if name.ends_with(".v4.json") {
            Format::ClairV4
        } else if name.starts_with("dd-clair-scanner") {
            Format::ClairScanner
        } else if name.starts_with("dd-klar") {
            Format::Klar
        } else {
            Format::SnykJson
        };
        assert_eq!(format, expected, "{name}");
        import_file(&file).unwrap_or_else(|e| panic!("{e}"));
        seen.push(name);
    }
    assert_eq!(seen.len(), 12, "{seen:?}");
}

#[test]
fn clair_v4_reports_read_ids_fixes_severities_and_scores_as_clair_means_them() {
    for file in corpus_files("clair")
        .into_iter()
        .filter(|f| f.to_str().unwrap().ends_with(".v4.json"))
    {
        let report = raw(&file);
        let facts = import_file(&file).unwrap();
        let vulnerabilities = facts.vulnerabilities.as_ref().unwrap();
        let name = file.display().to_string();

        // One vulnerability per (id, package, version) of the raw pairs.
        let raw_vulns = report["vulnerabilities"].as_object().unwrap();
        let packages = report["packages"].as_object().unwrap();
        let mut triples = BTreeSet::new();
        let mut raw_fixed: HashMap<(String, String), Vec<String>> = HashMap::new();
        for (package_id, ids) in report["package_vulnerabilities"].as_object().unwrap() {
            let package = &packages[package_id];
            for id in ids.as_array().unwrap() {
                let v = &raw_vulns[id.as_str().unwrap()];
                let key = (
                    clair_id(v["name"].as_str().unwrap()),
                    package["name"].as_str().unwrap().to_owned(),
                    package["version"].as_str().unwrap().to_owned(),
                );
                raw_fixed
                    .entry((key.0.clone(), key.1.clone()))
                    .or_default()
                    .push(v["fixed_in_version"].as_str().unwrap_or("").to_owned());
                triples.insert(key);
            }
        }
        assert_eq!(vulnerabilities.len(), triples.len(), "{name}");
        let installed = packages.values().filter(|p| p["kind"] != "source").count();
        assert_eq!(facts.packages.as_ref().unwrap().len(), installed, "{name}");

        let scored: BTreeSet<&str> = report["enrichments"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(_, entries)| entries.as_array().unwrap())
            .flat_map(|entry| entry.as_object().unwrap().keys())
            .map(String::as_str)
            .collect();
        for v in vulnerabilities {
            assert!(
                !v.id.ends_with(':') && !v.id.contains(' '),
                "{name}: {}",
                v.id
            );
            let fixes = &raw_fixed[&(v.id.clone(), v.package.clone())];
            if fixes.iter().all(|f| f == "0:0") {
                // Debian's "not affected": never a fix.
                assert_ne!(v.fix_state, FixState::Fixed, "{name}: {}", v.id);
                assert_eq!(
                    v.vex_status,
                    Some(VexStatus::NotAffected),
                    "{name}: {}",
                    v.id
                );
            }
            if v.fix_state == FixState::Fixed {
                assert!(v.fixed_versions.iter().all(|f| fixes.contains(f)));
            }
        }
        // Every vulnerability the CVSS enrichment scores has its score and
        // a severity.
        let with_score = raw_vulns
            .iter()
            .filter(|(id, _)| scored.contains(id.as_str()))
            .map(|(_, v)| clair_id(v["name"].as_str().unwrap()))
            .collect::<BTreeSet<_>>();
        for v in vulnerabilities
            .iter()
            .filter(|v| with_score.contains(&v.id))
        {
            let score = v.cvss_score.unwrap_or_else(|| panic!("{name}: {}", v.id));
            assert_eq!(v.severity, Severity::from_cvss(score), "{name}: {}", v.id);
            assert_ne!(v.severity, Severity::Unknown);
        }
    }
}

#[test]
fn the_debian_stretch_report_is_scored_and_not_affected() {
    let facts =
        import_file(&corpus_dir().join("clair/clair-action-debian-stretch.v4.json")).unwrap();
    let vulnerabilities = facts.vulnerabilities.as_ref().unwrap();
    assert_eq!(vulnerabilities.len(), 212);
    let scored = vulnerabilities
        .iter()
        .filter(|v| v.cvss_score.is_some())
        .count();
    assert!(scored >= 199, "{scored}");
    assert!(
        vulnerabilities
            .iter()
            .any(|v| v.cvss_score == Some(9.8) && v.severity == Severity::Critical)
    );
    assert!(vulnerabilities.iter().all(|v| v.is_vex_suppressed()));
    assert!(
        facts
            .import_warnings()
            .iter()
            .any(|w| w.contains("212 finding(s) with fixed version 0:0"))
    );
}

#[test]
fn rhel_advisories_are_one_vulnerability_per_package_with_their_cves() {
    let facts = import_file(&corpus_dir().join("clair/clair-action-quay-rhel8.v4.json")).unwrap();
    let vulnerabilities = facts.vulnerabilities.as_ref().unwrap();
    assert_eq!(vulnerabilities.len(), 29);
    let libarchive = vulnerabilities
        .iter()
        .find(|v| v.id == "RHSA-2022:0892")
        .unwrap();
    assert_eq!(
        libarchive.title.as_deref(),
        Some("libarchive security update (Moderate)")
    );
    assert_eq!(libarchive.aliases, ["CVE-2021-23177", "CVE-2021-31566"]);
    assert_eq!(libarchive.severity, Severity::Medium);
    assert_eq!(libarchive.fixed_versions, ["0:3.3.3-3.el8_5"]);
    let pyup = vulnerabilities
        .iter()
        .find(|v| v.id == "pyup.io-38834")
        .unwrap();
    assert_eq!(pyup.aliases, ["CVE-2020-26137"]);
    assert!(
        facts
            .import_warnings()
            .iter()
            .any(|w| w.contains("merged 10 repeated finding(s)"))
    );
}

#[test]
fn clair_v2_clients_read_as_their_own_formats() {
    let scanner_path = corpus_dir().join("clair/dd-clair-scanner-ubuntu-bionic.json");
    let report = raw(&scanner_path);
    let facts = import_file(&scanner_path).unwrap();
    assert_eq!(facts.image.reference.as_deref(), report["image"].as_str());
    let vulnerabilities = facts.vulnerabilities.as_ref().unwrap();
    assert_eq!(
        vulnerabilities.len(),
        report["vulnerabilities"].as_array().unwrap().len()
    );
    let os = facts.base.as_ref().unwrap().os.as_ref().unwrap();
    assert_eq!(
        (os.family.as_str(), os.version.as_str()),
        ("ubuntu", "18.04")
    );
    let fixed = report["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["fixedby"] != "")
        .count();
    assert_eq!(
        vulnerabilities
            .iter()
            .filter(|v| v.fix_state == FixState::Fixed)
            .count(),
        fixed
    );
    assert!(facts.packages.is_none());
    assert!(
        vulnerabilities
            .iter()
            .all(|v| v.package_type.as_deref() == Some("deb"))
    );

    let klar_path = corpus_dir().join("clair/dd-klar-centos7-mixed.json");
    let report = raw(&klar_path);
    let facts = import_file(&klar_path).unwrap();
    let vulnerabilities = facts.vulnerabilities.as_ref().unwrap();
    let by_severity = report["Vulnerabilities"].as_object().unwrap();
    assert_eq!(
        vulnerabilities.len(),
        by_severity
            .values()
            .map(|l| l.as_array().unwrap().len())
            .sum::<usize>()
    );
    for (word, expected) in [
        ("Defcon1", Severity::Critical),
        ("Critical", Severity::Critical),
        ("High", Severity::High),
        ("Medium", Severity::Medium),
        ("Low", Severity::Low),
        ("Unknown", Severity::Unknown),
    ] {
        let name = by_severity[word][0]["Name"].as_str().unwrap();
        let package = by_severity[word][0]["FeatureName"].as_str().unwrap();
        let v = vulnerabilities
            .iter()
            .find(|v| v.id == name && v.package == package)
            .unwrap_or_else(|| panic!("{word}: {name} {package}"));
        assert_eq!(v.severity, expected, "{word}");
    }
    let perl = vulnerabilities
        .iter()
        .find(|v| v.id == "RHSA-2019:0109")
        .unwrap();
    assert_eq!(perl.aliases, ["CVE-2018-18311"]);
    assert_eq!(perl.fixed_versions, ["4:5.16.3-294.el7_6"]);
    assert!(facts.image.reference.is_none() && facts.image.digest.is_none());
    assert!(
        facts
            .import_warnings()
            .iter()
            .any(|w| w.contains("klar names no image"))
    );
}

#[test]
fn snyk_reports_read_references_fixes_and_ids() {
    for file in corpus_files("snyk") {
        let report = raw(&file);
        let facts = import_file(&file).unwrap();
        let name = file.display().to_string();
        // One vulnerability per (CVE or Snyk id, package, version), apps too.
        let projects =
            std::iter::once(&report).chain(report["applications"].as_array().into_iter().flatten());
        let triples: BTreeSet<(String, String, String)> = projects
            .flat_map(|p| p["vulnerabilities"].as_array().unwrap())
            .map(|v| {
                let id = v["identifiers"]["CVE"][0]
                    .as_str()
                    .unwrap_or_else(|| v["id"].as_str().unwrap());
                (
                    id.to_owned(),
                    v["packageName"].as_str().unwrap().to_owned(),
                    v["version"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let vulnerabilities = facts.vulnerabilities.as_ref().unwrap();
        assert_eq!(vulnerabilities.len(), triples.len(), "{name}");
        assert!(facts.packages.is_none(), "{name}");
        assert!(
            facts
                .import_warnings()
                .iter()
                .any(|w| w.contains("the image's packages are unknown")),
            "{name}"
        );
        // A fix Snyk names only as the nearest one is a fix.
        for v in vulnerabilities {
            assert_eq!(
                v.fix_state == FixState::Fixed,
                !v.fixed_versions.is_empty(),
                "{name}: {}",
                v.id
            );
        }
    }
    let juiceshop =
        import_file(&corpus_dir().join("snyk/dd-juiceshop-container-issue9270.json")).unwrap();
    let image = &juiceshop.image;
    assert_eq!(
        (
            image.registry.as_deref(),
            image.repository.as_deref(),
            image.tag.as_deref()
        ),
        (Some("docker.io"), Some("sarim04/juiceshop"), Some("latest"))
    );
    let archive =
        import_file(&corpus_dir().join("snyk/dd-rpm-docker-archive-none-cvss.json")).unwrap();
    assert!(archive.image.reference.is_none());
    let permissions = &archive.vulnerabilities.as_ref().unwrap()[0];
    assert_eq!(permissions.aliases, ["SUSE-SU-2022:0141-1"]);
    assert_eq!(permissions.fixed_versions, ["20181225-23.12.1"]);
    let alpine =
        import_file(&corpus_dir().join("snyk/snyk-cli-alpine-app-vulns-grouped.json")).unwrap();
    let busybox = alpine
        .vulnerabilities
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.id == "CVE-2021-28831")
        .unwrap();
    assert_eq!(
        (busybox.fix_state, busybox.fixed_versions.as_slice()),
        (FixState::Fixed, &["1.32.1-r4".to_owned()][..])
    );
}

#[test]
fn minimal_image_says_the_packages_of_a_snyk_scan_are_unknown() {
    let facts =
        import_file(&corpus_dir().join("snyk/dd-juiceshop-container-issue9270.json")).unwrap();
    let decision = engine().evaluate(
        &baseline(),
        &PreparedFacts::new(facts),
        &EvalOptions::at(1_795_000_000),
    );
    let minimal = decision
        .policies
        .iter()
        .find(|p| p.name == "minimal-image")
        .unwrap();
    assert_eq!(minimal.decision, PolicyDecision::Warn);
    assert!(
        minimal.findings[0].message.contains("packages are unknown"),
        "{:?}",
        minimal.findings
    );
}
