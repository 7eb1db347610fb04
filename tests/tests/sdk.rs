//! The guest SDK from a policy author's side: the complete example in the
//! SDK's documentation, built as a fresh crate for wasm32-wasip2, is a
//! component the host loads and that decides as written.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use customs::{Bundle, Engine, EngineConfig, EvalOptions, PolicyDecision, PreparedFacts};
use customs_facts::Facts;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// The ```no_run example of guest-sdk/src/lib.rs, as plain Rust.
fn documented_example() -> String {
    let lib = std::fs::read_to_string(repo_root().join("guest-sdk/src/lib.rs")).unwrap();
    let mut lines = lib
        .lines()
        .skip_while(|l| l.trim() != "//! ```no_run")
        .skip(1);
    let code: Vec<&str> = lines
        .by_ref()
        .take_while(|l| l.trim() != "//! ```")
        .map(|l| {
            l.strip_prefix("//! ")
                .or_else(|| l.strip_prefix("//!"))
                .unwrap_or(l)
        })
        .collect();
    assert!(code.len() > 10, "the SDK documentation lost its example");
    code.join("\n")
}

fn build_policy_crate(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"no-latest-tag\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
             [lib]\ncrate-type = [\"cdylib\"]\n\n\
             [dependencies]\ncustoms-guest = {{ path = {:?} }}\n\n[workspace]\n",
            repo_root().join("guest-sdk").display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("src/lib.rs"), documented_example()).unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(dir)
        .args(["build", "--release", "--quiet", "--target", "wasm32-wasip2"])
        // Share the guests' target directory so dependencies are built once.
        .env("CARGO_TARGET_DIR", customs_test_guests::target_dir())
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .unwrap();
    assert!(
        status.success(),
        "building the documented example policy failed"
    );
    customs_test_guests::policy("no_latest_tag")
}

#[test]
fn the_documented_example_policy_builds_loads_and_decides() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = build_policy_crate(dir.path());
    let engine = Engine::new(EngineConfig::default()).unwrap();
    let policy = engine.load_policy_file(&wasm).unwrap();
    assert_eq!(policy.info().name, "no-latest-tag");
    assert_eq!(policy.info().params[0].default_value, "medium");

    let mut bundle = Bundle::new("sdk");
    bundle.add(policy).unwrap();
    let decide = |bundle: &Bundle, reference: Option<&str>| {
        let mut facts = Facts::default();
        facts.image.reference = reference.map(str::to_owned);
        facts.normalize();
        let decision = engine.evaluate(bundle, &PreparedFacts::new(facts), &EvalOptions::at(0));
        decision.policies[0].clone()
    };
    let latest = decide(&bundle, Some("docker.io/library/nginx:latest"));
    assert_eq!(latest.decision, PolicyDecision::Deny);
    assert_eq!(latest.findings[0].message, "the image is tagged :latest");
    assert_eq!(latest.findings[0].severity, customs::Severity::Medium);
    assert_eq!(
        decide(&bundle, Some("docker.io/library/nginx:1.27")).decision,
        PolicyDecision::Allow
    );
    assert_eq!(decide(&bundle, None).decision, PolicyDecision::Warn);

    // Parameters reach the policy, and a bad value fails it closed.
    bundle.set_param("severity", "critical").unwrap();
    assert_eq!(
        decide(&bundle, Some("nginx:latest")).findings[0].severity,
        customs::Severity::Critical
    );
    bundle.set_param("severity", "dire").unwrap();
    let failed = decide(&bundle, Some("nginx:latest"));
    assert_eq!(failed.decision, PolicyDecision::Error);
    assert!(
        failed
            .error
            .unwrap()
            .contains("parameter severity=\"dire\" is invalid")
    );
}
