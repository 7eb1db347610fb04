//! Clair v4 and Snyk container results written from the tools' published
//! formats, for cases the real outputs lack (a Clair layer, a scanner
//! merge); the real outputs are tested in corpus_clair_snyk.rs.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use customs_facts::import::{Format, Origin, detect, import_file};
use customs_facts::{Facts, FixState, Severity};

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(path)
}

#[test]
fn clair_report_maps_installed_packages_and_matches() {
    let path = data("clair/debian-report.json");
    assert_eq!(
        detect(&Origin::file(&path), &std::fs::read(&path).unwrap()).unwrap(),
        Format::ClairV4
    );
    let facts = import_file(&path).unwrap();
    assert_eq!(
        facts.image.digest.as_deref(),
        Some("sha256:9d8825ab20ac86b40eb71495bece1608a302fb180384740697a28c2b0a5a0fc6")
    );
    let os = facts.base.as_ref().unwrap().os.as_ref().unwrap();
    assert_eq!((os.family.as_str(), os.version.as_str()), ("debian", "10"));
    let packages = facts.packages.as_ref().unwrap();
    assert_eq!(
        packages.len(),
        3,
        "the source package is not an installed one"
    );
    assert!(packages.iter().all(|p| p.package_type == "deb"));
    let vulns = facts.vulnerabilities.as_ref().unwrap();
    assert_eq!(vulns.len(), 2);
    let openssl = vulns.iter().find(|v| v.id == "CVE-2021-3711").unwrap();
    assert_eq!(
        (openssl.severity, openssl.fix_state),
        (Severity::Critical, FixState::Fixed)
    );
    assert_eq!(openssl.fixed_versions, ["1.1.1d-0+deb10u7"]);
    assert_eq!(
        openssl.layer.as_deref(),
        Some("sha256:d000633a56813933cb0ac5ee3246cf7a4c0205db6290018a169d7cb096581046")
    );
    let bash = vulns.iter().find(|v| v.package == "bash").unwrap();
    assert_eq!(bash.fix_state, FixState::Unknown);
}

#[test]
fn snyk_results_merge_paths_and_use_cve_ids() {
    let path = data("snyk/debian-app.json");
    assert_eq!(
        detect(&Origin::file(&path), &std::fs::read(&path).unwrap()).unwrap(),
        Format::SnykJson
    );
    let facts = import_file(&path).unwrap();
    assert_eq!(facts.image.reference.as_deref(), Some("acme/app:1.4"));
    assert_eq!(
        facts.base.as_ref().unwrap().reference.as_deref(),
        Some("debian:10")
    );
    let vulns = facts.vulnerabilities.as_ref().unwrap();
    let ids: Vec<&str> = vulns.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, ["CVE-2021-3711", "CVE-2005-2541", "CVE-2021-44228"]);
    assert!(
        facts.sources[0]
            .warnings
            .iter()
            .any(|w| w.contains("merged 1 repeated finding"))
    );
    let log4j = &vulns[2];
    assert_eq!(log4j.package_type.as_deref(), Some("maven"));
    assert_eq!(
        log4j.aliases,
        [
            "SNYK-JAVA-ORGAPACHELOGGINGLOG4J-2314720",
            "GHSA-jfh8-c2jp-5v3q"
        ]
    );
    assert_eq!(vulns[1].fix_state, FixState::NotFixed);
}

#[test]
fn scanners_agree_on_one_finding() {
    // Clair and Snyk both see CVE-2021-3711 in openssl 1.1.1d-0+deb10u3: one finding, two sources.
    let merged = Facts::merge_all([
        import_file(&data("clair/debian-report.json")).unwrap(),
        import_file(&data("snyk/debian-app.json")).unwrap(),
    ])
    .unwrap();
    let openssl: Vec<_> = merged
        .vulnerabilities
        .as_ref()
        .unwrap()
        .iter()
        .filter(|v| v.id == "CVE-2021-3711")
        .collect();
    assert_eq!(openssl.len(), 1);
    assert_eq!(openssl[0].sources, ["clair", "snyk"]);
    assert_eq!(openssl[0].cvss_score, Some(9.8));
}
