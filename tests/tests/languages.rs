//! Policies in other languages decide as the Rust one does: the example
//! policy of the language guides (policies/examples), built from source by
//! each language's own toolchain, gives the same decision and the same
//! findings (rule, effect, severity, message, subject) on every corpus image.
//!
//! The toolchains come from the registries (`.ci/run` installs them); a
//! missing one fails the test with the command that installs it.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use customs::{
    Bundle, Engine, EngineConfig, EvalOptions, Limits, Policy, PolicyReport, PreparedFacts,
};
use customs_facts::import::import_file;
use customs_tests::corpus_dir;

/// An engine whose deadline is generous: these tests compare what policies
/// in different languages decide, and on a loaded 2-core machine a debug
/// build running beside the component builds can pass the 100 ms default
/// (the deadline has its own tests, in the hostile suite).
fn engine() -> &'static Engine {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| {
        let limits = Limits::default().with_deadline(std::time::Duration::from_secs(10));
        Engine::new(EngineConfig::default().limits(limits)).expect("the engine starts")
    })
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Rust example, built with the policies workspace by customs-test-guests.
fn rust_example() -> PathBuf {
    customs_test_guests::policy("example_policy")
}

/// Runs a toolchain command; a missing tool fails with how to install it.
fn run(mut command: Command, install: &str) {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}); install it: {install}"));
    assert!(
        output.status.success(),
        "{program} failed (is the toolchain installed? {install}):\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The Python example, built with componentize-py.
fn python_example(out: &Path) -> PathBuf {
    let wasm = out.join("example-python.wasm");
    let mut command = Command::new("componentize-py");
    command
        .current_dir(root().join("policies/examples/python"))
        .arg("-d")
        .arg(root().join("wit"))
        .args(["-w", "policy", "componentize", "app", "-p", "."])
        .arg("-p")
        .arg(root().join("guest-sdk/python"))
        .arg("-o")
        .arg(&wasm);
    run(command, "pip install componentize-py==0.25.1");
    wasm
}

/// The JavaScript example, built with componentize-js (StarlingMonkey).
fn javascript_example(out: &Path) -> PathBuf {
    let wasm = out.join("example-javascript.wasm");
    let mut command = Command::new("node");
    command
        .current_dir(root().join("policies/examples/javascript"))
        .args(["build.mjs", "app.js"])
        .arg(root().join("wit"))
        .arg(&wasm);
    run(
        command,
        "Node.js, then `npm install --prefix policies/examples/javascript`",
    );
    wasm
}

const ZIGLANG: &str = "pip install ziglang==0.17.1 (and make)";

/// `make` in an example or scaffold of a compiled language (C, Zig), with
/// this build's customs for `bindgen` and `componentize` and the build
/// directory in `build`; returns the component.
fn make(project: &Path, build: &Path, name: &str) -> PathBuf {
    let mut command = Command::new("make");
    command
        .current_dir(project)
        .arg("--no-print-directory")
        .arg(format!(
            "CUSTOMS={}",
            assert_cmd::cargo::cargo_bin("customs").display()
        ))
        .arg(format!("BUILD={}", build.display()))
        .arg(format!("NAME={name}"));
    run(command, ZIGLANG);
    build.join(format!("{name}.wasm"))
}

/// What is compared between languages: everything but the timing.
fn verdict(report: &PolicyReport) -> String {
    let mut findings: Vec<String> = report
        .findings
        .iter()
        .map(|f| {
            format!(
                "{} {:?} {:?} {:?} {:?}",
                f.rule, f.effect, f.severity, f.message, f.subject
            )
        })
        .collect();
    findings.sort();
    format!("{:?} {:?} {findings:#?}", report.decision, report.error)
}

fn evaluate(policy: &Policy, facts: &PreparedFacts) -> String {
    let mut bundle = Bundle::new("languages");
    bundle.add(policy.clone()).unwrap();
    let decision = engine().evaluate(&bundle, facts, &EvalOptions::at(1_790_000_000));
    verdict(&decision.policies[0])
}

/// Every corpus file that imports on its own, as facts.
fn corpus_images() -> Vec<(PathBuf, PreparedFacts)> {
    let mut images = Vec::new();
    let mut kinds: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    kinds.sort();
    for kind in kinds {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&kind)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        files.sort();
        for file in files {
            if let Ok(facts) = import_file(&file) {
                images.push((file, PreparedFacts::new(facts)));
            }
        }
    }
    images
}

#[test]
fn the_example_policy_decides_the_same_in_every_language() {
    let out = tempfile::tempdir().unwrap();
    let rust = engine().load_policy_file(&rust_example()).unwrap();
    let examples = root().join("policies/examples");
    let others = [
        ("python", python_example(out.path())),
        ("javascript", javascript_example(out.path())),
        (
            "c",
            make(&examples.join("c"), &out.path().join("c"), "example-c"),
        ),
        (
            "zig",
            make(
                &examples.join("zig"),
                &out.path().join("zig"),
                "example-zig",
            ),
        ),
    ];
    let images = corpus_images();
    assert!(images.len() >= 40, "only {} corpus images", images.len());

    for (language, wasm) in others {
        let policy = engine()
            .load_policy_file(&wasm)
            .unwrap_or_else(|e| panic!("{language}: {e}"));
        assert_eq!(policy.info(), rust.info(), "{language}: metadata");
        let mut denied = 0;
        for (file, facts) in &images {
            let expected = evaluate(&rust, facts);
            assert_eq!(
                evaluate(&policy, facts),
                expected,
                "{language} on {}",
                file.display()
            );
            denied += usize::from(expected.starts_with("Deny"));
        }
        // The corpus exercises both outcomes, not just one.
        assert!(denied > 0 && denied < images.len(), "{denied} denied");
    }
}

/// `customs new` in a fresh directory; returns the project.
fn scaffold(dir: &Path, lang: &str, name: &str) -> PathBuf {
    let output = assert_cmd::Command::cargo_bin("customs")
        .unwrap()
        .current_dir(dir)
        .args(["new", "--lang", lang, name])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "customs new --lang {lang}: {output:?}"
    );
    dir.join(name)
}

#[test]
fn customs_new_projects_build_as_they_are_and_decide_like_the_example() {
    let dir = tempfile::tempdir().unwrap();
    let mut built = Vec::new();

    let python = scaffold(dir.path(), "python", "py-policy");
    let mut command = Command::new("componentize-py");
    command
        .current_dir(&python)
        .args([
            "-d",
            "wit",
            "-w",
            "policy",
            "componentize",
            "app",
            "-p",
            ".",
        ])
        .args(["-o", "py-policy.wasm"]);
    run(command, "pip install componentize-py==0.25.1");
    built.push(python.join("py-policy.wasm"));

    let js = scaffold(dir.path(), "js", "js-policy");
    // The packages `npm install` would fetch, from the example (`npm install` in .ci/run).
    let modules = root().join("policies/examples/javascript/node_modules");
    std::os::unix::fs::symlink(&modules, js.join("node_modules")).unwrap();
    let mut command = Command::new("npm");
    command.current_dir(&js).args(["run", "-s", "build"]);
    run(
        command,
        "Node.js, then `npm install --prefix policies/examples/javascript`",
    );
    built.push(js.join("js-policy.wasm"));

    let rust = scaffold(dir.path(), "rust", "rs-policy");
    // Self-contained: the SDK is copied in, nothing points into these sources.
    let manifest = std::fs::read_to_string(rust.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(r#"customs-guest = { path = "customs-guest" }"#)
            && !manifest.contains(root().to_str().unwrap()),
        "{manifest}"
    );
    let target = root().join("target/scaffold");
    let mut command = Command::new(env!("CARGO"));
    command
        .current_dir(&rust)
        .args(["build", "--quiet", "--release", "--target", "wasm32-wasip2"])
        .arg("--target-dir")
        .arg(&target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR");
    run(command, "rustup target add wasm32-wasip2");
    built.push(target.join("wasm32-wasip2/release/rs_policy.wasm"));

    for (lang, name) in [("c", "c-policy"), ("zig", "zig-policy")] {
        let project = scaffold(dir.path(), lang, name);
        built.push(make(&project, &project.join("build"), name));
    }

    // Each decides like the example (under its own name) on a real report.
    let example = engine().load_policy_file(&rust_example()).unwrap();
    let report = root().join("examples/reports/trivy-debian-buster.json");
    let facts = PreparedFacts::new(import_file(&report).unwrap());
    let expected = evaluate(&example, &facts);
    for wasm in built {
        let policy = engine()
            .load_policy_file(&wasm)
            .unwrap_or_else(|e| panic!("{}: {e}", wasm.display()));
        assert!(policy.name().ends_with("-policy"), "{}", policy.name());
        assert_eq!(evaluate(&policy, &facts), expected, "{}", wasm.display());
    }
}
