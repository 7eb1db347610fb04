//! Secrets' values never leave the inputs: reports that carry them (a
//! scanner's unmasked match, environment values in image configs, a pod's
//! env and its last-applied annotation) go through every command and output
//! format, at debug log level, and through errors of malformed variants; no
//! value appears in any stdout, stderr or error message.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::json;

/// The values planted in the inputs; none may come out.
const SECRETS: [&str; 7] = [
    "AKIAHYGIENE0SECRET01",
    "hygiene-db-password-02",
    "hygiene-oci-env-token-03",
    "hygiene-docker-env-04",
    "hygiene-pod-env-value-05",
    "hygiene-last-applied-06",
    "hygiene-highlighted-07",
];

fn write(dir: &Path, name: &str, value: &serde_json::Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    path
}

/// A Trivy image report whose secret finding is not masked, with the image
/// config's environment.
fn trivy_report() -> serde_json::Value {
    json!({
        "SchemaVersion": 2,
        "ArtifactName": "registry.example.com/shop/api:1.0",
        "ArtifactType": "container_image",
        "Metadata": {
            "OS": {"Family": "alpine", "Name": "3.19.1"},
            "ImageConfig": {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Env": [format!("DB_PASSWORD={}", SECRETS[1]), "PATH=/usr/bin"], "User": "app"}
            }
        },
        "Results": [{
            "Target": "app/config.sh",
            "Class": "secret",
            "Secrets": [{
                "RuleID": "aws-access-key-id",
                "Category": "AWS",
                "Severity": "CRITICAL",
                "Title": "AWS Access Key ID",
                "StartLine": 3,
                "EndLine": 3,
                "Match": format!("export AWS_ACCESS_KEY_ID={}", SECRETS[0]),
                "Code": {"Lines": [{
                    "Number": 3,
                    "Content": format!("export AWS_ACCESS_KEY_ID={}", SECRETS[0]),
                    "Highlighted": format!("export AWS_ACCESS_KEY_ID={}", SECRETS[6]),
                    "IsCause": true
                }]}
            }]
        }]
    })
}

fn oci_config() -> serde_json::Value {
    json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": [format!("API_TOKEN={}", SECRETS[2])], "User": "1000"},
        "rootfs": {"type": "layers", "diff_ids": []}
    })
}

fn docker_inspect() -> serde_json::Value {
    json!([{
        "Id": "sha256:1111111111111111111111111111111111111111111111111111111111111111",
        "RepoTags": ["registry.example.com/shop/api:1.0"],
        "Config": {"Env": [format!("SESSION_KEY={}", SECRETS[3])], "User": "app"},
        "Architecture": "amd64",
        "Os": "linux"
    }])
}

fn admission_review() -> serde_json::Value {
    let container = json!({
        "name": "api",
        "image": "registry.example.com/shop/api@sha256:1111111111111111111111111111111111111111111111111111111111111111",
        "env": [{"name": "DB_PASSWORD", "value": SECRETS[4]}]
    });
    let last_applied =
        json!({"spec": {"containers": [{"env": [{"value": SECRETS[5]}]}]}}).to_string();
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "1",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "shop",
            "name": "api",
            "operation": "CREATE",
            "object": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": "api",
                    "namespace": "shop",
                    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": last_applied}
                },
                "spec": {"containers": [container]}
            }
        }
    })
}

fn assert_no_secret(what: &str, output: &std::process::Output) {
    for stream in [&output.stdout, &output.stderr] {
        let text = String::from_utf8_lossy(stream);
        for secret in SECRETS {
            assert!(!text.contains(secret), "{what}: {secret} leaked:\n{text}");
        }
    }
}

#[test]
fn no_secret_value_reaches_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let image_inputs = [
        write(dir.path(), "trivy.json", &trivy_report()),
        write(dir.path(), "config.json", &oci_config()),
        write(dir.path(), "inspect.json", &docker_inspect()),
    ];
    let admission = write(dir.path(), "admission.json", &admission_review());

    for input in &image_inputs {
        let facts = Command::cargo_bin("customs")
            .unwrap()
            .args(["facts", "-vv"])
            .arg(input)
            .output()
            .unwrap();
        assert!(facts.status.success(), "{facts:?}");
        assert_no_secret(&format!("customs facts {}", input.display()), &facts);
    }
    // The facts did see the secret and the environment, by name only.
    let facts = Command::cargo_bin("customs")
        .unwrap()
        .arg("facts")
        .arg(&image_inputs[0])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&facts.stdout);
    assert!(stdout.contains("aws-access-key-id"), "{stdout}");
    assert!(stdout.contains("DB_PASSWORD"), "{stdout}");

    // Each image input alone and with the pod that runs it (three inputs
    // about one image would disagree on its config digest, and be refused).
    for format in ["text", "json", "sarif", "junit"] {
        for input in &image_inputs {
            for with_admission in [false, true] {
                let mut command = Command::cargo_bin("customs").unwrap();
                command.args(["eval", "-vv", "--format", format]).arg(input);
                if with_admission {
                    command.arg(&admission);
                }
                let output = command.output().unwrap();
                // Evaluated (allowed or denied), never an error.
                assert!(
                    matches!(output.status.code(), Some(0 | 1)),
                    "{format}: {output:?}"
                );
                assert_no_secret(
                    &format!("customs eval --format {format} {}", input.display()),
                    &output,
                );
            }
        }
    }
    // The secret finding denies: the finding is there, its value is not.
    let output = Command::cargo_bin("customs")
        .unwrap()
        .args(["eval", "--format", "json"])
        .arg(&image_inputs[0])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("aws-access-key-id"), "{stdout}");
    let facts_of_admission = Command::cargo_bin("customs")
        .unwrap()
        .arg("facts")
        .arg(&admission)
        .output()
        .unwrap();
    assert!(
        facts_of_admission.status.success(),
        "{facts_of_admission:?}"
    );
    assert_no_secret("customs facts (admission)", &facts_of_admission);
}

#[test]
fn errors_about_fields_that_hold_secrets_do_not_quote_them() {
    let dir = tempfile::tempdir().unwrap();
    // Each is malformed exactly where the secret is: the error must say where, not what.
    let mut env_not_a_list = oci_config();
    env_not_a_list["config"]["Env"] = json!(format!("API_TOKEN={}", SECRETS[2]));
    let mut env_entry_not_a_string = docker_inspect();
    env_entry_not_a_string[0]["Config"]["Env"] = json!([{"SESSION_KEY": SECRETS[3]}]);
    let mut match_not_a_string = trivy_report();
    match_not_a_string["Results"][0]["Secrets"][0]["StartLine"] = json!(SECRETS[0]);
    let mut pod_env_not_a_list = admission_review();
    pod_env_not_a_list["request"]["object"]["spec"]["containers"][0]["env"] =
        json!(format!("DB_PASSWORD={}", SECRETS[4]));
    let cases = [
        ("env-not-a-list.json", env_not_a_list),
        ("env-entry.json", env_entry_not_a_string),
        ("secret-start-line.json", match_not_a_string),
        ("pod-env.json", pod_env_not_a_list),
    ];
    for (name, document) in cases {
        let path = write(dir.path(), name, &document);
        let output = Command::cargo_bin("customs")
            .unwrap()
            .args(["eval", "-vv"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        // Either an error that names the file, or (a field the importer does
        // not read, like a pod's env) a verdict; never the value.
        assert!(
            output.status.code() == Some(2) && stderr.contains(name)
                || matches!(output.status.code(), Some(0 | 1)),
            "{name}: {output:?}"
        );
        assert_no_secret(name, &output);
    }
}
