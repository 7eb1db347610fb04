//! The sandbox holds: every misbehaviour of a policy ends in a typed error or
//! a deny that names the cause, and never takes the host down.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use customs::{
    Bundle, Engine, EngineConfig, Error, EvalOptions, Limits, Outcome, POLICY_ERROR_RULE, Policy,
    PolicyDecision, PolicyReport, PreparedFacts,
};
use customs_facts::{Facts, Severity, Vulnerability};

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(EngineConfig::default()).expect("engine"))
}

/// The test guest that misbehaves in the mode its `mode` parameter names.
fn hostile_path() -> PathBuf {
    PathBuf::from(env!("CUSTOMS_TEST_GUESTS_DIR")).join("hostile.wasm")
}

fn hostile() -> Policy {
    static HOSTILE: OnceLock<Policy> = OnceLock::new();
    HOSTILE
        .get_or_init(|| {
            engine()
                .load_policy_file(&hostile_path())
                .expect("hostile guest loads")
        })
        .clone()
}

/// An engine whose deadline is generous, for tests about memory: under machine
/// load a policy growing memory must still reach the memory cap first.
fn patient_engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::new(
            EngineConfig::default()
                .limits(Limits::default().with_deadline(Duration::from_secs(10))),
        )
        .expect("engine")
    })
}

fn patient_hostile() -> Policy {
    static HOSTILE: OnceLock<Policy> = OnceLock::new();
    HOSTILE
        .get_or_init(|| {
            patient_engine()
                .load_policy_file(&hostile_path())
                .expect("hostile guest loads")
        })
        .clone()
}

fn facts() -> PreparedFacts {
    PreparedFacts::new(Facts {
        vulnerabilities: Some(
            (0..200)
                .map(|i| Vulnerability {
                    id: format!("CVE-2024-{i}"),
                    package: "openssl".into(),
                    package_version: "1.0".into(),
                    severity: Severity::High,
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    })
}

/// Evaluates the hostile policy in one mode; returns its report and the time taken.
fn run_mode(mode: &str) -> (PolicyReport, Duration) {
    run_mode_in(engine(), hostile(), mode)
}

fn run_mode_in(engine: &Engine, policy: Policy, mode: &str) -> (PolicyReport, Duration) {
    let mut bundle = Bundle::new("test");
    bundle.add(policy).unwrap();
    bundle.set_param("mode", mode).unwrap();
    let started = Instant::now();
    let decision = engine.evaluate(&bundle, &facts(), &EvalOptions::at(0));
    let elapsed = started.elapsed();
    assert_eq!(decision.policies.len(), 1);
    (decision.policies[0].clone(), elapsed)
}

fn assert_failed(mode: &str, expected: &str) -> Duration {
    assert_failed_in(run_mode(mode), mode, expected)
}

/// [`assert_failed`] on the patient engine, for memory limits.
fn assert_memory_failed(mode: &str) -> Duration {
    assert_failed_in(
        run_mode_in(patient_engine(), patient_hostile(), mode),
        mode,
        "exceeded its memory limit of 64 MiB",
    )
}

fn assert_failed_in(run: (PolicyReport, Duration), mode: &str, expected: &str) -> Duration {
    let (report, elapsed) = run;
    assert_eq!(
        report.decision,
        PolicyDecision::Error,
        "mode {mode}: {report:?}"
    );
    let error = report.error.clone().unwrap_or_default();
    assert!(error.starts_with("policy hostile "), "mode {mode}: {error}");
    assert!(
        error.contains(expected),
        "mode {mode}: expected {expected:?} in {error:?}"
    );
    // The failure is also a deny finding that names it.
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.findings[0].rule, POLICY_ERROR_RULE);
    assert_eq!(report.findings[0].message, error);
    elapsed
}

#[test]
fn a_well_behaved_policy_allows_and_denies() {
    assert_eq!(run_mode("ok").0.decision, PolicyDecision::Allow);
    let (report, _) = run_mode("deny");
    assert_eq!(report.decision, PolicyDecision::Deny);
    assert_eq!(report.findings[0].rule, "hostile");
}

#[test]
fn an_infinite_loop_hits_the_deadline() {
    let elapsed = assert_failed("loop", "exceeded its 100 ms deadline");
    // Interrupted, not left running: bounded well below "forever".
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[test]
fn a_loop_of_host_calls_hits_the_deadline() {
    assert_failed("host-call-loop", "exceeded its 100 ms deadline");
}

#[test]
fn unbounded_memory_growth_hits_the_cap() {
    assert_memory_failed("grow-memory");
}

#[test]
fn memory_under_the_cap_is_usable() {
    // This test is about memory: a generous deadline keeps it independent of machine load.
    let (report, _) = run_mode_in(patient_engine(), patient_hostile(), "alloc-and-use");
    assert_eq!(report.decision, PolicyDecision::Warn, "{report:?}");
    let expected: u64 = (0..16u64 << 20).map(|i| i % 256).sum();
    assert_eq!(report.findings[0].message, format!("sum {expected}"));
}

#[test]
fn a_trap_is_reported() {
    assert_failed(
        "trap",
        "failed with a wasm trap: wasm `unreachable` instruction executed",
    );
}

#[test]
fn a_panic_is_reported_with_its_message() {
    assert_failed("panic", "the hostile policy panicked on purpose");
}

#[test]
fn too_many_findings_are_refused() {
    assert_failed(
        "many-findings",
        "returned 5000 findings, more than the limit of 1000",
    );
}

#[test]
fn deep_recursion_exhausts_the_stack_and_is_reported() {
    assert_failed("recursion", "call stack exhausted");
}

#[test]
fn a_million_findings_fail_closed() {
    // Building them runs out of the policy's memory, its time, or the findings
    // cap; whichever comes first, the policy fails and denies.
    let (report, _) = run_mode("million-findings");
    assert_eq!(report.decision, PolicyDecision::Error, "{report:?}");
    let error = report.error.unwrap();
    assert!(
        ["memory limit", "deadline", "more than the limit"]
            .iter()
            .any(|cause| error.contains(cause)),
        "{error}"
    );
}

#[test]
fn a_100_mib_message_hits_the_memory_cap() {
    assert_memory_failed("huge-100mb-message");
}

#[test]
fn a_huge_message_is_refused() {
    assert_failed("huge-message", "more than the limit of 16384");
}

#[test]
fn a_finding_for_an_undeclared_rule_is_refused() {
    assert_failed(
        "undeclared-rule",
        "rule \"not-declared\", which it does not declare",
    );
}

#[test]
fn a_policy_error_denies() {
    assert_failed("error", "returned an error: the policy refused to decide");
}

#[test]
fn a_failed_policy_denies_the_image_and_others_still_run() {
    let mut bundle = engine().baseline().unwrap();
    let mut extra = Bundle::new("extra");
    extra.add(hostile()).unwrap();
    extra.set_param("mode", "trap").unwrap();
    bundle.extend(extra).unwrap();
    let decision = engine().evaluate(&bundle, &facts(), &EvalOptions::at(0));
    assert_eq!(decision.decision, Outcome::Deny);
    assert_eq!(decision.summary.errors, 1);
    assert_eq!(decision.policies.len(), 9);
    // The baseline policies evaluated normally after the trap in the same engine.
    assert!(
        decision.policies[..8]
            .iter()
            .all(|p| p.decision != PolicyDecision::Error)
    );
}

#[test]
fn a_shorter_deadline_is_honoured() {
    let engine = Engine::new(
        EngineConfig::default().limits(Limits::default().with_deadline(Duration::from_millis(20))),
    )
    .unwrap();
    let mut bundle = Bundle::new("t");
    bundle
        .add(engine.load_policy_file(&hostile_path()).unwrap())
        .unwrap();
    bundle.set_param("mode", "loop").unwrap();
    let decision = engine.evaluate(&bundle, &facts(), &EvalOptions::at(0));
    let error = decision.policies[0].error.clone().unwrap();
    assert!(error.contains("exceeded its 20 ms deadline"), "{error}");
}

fn load_wat(wat: &str) -> Result<Policy, Error> {
    let bytes = wat::parse_str(wat).unwrap();
    engine().load_policy("test.wasm", &bytes)
}

#[test]
fn a_core_module_is_not_a_component() {
    let err = load_wat("(module)").unwrap_err();
    assert!(matches!(err, Error::NotAComponent { .. }), "{err}");
    assert!(err.to_string().contains("core WebAssembly module"), "{err}");
}

#[test]
fn invalid_bytes_are_not_a_component() {
    let err = engine()
        .load_policy("junk.wasm", b"not wasm at all")
        .unwrap_err();
    assert!(matches!(err, Error::NotAComponent { .. }), "{err}");
    let err = engine()
        .load_policy("truncated.wasm", b"\0asm\x0d\0\x01\0\x01")
        .unwrap_err();
    assert!(matches!(err, Error::Compile { .. }), "{err}");
}

#[test]
fn a_component_of_another_world_is_refused() {
    let err = load_wat("(component)").unwrap_err();
    assert!(matches!(err, Error::WrongWorld { .. }), "{err}");
    assert!(
        err.to_string().contains("customs:policy/policy@0.1.0"),
        "{err}"
    );
}

#[test]
fn imports_that_are_not_granted_are_refused() {
    for import in [
        "wasi:filesystem/preopens@0.2.0",
        "wasi:sockets/tcp@0.2.0",
        "wasi:random/random@0.2.0",
        "wasi:clocks/wall-clock@0.2.0",
        "customs:policy/facts@0.2.0",
    ] {
        let wat = format!(r#"(component (import "{import}" (instance (export "f" (func)))))"#);
        let err = load_wat(&wat).unwrap_err();
        assert!(matches!(err, Error::Import { .. }), "{import}: {err}");
        assert!(err.to_string().contains(import), "{import}: {err}");
    }
}

#[test]
fn an_undeclared_parameter_is_an_error() {
    let mut bundle = Bundle::new("t");
    bundle.add(hostile()).unwrap();
    let err = bundle.set_param("mdoe", "loop").unwrap_err().to_string();
    assert!(err.contains("\"mdoe\" is not declared"), "{err}");
    let err = bundle
        .set_param("hostile.mdoe", "loop")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("does not declare \"mdoe\" (it declares: mode)"),
        "{err}"
    );
    let err = bundle
        .set_param("nobody.mode", "x")
        .unwrap_err()
        .to_string();
    assert!(err.contains("no policy named \"nobody\""), "{err}");
}

#[test]
fn the_same_policy_twice_is_an_error() {
    let mut bundle = Bundle::new("t");
    bundle.add(hostile()).unwrap();
    let err = bundle.add(hostile()).unwrap_err();
    assert!(matches!(err, Error::DuplicatePolicy { .. }), "{err}");
}

#[test]
fn many_threads_agree_with_one() {
    let mut bundle = engine().baseline().unwrap();
    let mut extra = Bundle::new("extra");
    extra.add(hostile()).unwrap();
    extra.set_param("mode", "panic").unwrap();
    bundle.extend(extra).unwrap();
    let facts = facts();
    let summarize = |d: &customs::Decision| -> Vec<(String, PolicyDecision, Vec<String>)> {
        d.policies
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    p.decision,
                    p.findings.iter().map(|f| f.message.clone()).collect(),
                )
            })
            .collect()
    };
    let expected = summarize(&engine().evaluate(&bundle, &facts, &EvalOptions::at(1_700_000_000)));
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    for _ in 0..10 {
                        let d = engine().evaluate(&bundle, &facts, &EvalOptions::at(1_700_000_000));
                        assert_eq!(summarize(&d), expected);
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
    });
}

#[test]
fn nothing_survives_from_one_evaluation_to_the_next() {
    // A pool of one slot: every evaluation reuses the same memory.
    let engine = Engine::new(EngineConfig::default().pool_size(1)).unwrap();
    assert!(engine.is_pooling());
    let policy = engine.load_policy_file(&hostile_path()).unwrap();
    for _ in 0..5 {
        let (report, _) = run_mode_in(&engine, policy.clone(), "remember");
        assert_eq!(report.decision, PolicyDecision::Warn, "{report:?}");
        assert_eq!(report.findings[0].message, "calls 1 seed 7");
    }
}

#[test]
fn more_threads_than_pool_slots_wait_instead_of_failing() {
    let engine = Engine::new(EngineConfig::default().pool_size(1)).unwrap();
    let bundle = engine.baseline().unwrap();
    let facts = facts();
    let options = EvalOptions::at(1_700_000_000);
    let expected = engine.evaluate(&bundle, &facts, &options);
    assert!(expected.policies.iter().all(|p| p.error.is_none()));
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..5 {
                    let decision = engine.evaluate(&bundle, &facts, &options);
                    for (got, want) in decision.policies.iter().zip(&expected.policies) {
                        assert_eq!(got.error, None, "{}", got.name);
                        assert_eq!(got.findings, want.findings);
                    }
                }
            });
        }
    });
}

#[test]
fn the_engine_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
    assert_send_sync::<Bundle>();
    assert_send_sync::<PreparedFacts>();
}
