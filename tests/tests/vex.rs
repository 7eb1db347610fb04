//! OpenVEX: every corpus document imports, and a statement changes a finding
//! only for the image and package it names.
//!
//! The corpus has no scanner report that a corpus VEX document is about, so the
//! statements applied to the debian-buster report below are written here from
//! the OpenVEX v0.2.0 specification.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use customs::{EvalOptions, PolicyDecision, PreparedFacts};
use customs_facts::import::{Format, Origin, detect, import_bytes, import_file};
use customs_facts::{Facts, VexStatus};
use customs_tests::{baseline, corpus_dir, corpus_files, engine};
use serde_json::Value;

fn vex(product: &str, subcomponent: &str, status: &str) -> Facts {
    let doc = format!(
        r#"{{
  "@context": "https://openvex.dev/ns/v0.2.0",
  "@id": "https://example.com/vex/1",
  "author": "Platform Security",
  "timestamp": "2026-11-01T00:00:00Z",
  "version": 1,
  "statements": [{{
    "vulnerability": {{"name": "CVE-2019-18224"}},
    "products": [{{"@id": "{product}", "subcomponents": [{{"@id": "{subcomponent}"}}]}}],
    "status": "{status}",
    "justification": "vulnerable_code_not_in_execute_path"
  }}]
}}"#
    );
    import_bytes(&Origin::named("vex.json"), doc.as_bytes()).unwrap()
}

fn buster() -> Facts {
    import_file(&corpus_dir().join("trivy/debian-buster.json")).unwrap()
}

fn libidn2(facts: &Facts) -> &customs_facts::Vulnerability {
    facts
        .vulnerabilities
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.id == "CVE-2019-18224")
        .unwrap()
}

#[test]
fn every_openvex_document_imports() {
    for file in corpus_files("openvex") {
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(
            detect(&Origin::file(&file), &bytes).unwrap(),
            Format::OpenVex,
            "{}",
            file.display()
        );
        let raw: Value = serde_json::from_slice(&bytes).unwrap();
        let facts = import_file(&file).unwrap();
        assert_eq!(
            facts.vex.len(),
            raw["statements"].as_array().unwrap().len(),
            "{}",
            file.display()
        );
        // Alone, a VEX document is about no vulnerability that is known, and says so.
        assert_eq!(facts.unmatched_vex().len(), facts.vex.len());
        // VEX statements are not facts of their own: nothing shows in the document.
        assert!(
            !serde_json::to_string(&facts)
                .unwrap()
                .contains("statements")
        );
    }
}

#[test]
fn not_affected_marks_the_finding_in_either_order() {
    let statement = vex(
        "pkg:oci/trivy-test-images",
        "pkg:deb/debian/libidn2-0",
        "not_affected",
    );
    for merged in [
        Facts::merge_all([buster(), statement.clone()]).unwrap(),
        Facts::merge_all([statement.clone(), buster()]).unwrap(),
    ] {
        let v = libidn2(&merged);
        assert_eq!(v.vex_status, Some(VexStatus::NotAffected));
        assert_eq!(
            v.vex_justification.as_deref(),
            Some("vulnerable_code_not_in_execute_path")
        );
        assert!(merged.unmatched_vex().is_empty());
        // The other finding of the report is untouched.
        let bash = merged
            .vulnerabilities
            .as_ref()
            .unwrap()
            .iter()
            .find(|v| v.package == "bash")
            .unwrap();
        assert_eq!(bash.vex_status, None);
    }
}

#[test]
fn statements_about_other_images_or_packages_do_not_apply() {
    let other_digest = format!("pkg:oci/trivy-test-images@sha256%3A{}", "f".repeat(64));
    for statement in [
        vex("pkg:oci/alpine", "pkg:deb/debian/libidn2-0", "not_affected"),
        vex(
            "pkg:oci/trivy-test-images",
            "pkg:deb/debian/openssl",
            "not_affected",
        ),
        vex(
            "pkg:oci/trivy-test-images",
            "pkg:deb/debian/libidn2-0@9.9",
            "not_affected",
        ),
    ] {
        let merged = Facts::merge_all([buster(), statement]).unwrap();
        assert_eq!(libidn2(&merged).vex_status, None);
        assert_eq!(merged.unmatched_vex().len(), 1);
        let unmatched: Vec<String> = merged
            .import_warnings()
            .into_iter()
            .filter(|w| w.ends_with("applies to no vulnerability of this image"))
            .collect();
        assert_eq!(unmatched.len(), 1, "{unmatched:?}");
        assert!(unmatched[0].contains("CVE-"), "{unmatched:?}");
    }
    // A product pinned by digest applies only to that digest.
    let mut pinned = buster();
    pinned.image.digest = Some(format!("sha256:{}", "a".repeat(64)));
    let merged = Facts::merge_all([
        pinned.clone(),
        vex(&other_digest, "pkg:deb/debian/libidn2-0", "not_affected"),
    ])
    .unwrap();
    assert_eq!(libidn2(&merged).vex_status, None);
    let same_digest = format!("pkg:oci/trivy-test-images@sha256%3A{}", "a".repeat(64));
    let merged = Facts::merge_all([
        pinned,
        vex(&same_digest, "pkg:deb/debian/libidn2-0", "not_affected"),
    ])
    .unwrap();
    assert_eq!(libidn2(&merged).vex_status, Some(VexStatus::NotAffected));
}

fn vulnerabilities_decision(facts: Facts) -> (PolicyDecision, Vec<String>) {
    let bundle = baseline();
    let decision = engine().evaluate(
        &bundle,
        &PreparedFacts::new(facts),
        &EvalOptions::at(1_795_000_000),
    );
    let report = decision
        .policies
        .iter()
        .find(|p| p.name == "vulnerabilities")
        .unwrap();
    (
        report.decision,
        decision
            .denied_rules()
            .into_iter()
            .map(str::to_owned)
            .collect(),
    )
}

#[test]
fn vex_not_affected_lifts_the_vulnerabilities_deny_and_nothing_else() {
    let (before, denied_before) = vulnerabilities_decision(buster());
    assert_eq!(before, PolicyDecision::Deny);
    assert!(denied_before.contains(&"vulnerabilities".to_owned()));

    let with_vex = Facts::merge_all([
        buster(),
        vex(
            "pkg:oci/trivy-test-images",
            "pkg:deb/debian/libidn2-0",
            "not_affected",
        ),
    ])
    .unwrap();
    let (after, denied_after) = vulnerabilities_decision(with_vex);
    assert_eq!(after, PolicyDecision::Allow);
    let expected: Vec<String> = denied_before
        .into_iter()
        .filter(|r| r != "vulnerabilities")
        .collect();
    assert_eq!(denied_after, expected);

    // "affected" keeps it counted.
    let affected = Facts::merge_all([
        buster(),
        vex(
            "pkg:oci/trivy-test-images",
            "pkg:deb/debian/libidn2-0",
            "affected",
        ),
    ])
    .unwrap();
    assert_eq!(vulnerabilities_decision(affected).0, PolicyDecision::Deny);
}

#[test]
fn an_unknown_vex_context_is_refused() {
    let doc = br#"{"@context": "https://openvex.dev/ns/v9", "statements": []}"#;
    let err = import_bytes(&Origin::named("v.json"), doc)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("openvex version https://openvex.dev/ns/v9 is not supported"),
        "{err}"
    );
}

#[test]
fn a_document_of_more_than_100000_statements_is_refused() {
    let statements: Vec<serde_json::Value> = (0..100_001)
        .map(|i| serde_json::json!({"vulnerability": {"name": format!("CVE-2024-{i}")}, "status": "not_affected"}))
        .collect();
    let document = serde_json::json!({
        "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.com/vex",
        "author": "test", "timestamp": "2026-01-01T00:00:00Z", "version": 1,
        "statements": statements,
    });
    let error = customs_facts::import::import_bytes(
        &customs_facts::import::Origin::named("big.openvex.json"),
        document.to_string().as_bytes(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("big.openvex.json")
            && error.contains("100001 statements, more than the 100000"),
        "{error}"
    );
}
