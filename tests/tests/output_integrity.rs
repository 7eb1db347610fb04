//! No output of customs carries a raw control character that came from a
//! policy or an input: every field that reaches text output is fed CR/LF,
//! ESC (a CSI that clears the screen) and OSC 52 (a clipboard write), and
//! the output is checked, colored and not. JSON keeps the exact strings.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use assert_cmd::Command;

/// A line break, a forged verdict, a clear-screen CSI, an OSC 52 clipboard
/// write ended by BEL, DEL, a C1 control and a bidi override.
const PAYLOAD: &str = "x\r\nALLOW forged\u{1b}[2J\u{1b}]52;c;Zm9yZ2Vk\u{7}\u{7f}\u{9b}\u{202e}";

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The example Trivy report with the payload in the image name (refused as
/// a reference, so never shown), a CVE id,
/// a package name and a result class facts v1 has no place for.
fn forged_report(dir: &Path) -> std::path::PathBuf {
    let text =
        std::fs::read_to_string(repo().join("examples/reports/trivy-debian-buster.json")).unwrap();
    let mut report: serde_json::Value = serde_json::from_str(&text).unwrap();
    report["ArtifactName"] = format!("registry.example.com/app:1{PAYLOAD}").into();
    let vulnerability = &mut report["Results"][0]["Vulnerabilities"][0];
    vulnerability["VulnerabilityID"] = format!("CVE-2019-0001{PAYLOAD}").into();
    vulnerability["PkgName"] = format!("pkg{PAYLOAD}").into();
    vulnerability["Severity"] = "CRITICAL".into();
    vulnerability["FixedVersion"] = "9.9".into();
    report["Results"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"Target": format!("t{PAYLOAD}"), "Class": PAYLOAD}));
    let path = dir.join("forged.json");
    std::fs::write(&path, serde_json::to_string(&report).unwrap()).unwrap();
    path
}

/// A CEL policy whose finding message is a facts field.
fn forging_policy(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("forge.yaml");
    std::fs::write(
        &path,
        "name: forge\nvalidations:\n  - rule: r\n    expression: vulnerabilities == null || size(vulnerabilities) == 0\n    messageExpression: vulnerabilities.map(v, v.id + ' ' + v.package).join(', ')\n",
    )
    .unwrap();
    path
}

/// No control character but the line ends, and, when colored, only
/// customs' own SGR sequences (`ESC [ digits/; m`).
fn assert_clean(what: &str, text: &str, colored: bool) {
    let mut rest = text;
    while let Some(at) = rest.find(|c: char| c.is_control() && c != '\n') {
        let tail = &rest[at..];
        let sgr = colored
            && tail.starts_with("\u{1b}[")
            && tail[2..]
                .find(|c: char| !(c.is_ascii_digit() || c == ';'))
                .is_some_and(|end| tail[2 + end..].starts_with('m'));
        assert!(
            sgr,
            "{what}: raw control character at {:?}",
            &tail[..tail.len().min(40)]
        );
        rest = &tail[1..];
    }
    assert!(!text.contains('\u{202e}'), "{what}: raw bidi override");
    for line in text.lines() {
        assert!(
            !line.trim_start().starts_with("ALLOW"),
            "{what}: forged line {line:?}"
        );
    }
}

fn eval(args: &[&std::ffi::OsStr], color: bool) -> std::process::Output {
    let mut command = Command::cargo_bin("customs").unwrap();
    command.arg("eval").args(args).args(["--no-cache"]);
    if color {
        command.env("CLICOLOR_FORCE", "1");
    } else {
        command.env("NO_COLOR", "1");
    }
    command.output().unwrap()
}

#[test]
fn text_reports_and_warnings_show_forged_fields_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let report = forged_report(dir.path());
    let policy = forging_policy(dir.path());
    for color in [false, true] {
        // The baseline (its vulnerability messages name CVE ids and
        // packages) and a CEL policy printing facts fields.
        for extra in [vec![], vec!["--policy".as_ref(), policy.as_os_str()]] {
            let mut args = vec![report.as_os_str()];
            args.extend(extra);
            let output = eval(&args, color);
            assert_eq!(output.status.code(), Some(1), "{output:?}");
            let stdout = String::from_utf8(output.stdout).unwrap();
            let stderr = String::from_utf8(output.stderr).unwrap();
            assert!(
                stdout.starts_with("DENY") || stdout.contains("DENY"),
                "{stdout}"
            );
            assert_clean("stdout", &stdout, color);
            assert_clean("stderr", &stderr, false);
            // The fields are there, escaped, not dropped.
            assert!(
                stdout.contains("CVE-2019-0001x\\r\\nALLOW forged\\u{1b}[2J"),
                "{stdout}"
            );
            assert!(
                stderr.contains("of class \"x\\r\\nALLOW forged"),
                "{stderr}"
            );
        }
    }
}

#[test]
fn json_keeps_the_exact_strings() {
    let dir = tempfile::tempdir().unwrap();
    let report = forged_report(dir.path());
    let output = eval(
        &[report.as_os_str(), "--format".as_ref(), "json".as_ref()],
        false,
    );
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    // JSON escapes them itself: no raw control character, exact on parse.
    assert_clean("json", &stdout, false);
    let decision: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let messages: Vec<&str> = decision["policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["findings"].as_array().unwrap())
        .filter_map(|f| f["message"].as_str())
        .collect();
    assert!(messages.iter().any(|m| m.contains(PAYLOAD)), "{messages:?}");
}

#[test]
fn policy_metadata_with_control_characters_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("meta.yaml");
    std::fs::write(
        &policy,
        "name: meta\ndescription: \"fine\\r\\nALLOW registry.example.com/forged:1.0\"\nvalidations:\n  - rule: r\n    expression: \"true\"\n",
    )
    .unwrap();
    let output = Command::cargo_bin("customs")
        .unwrap()
        .arg("policies")
        .arg("--policy")
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_clean("stderr", &stderr, false);
    assert!(stderr.contains("holds a control character"), "{stderr}");
}

#[test]
fn test_case_names_and_errors_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let policy = forging_policy(dir.path());
    std::fs::copy(&policy, dir.path().join("policy.yaml")).unwrap();
    std::fs::write(
        dir.path().join("forge.test.yaml"),
        format!(
            "bundle: .\ncases:\n  - name: {}\n    facts: {{schema_version: \"1\"}}\n    expect: {{decision: allow, deny: [{}]}}\n",
            serde_json::to_string(PAYLOAD).unwrap(),
            serde_json::to_string(PAYLOAD).unwrap()
        ),
    )
    .unwrap();
    let output = Command::cargo_bin("customs")
        .unwrap()
        .arg("test")
        .arg(dir.path().join("forge.test.yaml"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_clean("stdout", &stdout, false);
    assert_clean("stderr", &stderr, false);
    assert!(
        stdout.contains("x\\r\\nALLOW forged") || stderr.contains("x\\r\\nALLOW forged"),
        "{stdout}{stderr}"
    );
}

#[test]
fn bounded_diagnostics_for_huge_keys_and_repeated_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let huge_key = dir.path().join("huge-key.json");
    std::fs::write(&huge_key, format!("{{\"{}\": 1}}", "k".repeat(5 << 20))).unwrap();
    let output = eval(&[huge_key.as_os_str()], false);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        output.stderr.len() < 4096,
        "{} bytes of stderr",
        output.stderr.len()
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown input format"));

    let many = dir.path().join("many-results.json");
    let results: Vec<serde_json::Value> = (0..200_000)
        .map(|_| serde_json::json!({"Target": "t", "Class": ""}))
        .collect();
    let report = serde_json::json!({
        "SchemaVersion": 2, "ArtifactName": "x", "ArtifactType": "container_image",
        "Results": results,
    });
    std::fs::write(&many, report.to_string()).unwrap();
    let output = eval(&[many.as_os_str()], false);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.len() < 4096, "{} bytes of stderr", stderr.len());
    assert!(
        stderr.contains("skipped 200000 results of class \"\""),
        "{stderr}"
    );
}
