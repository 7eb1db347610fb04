//! The baseline from the command line, on real inputs: misconfigurations in
//! a Trivy config scan, run-time hardening of an AdmissionReview, and the
//! evidence CI should require (`--require`).

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use customs_tests::{corpus_dir, missing_evidence};
use serde_json::Value;

fn admission(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/admission")
        .join(name)
}

/// `customs eval --format json INPUTS... EXTRA...`: exit code and decision.
fn eval(inputs: &[PathBuf], extra: &[&str]) -> (i32, Value) {
    let output = Command::cargo_bin("customs")
        .unwrap()
        .args(["eval", "--format", "json"])
        .args(inputs)
        .args(extra)
        .output()
        .unwrap();
    let decision = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (output.status.code().unwrap(), decision)
}

/// The decision and the finding messages of one baseline policy.
fn policy(decision: &Value, name: &str) -> (String, Vec<String>) {
    let report = decision["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no policy {name}: {decision:#}"));
    let messages = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap().to_owned())
        .collect();
    (report["decision"].as_str().unwrap().to_owned(), messages)
}

#[test]
fn a_dockerfile_misconfiguration_denies() {
    let (code, decision) = eval(&[corpus_dir().join("trivy/dockerfile-misconfig.json")], &[]);
    assert_eq!((code, decision["decision"].as_str()), (1, Some("deny")));
    let (verdict, messages) = policy(&decision, "misconfigurations");
    assert_eq!(verdict, "deny");
    assert!(
        messages[0].starts_with("DS-0002 (high) in Dockerfile"),
        "{messages:?}"
    );
    // Waived by its parameter, the same report no longer denies for it.
    let (_, decision) = eval(
        &[corpus_dir().join("trivy/dockerfile-misconfig.json")],
        &["--param", "misconfigurations.ignore=DS-0002"],
    );
    assert_eq!(policy(&decision, "misconfigurations").0, "allow");
}

#[test]
fn an_admission_review_is_judged_by_the_pod_security_standards() {
    let image = corpus_dir().join("trivy/alpine-310.json");
    let (code, decision) = eval(
        &[admission("pod-hardening-violations.json"), image.clone()],
        &[],
    );
    assert_eq!(code, 1);
    let (verdict, messages) = policy(&decision, "runtime-hardening");
    assert_eq!(verdict, "deny");
    for field in [
        "spec.hostNetwork",
        "hostPath volume mounts the node's /var/run/docker.sock",
        "container \"agent\": securityContext.privileged",
        "container \"agent\": securityContext.seccompProfile is Unconfined",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(field)),
            "{field:?} not in {messages:#?}"
        );
    }

    let (_, decision) = eval(&[admission("pod-restricted.json"), image.clone()], &[]);
    assert_eq!(
        policy(&decision, "runtime-hardening"),
        ("allow".to_owned(), vec![])
    );
    // The CEL baseline decides the same.
    let cel = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/cel/baseline.yaml");
    let cel = cel.to_str().unwrap();
    let (code, decision) = eval(
        &[admission("pod-hardening-violations.json"), image],
        &["--policy", cel],
    );
    assert_eq!(code, 1);
    let (_, messages) = policy(&decision, "baseline-cel");
    assert!(
        messages
            .iter()
            .any(|m| m.contains("(restricted): spec.hostNetwork is true")),
        "{messages:#?}"
    );
}

#[test]
fn an_sbom_alone_is_denied_when_ci_requires_a_scan() {
    let sbom = corpus_dir().join("syft-cyclonedx/guac-distroless-static-nonroot.cdx.json");
    let (code, decision) = eval(std::slice::from_ref(&sbom), &[]);
    assert!(missing_evidence(&decision).is_empty());
    assert_ne!(decision["decision"], "deny", "exit {code}: {decision:#}");

    let (code, decision) = eval(&[sbom], &["--require", "vulnerabilities"]);
    assert_eq!((code, decision["decision"].as_str()), (1, Some("deny")));
    assert_eq!(missing_evidence(&decision), ["vulnerabilities"]);
}

#[test]
fn a_misconfiguration_scan_can_be_required() {
    let image_scan = corpus_dir().join("trivy/alpine-310.json");
    let (code, decision) = eval(&[image_scan], &["--require", "misconfigurations"]);
    assert_eq!(code, 1);
    assert_eq!(missing_evidence(&decision), ["misconfigurations"]);

    let config_scan = corpus_dir().join("trivy/dockerfile-custom-policies-misconfig.json");
    let (_, decision) = eval(&[config_scan], &["--require", "misconfigurations"]);
    assert!(missing_evidence(&decision).is_empty(), "{decision:#}");
}
