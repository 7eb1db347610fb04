//! The CI integrations in the repository run what they say: the GitHub
//! Action's steps, the GitLab template's script and the pre-commit hooks
//! are read from their files and run here, with the customs just built on
//! PATH, on real reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// PATH with the customs binary the tests run first.
fn path_with_customs() -> String {
    let customs = assert_cmd::cargo::cargo_bin("customs");
    format!(
        "{}:{}",
        customs.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn yaml(file: &str) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(root().join(file)).unwrap()).unwrap()
}

/// A report the baseline denies (Alpine 3.10, end of life, critical CVEs).
fn denied_report() -> PathBuf {
    root().join("policies/baseline/tests/fixtures/trivy-alpine-310.json")
}

/// `${{ github.action_path }}` and `${{ inputs.NAME }}` as GitHub expands them.
fn expand(text: &str, inputs: &serde_json::Map<String, Value>) -> String {
    let mut out = text.replace("${{ github.action_path }}", &root().display().to_string());
    for (name, value) in inputs {
        out = out.replace(
            &format!("${{{{ inputs.{name} }}}}"),
            value.as_str().unwrap_or_default(),
        );
    }
    out
}

#[test]
fn the_github_action_denies_and_writes_the_sarif_it_uploads() {
    let action = yaml("action.yml");
    let mut inputs = serde_json::Map::new();
    for (name, spec) in action["inputs"].as_object().unwrap() {
        inputs.insert(name.clone(), spec["default"].clone());
    }
    inputs.insert(
        "inputs".to_owned(),
        Value::String(denied_report().display().to_string()),
    );
    let work = tempfile::tempdir().unwrap();
    let steps = action["runs"]["steps"].as_array().unwrap();
    let mut ran = 0;
    for step in steps {
        let Some(run) = step["run"].as_str() else {
            // The upload step: it must upload the file the run step wrote.
            assert_eq!(step["uses"], "github/codeql-action/upload-sarif@v3");
            assert_eq!(
                expand(step["with"]["sarif_file"].as_str().unwrap(), &inputs),
                "customs.sarif"
            );
            continue;
        };
        assert_eq!(step["shell"], "bash");
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(expand(run, &inputs))
            .current_dir(work.path())
            .env("PATH", path_with_customs());
        for (name, value) in step["env"].as_object().into_iter().flatten() {
            command.env(name, expand(value.as_str().unwrap(), &inputs));
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(String::from_utf8_lossy(&output.stdout).contains("DENY"));
        ran += 1;
    }
    assert_eq!(ran, 1);
    let sarif: Value =
        serde_json::from_slice(&std::fs::read(work.path().join("customs.sarif")).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(!sarif["runs"][0]["results"].as_array().unwrap().is_empty());
}

#[test]
fn the_gitlab_template_fails_the_job_and_leaves_the_junit_report() {
    let template = yaml("ci/gitlab/customs.gitlab-ci.yml");
    let job = &template[".customs"];
    let script: Vec<&str> = job["script"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let work = tempfile::tempdir().unwrap();
    // GitLab runs the lines as one script that stops at the first failure.
    let mut command = Command::new("bash");
    command
        .arg("-e")
        .arg("-o")
        .arg("pipefail")
        .arg("-c")
        .arg(script.join("\n"))
        .current_dir(work.path())
        .env("PATH", path_with_customs())
        .env("CUSTOMS_INPUTS", denied_report());
    for (name, value) in job["variables"].as_object().unwrap() {
        command.env(name, value.as_str().unwrap());
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let report = job["artifacts"]["reports"]["junit"].as_str().unwrap();
    let junit = std::fs::read_to_string(work.path().join(report)).unwrap();
    assert!(
        junit.contains("<testsuites") && junit.contains("<failure"),
        "{junit}"
    );
}

#[test]
fn the_pre_commit_hooks_check_policies_and_run_the_suites() {
    let hooks = yaml(".pre-commit-hooks.yaml");
    let hook = |id: &str| {
        hooks
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["id"] == id)
            .unwrap()
            .clone()
    };
    let run = |hook: &Value, files: &[PathBuf], cwd: &Path| {
        let entry: Vec<&str> = hook["entry"].as_str().unwrap().split(' ').collect();
        let args: Vec<&str> = hook["args"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect())
            .unwrap_or_default();
        let pattern = regex::Regex::new(hook["files"].as_str().unwrap()).unwrap();
        let passed: Vec<&PathBuf> = if hook["pass_filenames"] == false {
            Vec::new()
        } else {
            files
                .iter()
                .filter(|f| pattern.is_match(&f.display().to_string()))
                .collect()
        };
        Command::new(entry[0])
            .args(&entry[1..])
            .args(args)
            .args(passed)
            .current_dir(cwd)
            .env("PATH", path_with_customs())
            .output()
            .unwrap()
    };

    let check = hook("customs-check");
    let good = [
        root().join("policies/cel/baseline.yaml"),
        root().join("host/baseline/baseline_no_setuid.wasm"),
        root().join("README.md"),
    ];
    let output = run(&check, &good, &root());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("2 policies load, 0 do not"), "{stdout}");

    let work = tempfile::tempdir().unwrap();
    let broken = work.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "name: broken\nvalidations:\n  - rule: x\n    expression: \"image.nope +\"\n",
    )
    .unwrap();
    let output = run(&check, &[broken], &root());
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("broken.yaml"));

    let test = hook("customs-test");
    let output = run(&test, &good, &root().join("policies/baseline"));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
