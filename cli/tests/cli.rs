//! The `customs` command, end to end, on real tool outputs from ../shared/corpus.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

/// 2026-11-23T00:00:00Z, so decisions do not change as the calendar moves.
const NOW: &str = "2026-11-23T00:00:00Z";

fn corpus(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus")
        .join(path)
}

fn customs() -> Command {
    let mut cmd = Command::cargo_bin("customs").unwrap();
    // Keep the compile cache inside the build tree, not the user's home.
    cmd.env(
        "XDG_CACHE_HOME",
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cache"),
    );
    cmd
}

/// The embedded baseline written out as a bundle directory of components.
fn baseline_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rule, bytes) in customs::baseline::POLICIES {
        std::fs::write(dir.path().join(format!("{rule}.wasm")), bytes).unwrap();
    }
    dir
}

fn eval_json(input: &PathBuf, extra: &[&str]) -> (i32, Value) {
    let output = customs()
        .args(["eval", "--format", "json", "--now", NOW])
        .args(extra)
        .arg(input)
        .output()
        .unwrap();
    let code = output.status.code().unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: stdout is not JSON ({e}): {}",
            input.display(),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (code, json)
}

fn denied_rules(decision: &Value) -> Vec<String> {
    let mut rules: Vec<String> = decision["policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["findings"].as_array().unwrap().iter())
        .filter(|f| f["effect"] == "deny")
        .map(|f| f["rule"].as_str().unwrap().to_owned())
        .collect();
    rules.sort();
    rules.dedup();
    rules
}

#[test]
fn every_trivy_report_gets_a_decision_with_reasons() {
    for file in customs_tests::corpus_files("trivy") {
        let (code, decision) = eval_json(&file, &[]);
        let name = file.display();
        assert!(code == 0 || code == 1, "{name}: exit {code}");
        assert_eq!(
            decision["decision"],
            if code == 0 { "allow" } else { "deny" },
            "{name}"
        );
        let policies = decision["policies"].as_array().unwrap();
        assert_eq!(policies.len(), customs::baseline::POLICIES.len(), "{name}");
        assert_eq!(
            decision["summary"]["policies"],
            customs::baseline::POLICIES.len(),
            "{name}"
        );
        assert_eq!(decision["summary"]["errors"], 0, "{name}: {decision}");
        if code == 1 {
            assert!(
                !denied_rules(&decision).is_empty(),
                "{name}: a deny names its rules"
            );
        }
    }
}

#[test]
fn fixable_critical_vulnerabilities_are_denied() {
    for file in [
        "trivy/debian-buster.json",
        "trivy/fluentd-gems-image.json",
        "trivy/spring4shell-jre11-image.json",
    ] {
        let (code, decision) = eval_json(&corpus(file), &[]);
        assert_eq!(code, 1, "{file}");
        assert!(
            denied_rules(&decision).contains(&"vulnerabilities".to_owned()),
            "{file}: {decision}"
        );
        let report = decision["policies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "vulnerabilities")
            .unwrap();
        assert!(
            report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["severity"] == "critical"),
            "{file}: {report}"
        );
    }
    // debian-buster's one critical: CVE-2019-5094 in e2fsprogs, fixed upstream.
    let (_, decision) = eval_json(&corpus("trivy/debian-buster.json"), &[]);
    let text = decision.to_string();
    assert!(text.contains("(critical)"), "{text}");
}

#[test]
fn root_images_are_denied_by_no_root_user() {
    let (code, decision) = eval_json(&corpus("trivy/alpine-310.json"), &[]);
    assert_eq!(code, 1);
    let report = decision["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "no-root-user")
        .unwrap();
    assert_eq!(report["decision"], "deny");
    assert_eq!(
        report["findings"][0]["message"],
        "the image config sets no USER, so it runs as root; add a USER with a non-zero uid"
    );
}

#[test]
fn json_output_follows_the_contract() {
    let (_, decision) = eval_json(&corpus("trivy/alpine-310.json"), &[]);
    assert_eq!(
        decision["image"]["reference"],
        "ghcr.io/aquasecurity/trivy-test-images:alpine-310"
    );
    assert!(
        decision["image"]
            .as_object()
            .unwrap()
            .contains_key("digest")
    );
    for policy in decision["policies"].as_array().unwrap() {
        for key in [
            "name",
            "version",
            "decision",
            "duration_us",
            "findings",
            "error",
            "failure",
        ] {
            assert!(policy.get(key).is_some(), "policy lacks {key}: {policy}");
        }
        assert!(["allow", "warn", "deny", "error"].contains(&policy["decision"].as_str().unwrap()));
        for finding in policy["findings"].as_array().unwrap() {
            for key in ["rule", "message", "severity", "subject"] {
                assert!(finding.get(key).is_some(), "finding lacks {key}: {finding}");
            }
        }
    }
    for key in ["policies", "denied", "warned", "errors"] {
        assert!(decision["summary"][key].is_u64(), "summary lacks {key}");
    }
}

#[test]
fn parameters_change_the_decision() {
    // fluentd: one critical and one high, both fixable.
    let input = corpus("trivy/fluentd-gems-image.json");
    let (_, decision) = eval_json(
        &input,
        &["--param", "vulnerabilities.min-severity=critical"],
    );
    let report = decision["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "vulnerabilities")
        .unwrap();
    assert_eq!(report["findings"].as_array().unwrap().len(), 1, "{report}");
}

#[test]
fn an_allowed_image_exits_zero() {
    // An undeclared parameter is a usage error, not a silently kept default.
    customs()
        .args(["eval", "--param", "no-root-user.nothing=1"])
        .arg(corpus("trivy/rockylinux-8.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "policy no-root-user does not declare \"nothing\"",
        ));
    let baseline = baseline_dir();
    let output = customs()
        .args(["eval", "--now", NOW, "--format", "json", "--policy"])
        .arg(baseline.path().join("no-secrets.wasm"))
        .arg(corpus("trivy/rockylinux-8.json"))
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let decision: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(decision["decision"], "allow");
    assert_eq!(decision["summary"]["warned"], 1);
}

#[test]
fn text_output_names_rules_and_reasons() {
    customs()
        .args(["eval", "--now", NOW])
        .arg(corpus("trivy/alpine-310.json"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "DENY ghcr.io/aquasecurity/trivy-test-images:alpine-310",
        ))
        .stdout(predicate::str::contains("✗ no-root-user"))
        .stdout(predicate::str::contains(
            "the base OS alpine 3.10.2 reached end of life",
        ))
        .stdout(predicate::str::contains(format!(
            "{} policies:",
            customs::baseline::POLICIES.len()
        )));
}

#[test]
fn sarif_output_is_sarif_2_1_0() {
    let output = customs()
        .args(["eval", "--now", NOW, "--format", "sarif"])
        .arg(corpus("trivy/debian-buster.json"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let sarif: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "customs");
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for result in results {
        assert!(
            rules.contains(&result["ruleId"].as_str().unwrap()),
            "{result}"
        );
        assert!(["error", "warning", "note"].contains(&result["level"].as_str().unwrap()));
        assert!(result["message"]["text"].is_string());
        // GitHub code scanning needs a location on every result.
        assert!(
            result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].is_string(),
            "{result}"
        );
    }
}

#[test]
fn junit_output_is_a_test_report() {
    let output = customs()
        .args(["eval", "--now", NOW, "--format", "junit"])
        .arg(corpus("trivy/debian-buster.json"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let xml = String::from_utf8(output.stdout).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains("<testsuite name=\"customs "), "{xml}");
    assert_eq!(
        xml.matches("<testcase ").count(),
        customs::baseline::POLICIES.len(),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"vulnerabilities denied the image\""),
        "{xml}"
    );
}

#[test]
fn facts_and_schema_print_json() {
    let output = customs()
        .arg("facts")
        .arg(corpus("trivy/alpine-310.json"))
        .output()
        .unwrap();
    assert!(output.status.success());
    let facts: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(facts["schema_version"], "1");
    assert_eq!(facts["user"]["is_root"], true);
    assert_eq!(facts["base"]["os"]["family"], "alpine");
    assert_eq!(facts["vulnerabilities"].as_array().unwrap().len(), 4);

    let output = customs().arg("schema").output().unwrap();
    assert!(output.status.success());
    let schema: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(schema["title"], "Facts");
    assert!(schema["properties"]["vulnerabilities"].is_object());
}

#[test]
fn facts_made_once_evaluate_the_same() {
    let input = corpus("trivy/debian-buster.json");
    let dir = tempfile::tempdir().unwrap();
    let facts_file = dir.path().join("facts.json");
    let output = customs().arg("facts").arg(&input).output().unwrap();
    std::fs::write(&facts_file, &output.stdout).unwrap();
    let (code_a, mut a) = eval_json(&input, &[]);
    let (code_b, mut b) = eval_json(&facts_file, &[]);
    assert_eq!(code_a, code_b);
    for d in [&mut a, &mut b] {
        for p in d["policies"].as_array_mut().unwrap() {
            p["duration_us"] = Value::Null;
        }
    }
    assert_eq!(a, b);
}

#[test]
fn stdin_is_an_input() {
    customs()
        .args(["eval", "--now", NOW, "--format", "json", "-"])
        .pipe_stdin(corpus("trivy/alpine-310.json"))
        .unwrap()
        .assert()
        .code(1)
        .stdout(predicate::str::contains("\"decision\": \"deny\""));
}

#[test]
fn a_filesystem_scan_is_evaluated_with_a_warning() {
    let output = customs()
        .args(["eval", "--now", NOW, "--format", "json"])
        .arg(corpus("trivy/dd-fs-misconfig-secrets.json"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .contains("not of a container image: image metadata (config, user, layers) is missing"),
        "{stderr}"
    );
    let decision: Value = serde_json::from_slice(&output.stdout).unwrap();
    // Its embedded secrets deny; the value never reaches the output.
    assert!(denied_rules(&decision).contains(&"no-secrets".to_owned()));
    assert!(!String::from_utf8_lossy(&output.stdout).contains("GITHUB_PAT="));
}

#[test]
fn bad_inputs_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        path
    };
    let cases: Vec<(PathBuf, &str)> = vec![
        (write("truncated.json", b"{\"SchemaVersion\": 2, \"Results\": ["), "not valid JSON at line 1"),
        (write("empty.json", b""), "the input is empty"),
        (write("unknown.json", b"{\"hello\": 1}"), "unknown input format (top-level keys: \"hello\")"),
        (write("array.json", b"[1, 2]"), "a JSON array at the top level"),
        (write("v1.json", b"{\"SchemaVersion\": 1, \"Results\": []}"), "trivy-json version 1 is not supported"),
        (
            write("types.json", b"{\"SchemaVersion\": 2, \"Results\": [{\"Class\": \"os-pkgs\", \"Vulnerabilities\": [{\"VulnerabilityID\": 1}]}]}"),
            "at Results[0].Vulnerabilities[0].VulnerabilityID",
        ),
        (dir.path().join("missing.json"), "missing.json: cannot open the input"),
    ];
    for (path, expected) in cases {
        customs()
            .arg("eval")
            .arg(&path)
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains(expected));
    }
}

#[test]
fn bad_policies_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let not_wasm = dir.path().join("policy.wasm");
    std::fs::write(&not_wasm, b"this is not wasm").unwrap();
    customs()
        .args(["eval", "--policy"])
        .arg(&not_wasm)
        .arg(corpus("trivy/alpine-310.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "policy.wasm: not a WebAssembly component",
        ));

    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    customs()
        .args(["eval", "--policy"])
        .arg(&core)
        .arg(corpus("trivy/alpine-310.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("it is a core WebAssembly module"));

    customs()
        .args(["eval", "--bundle"])
        .arg(dir.path().join("nope"))
        .arg(corpus("trivy/alpine-310.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nope: cannot read it"));

    customs()
        .args(["eval", "--param", "min-severity"])
        .arg(corpus("trivy/alpine-310.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("must be NAME=VALUE"));
}

#[test]
fn usage_errors_exit_2() {
    customs().arg("eval").assert().code(2);
    customs().arg("frobnicate").assert().code(2);
    customs()
        .args(["eval", "--format", "yaml"])
        .arg(corpus("trivy/alpine-310.json"))
        .assert()
        .code(2);
}

#[test]
fn a_bundle_directory_is_loaded() {
    let baseline = baseline_dir();
    customs()
        .args(["policies", "--bundle"])
        .arg(baseline.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("param min-severity=\"high\""))
        .stdout(predicate::str::contains("rule no-root-user"));
}

/// A VEX document for the image of grype/dd-ubuntu-2004-fix-available.json,
/// written from the OpenVEX v0.2.0 specification (the corpus has none for it).
const UBUNTU_VEX: &str = r#"{
  "@context": "https://openvex.dev/ns/v0.2.0",
  "@id": "https://example.com/vex/ubuntu-app-1",
  "author": "Platform Security",
  "timestamp": "2024-04-30T00:00:00Z",
  "version": 1,
  "statements": [{
    "vulnerability": {"name": "CVE-2009-3882"},
    "products": [{"@id": "pkg:oci/app@sha256%3A4e1c538085614cbc0c9affbb206abbec3220118425409662e46b3d4bb71d1b6d"}],
    "status": "not_affected",
    "justification": "vulnerable_code_not_in_execute_path"
  }]
}"#;

#[test]
fn a_vex_statement_turns_a_denied_image_into_an_allowed_one() {
    // The image runs as a non-root user, on a supported OS, freshly built: only
    // its one fixable High vulnerability denies it.
    let report = corpus("grype/dd-ubuntu-2004-fix-available.json");
    let now = "2024-05-01T00:00:00Z";
    let eval = |inputs: &[&std::path::Path]| {
        let output = customs()
            .args(["eval", "--format", "json", "--now", now])
            .args(inputs)
            .output()
            .unwrap();
        let decision: Value = serde_json::from_slice(&output.stdout).unwrap();
        (output.status.code().unwrap(), decision)
    };
    let (code, decision) = eval(&[&report]);
    assert_eq!(code, 1, "{decision}");
    assert_eq!(denied_rules(&decision), ["vulnerabilities"]);

    let dir = tempfile::tempdir().unwrap();
    let vex = dir.path().join("app.openvex.json");
    std::fs::write(&vex, UBUNTU_VEX).unwrap();
    let (code, decision) = eval(&[&report, &vex]);
    assert_eq!(code, 0, "{decision}");
    assert_eq!(decision["decision"], "allow");

    // The finding stays visible in the facts, marked not_affected.
    let output = customs()
        .arg("facts")
        .arg(&report)
        .arg(&vex)
        .output()
        .unwrap();
    let facts: Value = serde_json::from_slice(&output.stdout).unwrap();
    let v = &facts["vulnerabilities"][0];
    assert_eq!(v["id"], "CVE-2009-3882");
    assert_eq!(v["vex_status"], "not_affected");
}

#[test]
fn reports_sboms_and_vex_of_one_image_merge_into_one_document() {
    let dir = tempfile::tempdir().unwrap();
    let vex = dir.path().join("centos.openvex.json");
    std::fs::write(
        &vex,
        r#"{"@context": "https://openvex.dev/ns/v0.2.0", "statements": [{"vulnerability": {"name": "CVE-2019-18276"},
            "products": [{"@id": "pkg:oci/trivy-test-images"}], "status": "not_affected",
            "justification": "component_not_present"}]}"#,
    )
    .unwrap();
    let output = customs()
        .arg("facts")
        .arg(corpus("trivy/centos-7.json"))
        .arg(corpus("cyclonedx/trivy-centos-7.cdx.json"))
        .arg(corpus("spdx/trivy-centos-7.spdx.json"))
        .arg(&vex)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let facts: Value = serde_json::from_slice(&output.stdout).unwrap();
    let tools: Vec<&str> = facts["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["format"].as_str().unwrap())
        .collect();
    assert_eq!(
        tools,
        ["trivy-json", "cyclonedx-json", "spdx-json", "openvex"]
    );
    assert_eq!(
        facts["image"]["reference"],
        "ghcr.io/aquasecurity/trivy-test-images:centos-7"
    );
    assert_eq!(facts["vulnerabilities"].as_array().unwrap().len(), 3);
    assert_eq!(
        facts["packages"].as_array().unwrap().len(),
        2,
        "the two SBOMs list the same packages once"
    );
    let bash = facts["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["package"] == "bash")
        .unwrap();
    assert_eq!(bash["vex_status"], "not_affected");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("applies to no vulnerability"));
}

#[test]
fn help_names_every_input_format() {
    let output = customs().args(["eval", "--help"]).output().unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for format in customs_facts::import::Format::ALL {
        assert!(
            help.contains(format.name()),
            "`customs eval --help` does not name {}",
            format.name()
        );
    }
}
