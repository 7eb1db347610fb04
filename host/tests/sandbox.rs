//! The sandbox holds for policies in bundles: a failed policy denies while
//! the others run, deadlines are the engine's, imports are refused by name,
//! threads agree, and nothing survives from one evaluation to the next. Each
//! kind of misbehaviour on its own is a case of the hostile suite (hostile.rs).

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use common::{facts, guest_path};
use customs::{
    Bundle, Engine, EngineConfig, Error, EvalOptions, Limits, Outcome, Policy, PolicyDecision,
    PreparedFacts,
};

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(EngineConfig::default()).expect("engine"))
}

fn guest(name: &str) -> Policy {
    engine()
        .load_policy_file(&guest_path(name))
        .expect("test guest loads")
}

fn load_wat(wat: &str) -> Result<Policy, Error> {
    let bytes = wat::parse_str(wat).unwrap();
    engine().load_policy("test.wasm", &bytes)
}

#[test]
fn a_failed_policy_denies_the_image_and_others_still_run() {
    let mut bundle = engine().baseline().unwrap();
    let mut extra = Bundle::new("extra");
    extra.add(guest("unreachable")).unwrap();
    bundle.extend(extra).unwrap();
    let decision = engine().evaluate(&bundle, &facts(), &EvalOptions::at(0));
    assert_eq!(decision.decision, Outcome::Deny);
    assert_eq!(decision.summary.errors, 1);
    let baseline = customs::baseline::POLICIES.len();
    assert_eq!(decision.policies.len(), baseline + 1);
    // The baseline policies evaluated normally after the trap in the same engine.
    assert!(
        decision.policies[..baseline]
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
        .add(
            engine
                .load_policy_file(&guest_path("infinite_loop"))
                .unwrap(),
        )
        .unwrap();
    let decision = engine.evaluate(&bundle, &facts(), &EvalOptions::at(0));
    let error = decision.policies[0].error.clone().unwrap();
    assert!(error.contains("exceeded its 20 ms deadline"), "{error}");
}

#[test]
fn the_wasi_random_and_resource_caps_are_the_engines() {
    // Raised, the random cap gives the 64 KiB + 1 bytes the default refuses;
    // lowered to one entry, the resource table holds the facts image and
    // nothing more, so the first stream fails.
    let limits = Limits::default()
        .with_wasi_random_bytes(1 << 20)
        .with_resource_table_entries(1);
    let engine = Engine::new(EngineConfig::default().limits(limits)).unwrap();
    let mut bundle = Bundle::new("t");
    for name in ["huge_random", "hoards_streams"] {
        bundle
            .add(engine.load_policy_file(&guest_path(name)).unwrap())
            .unwrap();
    }
    let decision = engine.evaluate(&bundle, &facts(), &EvalOptions::at(0));
    let report = |name: &str| {
        decision
            .policies
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no report for {name}"))
    };
    let random = report("huge-random");
    assert_eq!(random.decision, PolicyDecision::Warn, "{random:?}");
    assert_eq!(
        random.findings[0].message,
        "the host gave 65536 then 65537 bytes"
    );
    let streams = report("hoards-streams");
    assert_eq!(streams.decision, PolicyDecision::Error, "{streams:?}");
    let error = streams.error.clone().unwrap();
    assert!(
        error.contains("than the cap of 1 (Limits::resource_table_entries)"),
        "{error}"
    );
}

#[test]
fn imports_that_are_not_granted_are_refused() {
    // WASI 0.2 is linked (with nothing behind it); anything else is refused.
    for import in [
        "wasi:http/outgoing-handler@0.2.0",
        "wasi:keyvalue/store@0.2.0-draft",
        "wasi:config/runtime@0.2.0-draft",
        "evil:host/backdoor",
    ] {
        let wat = format!(r#"(component (import "{import}" (instance (export "f" (func)))))"#);
        let err = load_wat(&wat).unwrap_err();
        assert!(matches!(err, Error::Import { .. }), "{import}: {err}");
        assert!(err.to_string().contains(import), "{import}: {err}");
    }
}

#[test]
fn an_undeclared_parameter_is_an_error() {
    let mut bundle = engine().baseline().unwrap();
    let err = bundle.set_param("mdoe", "x").unwrap_err().to_string();
    assert!(err.contains("\"mdoe\" is not declared"), "{err}");
    let err = bundle
        .set_param("signed.mdoe", "x")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("does not declare \"mdoe\" (it declares: "),
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
    bundle.add(guest("allow")).unwrap();
    let err = bundle.add(guest("allow")).unwrap_err();
    assert!(matches!(err, Error::DuplicatePolicy { .. }), "{err}");
}

#[test]
fn many_threads_agree_with_one() {
    // The baseline and policies that trap, panic, loop to the deadline, err,
    // break the findings cap, allow, deny and try to remember: every thread
    // gets the same verdicts, policy by policy, as one thread alone.
    let mut bundle = engine().baseline().unwrap();
    let mut extra = Bundle::new("extra");
    for name in [
        "panics",
        "unreachable",
        "infinite_loop",
        "policy_error",
        "too_many_findings",
        "allow",
        "deny",
        "remember",
    ] {
        extra.add(guest(name)).unwrap();
    }
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
    let mut bundle = Bundle::new("t");
    bundle
        .add(engine.load_policy_file(&guest_path("remember")).unwrap())
        .unwrap();
    for _ in 0..5 {
        let decision = engine.evaluate(&bundle, &facts(), &EvalOptions::at(0));
        let report = &decision.policies[0];
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

/// FNV-1a as the call-sequence guest sums what it reads.
fn checksum_of(parts: &[&str]) -> u64 {
    let mut sum: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0xff]) {
            sum = (sum ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
    }
    sum
}

#[test]
fn random_call_sequences_on_the_facts_resource_are_answered_and_repeatable() {
    let report = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/reports/trivy-debian-buster.json");
    let facts = PreparedFacts::new(customs_facts::import::import_file(&report).unwrap());
    let vulnerabilities = facts.facts().vulnerabilities.as_ref().unwrap().len();
    assert!(vulnerabilities > 0);
    let policy = guest("call_sequence");
    let run = |ops: &str| -> String {
        let mut bundle = Bundle::new("t");
        bundle.add(policy.clone()).unwrap();
        bundle.set_param("ops", ops).unwrap();
        let decision = engine().evaluate(&bundle, &facts, &EvalOptions::at(1_700_000_000));
        let report = &decision.policies[0];
        assert_eq!(report.decision, PolicyDecision::Warn, "{ops:?}: {report:?}");
        report.findings[0].message.clone()
    };
    // What the guest read is what the facts hold.
    // "C0": count the vulnerabilities of any severity, suppressed included.
    assert_eq!(
        run("C0"),
        format!(
            "1 calls, checksum {:016x}",
            checksum_of(&[&vulnerabilities.to_string()])
        )
    );
    assert_eq!(
        run("n"),
        format!("1 calls, checksum {:016x}", checksum_of(&["1700000000"]))
    );
    // Pseudo-random sequences (xorshift, fixed seed): every one is answered,
    // and the same again on a second run (no state between evaluations).
    let alphabet = b"inubchpkvVCsmgawjlAf,x0123";
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..100 {
        let len = (next() % 48) as usize;
        let ops: String = (0..len)
            .map(|_| char::from(alphabet[(next() % alphabet.len() as u64) as usize]))
            .collect();
        let first = run(&ops);
        assert!(first.contains(" calls, checksum "), "{ops:?}: {first}");
        assert_eq!(run(&ops), first, "{ops:?}");
    }
}
