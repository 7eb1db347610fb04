//! `customs eval --require` / `EvalOptions::require`: facts a decision
//! cannot be made without deny by `evidence/missing`, whatever the
//! policies and waivers say.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use assert_cmd::Command;
use customs::{EvalOptions, Outcome, PolicyDecision, PreparedFacts, RequiredFact};
use customs_facts::import::import_file;
use customs_tests::{baseline, corpus_dir, engine, missing_evidence};
use serde_json::Value;

/// `customs eval --format json` of an OCI config (no scan) with a policy
/// that always allows, and `extra` arguments: exit code and decision.
fn eval(extra: &[&str]) -> (i32, Value) {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("always.yaml");
    std::fs::write(
        &policy,
        "name: always\nversion: 1.0.0\nvalidations:\n  - rule: always/ok\n    expression: \"true\"\n    message: never\n",
    )
    .unwrap();
    let waivers = dir.path().join("waivers.yaml");
    std::fs::write(
        &waivers,
        "waivers:\n  - rule: evidence/missing\n    image: \"*\"\n    reason: try to waive missing evidence\n    owner: ci@example.com\n    expires: 2099-01-01\n",
    )
    .unwrap();
    let output = Command::cargo_bin("customs")
        .unwrap()
        .args(["eval", "--format", "json", "--policy"])
        .arg(&policy)
        .arg(corpus_dir().join("oci-config/containers-image-httpd-2.4.23.config.json"))
        .args(
            extra
                .iter()
                .map(|a| a.replace("WAIVERS", waivers.to_str().unwrap())),
        )
        .output()
        .unwrap();
    let decision = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (output.status.code().unwrap(), decision)
}

#[test]
fn a_missing_scan_denies_only_when_required() {
    let (code, decision) = eval(&[]);
    assert_eq!((code, decision["decision"].as_str()), (0, Some("allow")));
    assert!(missing_evidence(&decision).is_empty());

    let (code, decision) = eval(&[
        "--require",
        "vulnerabilities,config",
        "--require",
        "secrets",
    ]);
    assert_eq!((code, decision["decision"].as_str()), (1, Some("deny")));
    // The config is there; the scans are not.
    assert_eq!(missing_evidence(&decision), ["vulnerabilities", "secrets"]);

    // A waiver cannot make missing evidence present.
    let (code, decision) = eval(&["--require", "vulnerabilities", "--waivers", "WAIVERS"]);
    assert_eq!((code, decision["decision"].as_str()), (1, Some("deny")));
    assert_eq!(missing_evidence(&decision), ["vulnerabilities"]);
}

#[test]
fn an_unknown_fact_name_is_a_usage_error() {
    let output = Command::cargo_bin("customs")
        .unwrap()
        .args(["eval", "--require", "vulns", "x.json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("expected one of vulnerabilities"),
        "{stderr}"
    );
}

#[test]
fn the_library_adds_the_evidence_report_after_the_policies() {
    let facts = import_file(&corpus_dir().join("trivy/alpine-310.json")).unwrap();
    let prepared = PreparedFacts::new(facts);
    let mut options = EvalOptions::at(1_795_000_000);
    let without = engine().evaluate(&baseline(), &prepared, &options);
    options.require = RequiredFact::ALL.to_vec();
    let with = engine().evaluate(&baseline(), &prepared, &options);
    assert_eq!(with.policies.len(), without.policies.len() + 1);
    let evidence = with.policies.last().unwrap();
    assert_eq!(evidence.decision, PolicyDecision::Deny);
    // Trivy gave the scan (vulnerabilities and secrets) and the packages.
    let subjects: Vec<&str> = evidence
        .findings
        .iter()
        .filter_map(|f| f.subject.as_deref())
        .collect();
    assert!(!subjects.contains(&"vulnerabilities"), "{subjects:?}");
    assert!(subjects.contains(&"signatures"), "{subjects:?}");
    assert_eq!(with.decision, Outcome::Deny);
}
