//! The hostile-policy suite: every component here misbehaves in one way, and
//! each must end the way its case says (a typed load error, or a deny that
//! names the cause) within twice the deadline, with the process's memory back
//! at its baseline once the suite has run.
//!
//! Rust cases are the examples of `tests/guests/hostile` (built by tests/guests-build);
//! the cases no compiler emits (a table that grows, a compile-time bomb,
//! missing or mistyped exports, a future WIT) are core modules written here
//! and made components with wit-component, as `wasm-tools component new` does.
//!
//! One test, alone in its binary: it measures the process's resident memory.

// It reads /proc/self/status.
#![cfg(target_os = "linux")]
// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use common::{componentize, facts, guest_path, policy_module, rss_kib};
use customs::{
    Bundle, Engine, EngineConfig, Error, EvalOptions, FailureKind, Limits, POLICY_ERROR_RULE,
    Policy, PolicyDecision, PolicyReport, PreparedFacts,
};

/// Long enough that, on a loaded machine, a policy that grows memory reaches
/// the memory cap before the clock; short enough to keep the suite quick.
const DEADLINE: Duration = Duration::from_millis(500);

/// Where a case's component comes from.
enum Source {
    /// An example of the `hostile` guest crate, by file name.
    Guest(&'static str),
    /// Bytes made here.
    Made(fn() -> Vec<u8>),
}

/// How a case must end.
enum Expect {
    /// Loading fails with this kind of error, whose message contains the text.
    Refused(fn(&Error) -> bool, &'static str),
    /// The evaluation fails (a deny finding that names the cause) with one of these texts.
    Fails(&'static [&'static str]),
    /// The policy runs and reports exactly this (a warn finding).
    Reports(&'static str),
    Allows,
    Denies,
}

struct Case {
    name: &'static str,
    source: Source,
    expect: Expect,
}

const fn guest(name: &'static str, expect: Expect) -> Case {
    Case {
        name,
        source: Source::Guest(name),
        expect,
    }
}

const fn made(name: &'static str, bytes: fn() -> Vec<u8>, expect: Expect) -> Case {
    Case {
        name,
        source: Source::Made(bytes),
        expect,
    }
}

fn is_import(e: &Error) -> bool {
    matches!(e, Error::Import { .. })
}
fn is_wit_version(e: &Error) -> bool {
    matches!(e, Error::WitVersion { .. })
}
fn is_wrong_world(e: &Error) -> bool {
    matches!(e, Error::WrongWorld { .. })
}
fn is_not_a_component(e: &Error) -> bool {
    matches!(e, Error::NotAComponent { .. })
}
fn is_compile(e: &Error) -> bool {
    matches!(e, Error::Compile { .. })
}

const DEADLINE_HIT: &[&str] = &["exceeded its 500 ms deadline"];
const MEMORY_CAP_HIT: &[&str] = &["exceeded its memory limit of 64 MiB"];

fn cases() -> Vec<Case> {
    use Expect::*;
    vec![
        guest("allow", Allows),
        guest("deny", Denies),
        guest("infinite_loop", Fails(DEADLINE_HIT)),
        guest("host_call_loop", Fails(DEADLINE_HIT)),
        guest("deep_recursion", Fails(&["call stack exhausted"])),
        guest("grow_memory", Fails(MEMORY_CAP_HIT)),
        guest("alloc_and_use", Reports("sum 2139095040")),
        guest("message_100mb", Fails(MEMORY_CAP_HIT)),
        guest("huge_message", Fails(&["more than the limit of 16384"])),
        guest(
            "too_many_findings",
            Fails(&["returned 5000 findings, more than the limit of 1000"]),
        ),
        // Building them runs out of memory, time or the findings cap: whichever first.
        guest(
            "million_findings",
            Fails(&["memory limit", "deadline", "more than the limit"]),
        ),
        guest(
            "unreachable",
            Fails(&["wasm `unreachable` instruction executed"]),
        ),
        guest("panics", Fails(&["the hostile policy panicked on purpose"])),
        guest(
            "undeclared_rule",
            Fails(&["rule \"not-declared\", which it does not declare"]),
        ),
        guest(
            "policy_error",
            Fails(&["returned an error: the policy refused to decide"]),
        ),
        guest("remember", Reports("calls 1 seed 7")),
        guest("forged_handle", Fails(&["unknown handle index"])),
        guest("dropped_handle", Fails(&["unknown handle index"])),
        guest("sleeps", Reports("woke up")),
        guest(
            "exits",
            Fails(&["called exit(0) instead of returning a verdict"]),
        ),
        guest("floods_stdout", Reports("the host stopped the flood")),
        guest(
            "reads_environment",
            Reports(r#"vars [] args [] cwd Some("/")"#),
        ),
        guest(
            "reads_files",
            Fails(&["returned an error: No such file or directory"]),
        ),
        guest(
            "opens_socket",
            Fails(&["returned an error: Permission denied"]),
        ),
        guest(
            "reads_clock",
            Reports("SystemTime { tv_sec: 1700000000, tv_nsec: 0 }"),
        ),
        guest("reads_random", Reports("13455003013334058829")),
        // 64 KiB (the default cap) is given; one byte more fails the call.
        guest(
            "huge_random",
            Fails(&[
                "random limit: the policy asked for 65537 random bytes in one call, over the cap of 65536",
            ]),
        ),
        guest(
            "hoards_streams",
            Fails(&[
                "resource limit: the policy tried to hold more WASI resources (streams, pollables, ...) at once than the cap of 10000",
            ]),
        ),
        made(
            "imports_http",
            || {
                wat::parse_str(
                    r#"(component (import "wasi:http/outgoing-handler@0.2.0" (instance)))"#,
                )
                .unwrap()
            },
            Refused(is_import, "it imports wasi:http/outgoing-handler@0.2.0"),
        ),
        made(
            "borrow_kept",
            borrow_kept,
            Fails(&["borrow handles still remain at the end of the call"]),
        ),
        made("table_growth", table_growth, Fails(&["table limit"])),
        made(
            "function_bomb",
            function_bomb,
            Refused(is_compile, "define more than 100000 functions"),
        ),
        made("nesting_within_limit", nesting_within_limit, Allows),
        made(
            "nesting_bomb",
            nesting_bomb,
            Refused(is_compile, "nests blocks 100000 deep"),
        ),
        made(
            "missing_export",
            missing_export,
            Refused(is_wrong_world, "evaluate"),
        ),
        made(
            "mistyped_export",
            mistyped_export,
            Refused(is_wrong_world, "evaluate"),
        ),
        made(
            "future_wit_major",
            future_wit_major,
            Refused(is_wit_version, "built against customs:policy@0.2.0"),
        ),
        made(
            "future_wit_new_method",
            future_wit_new_method,
            Refused(is_wit_version, "[method]image.sbom"),
        ),
        made(
            "core_module",
            core_module,
            Refused(is_not_a_component, "core WebAssembly module"),
        ),
        made(
            "invalid_bytes",
            || b"\0asm\x0d\0\x01\0garbage".to_vec(),
            Refused(is_compile, "test.wasm"),
        ),
        made(
            "not_wasm",
            || b"#!/bin/sh\nrm -rf /\n".to_vec(),
            Refused(is_not_a_component, "not a WebAssembly"),
        ),
    ]
}

/// A case after loading: refused (and why), or a policy to evaluate.
struct Loaded<'a> {
    case: &'a Case,
    load: Duration,
    result: Result<Policy, String>,
}

fn load(engine: &Engine, case: &Case) -> (Result<Policy, Error>, Duration) {
    let (origin, bytes) = match &case.source {
        Source::Guest(name) => {
            let path = guest_path(name);
            (
                format!("{name}.wasm"),
                std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
            )
        }
        Source::Made(make) => ("test.wasm".to_owned(), make()),
    };
    let started = Instant::now();
    let policy = engine.load_policy(&origin, &bytes);
    (policy, started.elapsed())
}

/// Loads a case; a refusal is asserted against the case here.
fn load_case<'a>(engine: &Engine, case: &'a Case) -> Loaded<'a> {
    let (policy, load) = load(engine, case);
    let name = case.name;
    let result = match (policy, &case.expect) {
        (Err(err), Expect::Refused(kind, text)) => {
            let message = err.to_string();
            assert!(kind(&err), "{name}: wrong kind of error: {err:?}");
            assert!(
                message.contains(text),
                "{name}: {text:?} not in {message:?}"
            );
            Err(format!("refused: {message}"))
        }
        (Ok(_), Expect::Refused(..)) => panic!("{name}: loaded, but must be refused"),
        (Err(err), _) => panic!("{name}: {err}"),
        (Ok(policy), _) => Ok(policy),
    };
    Loaded { case, load, result }
}

/// Evaluates a loaded case within twice the deadline; says how it ended.
fn evaluate_case(
    engine: &Engine,
    case: &Case,
    policy: &Policy,
    facts: &PreparedFacts,
) -> (String, Duration) {
    let mut bundle = Bundle::new("hostile");
    bundle.add(policy.clone()).unwrap();
    let started = Instant::now();
    let decision = engine.evaluate(&bundle, facts, &EvalOptions::at(1_700_000_000));
    let elapsed = started.elapsed();
    assert!(
        elapsed < 2 * DEADLINE,
        "{}: took {elapsed:?}, more than twice the {DEADLINE:?} deadline",
        case.name
    );
    (
        check(case.name, &case.expect, &decision.policies[0]),
        elapsed,
    )
}

/// Asserts a report against its case; returns how it ended, in words.
fn check(name: &str, expect: &Expect, report: &PolicyReport) -> String {
    let policy = name.replace('_', "-");
    match expect {
        Expect::Fails(causes) => {
            assert_eq!(report.decision, PolicyDecision::Error, "{name}: {report:?}");
            let error = report.error.clone().unwrap_or_default();
            assert!(
                error.starts_with(&format!("policy {policy} ")),
                "{name}: {error}"
            );
            assert!(
                causes.iter().any(|cause| error.contains(cause)),
                "{name}: none of {causes:?} in {error:?}"
            );
            // Its kind agrees with its words.
            let kind = report
                .failure
                .unwrap_or_else(|| panic!("{name}: no failure kind"));
            let expected = if error.contains("ms deadline") {
                Some(FailureKind::Deadline)
            } else if error.contains("exceeded its memory limit") {
                Some(FailureKind::Memory)
            } else if error.contains("instead of returning a verdict") {
                Some(FailureKind::Exit)
            } else if error.contains("returned an error") {
                Some(FailureKind::PolicyError)
            } else if error.contains("findings, more than the limit")
                || error.contains("does not declare")
            {
                Some(FailureKind::InvalidVerdict)
            } else if error.contains("failed with a") {
                Some(FailureKind::Trap)
            } else {
                None
            };
            if let Some(expected) = expected {
                assert_eq!(kind, expected, "{name}: {error}");
            }
            // The failure is a deny finding that names it.
            assert_eq!(report.findings.len(), 1, "{name}");
            assert_eq!(report.findings[0].rule, POLICY_ERROR_RULE);
            assert_eq!(report.findings[0].message, error);
            format!("denied: {}", first_line(&error))
        }
        Expect::Reports(message) => {
            assert_eq!(report.decision, PolicyDecision::Warn, "{name}: {report:?}");
            assert_eq!(report.findings[0].message, *message, "{name}");
            format!("ran: {message}")
        }
        Expect::Allows => {
            assert_eq!(report.decision, PolicyDecision::Allow, "{name}: {report:?}");
            "allowed".to_owned()
        }
        Expect::Denies => {
            assert_eq!(report.decision, PolicyDecision::Deny, "{name}: {report:?}");
            assert_eq!(report.findings[0].rule, "deny");
            "denied by its rule".to_owned()
        }
        Expect::Refused(..) => unreachable!("refusals end at load"),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

#[test]
fn every_hostile_policy_ends_as_its_case_says() {
    let engine =
        Engine::new(EngineConfig::default().limits(Limits::default().with_deadline(DEADLINE)))
            .unwrap();
    let cases = cases();
    assert!(cases.len() >= 41, "the suite shrank to {}", cases.len());
    let facts = facts();

    let start = rss_kib();
    let loaded: Vec<Loaded> = cases.iter().map(|c| load_case(&engine, c)).collect();
    let evaluate_all = || -> Vec<Option<(String, Duration)>> {
        loaded
            .iter()
            .map(|l| {
                let policy = l.result.as_ref().ok()?;
                Some(evaluate_case(&engine, l.case, policy, &facts))
            })
            .collect()
    };
    // The first pass warms what is meant to stay (pooled slots, the
    // allocator's arenas); the second must end where the first did.
    let first = evaluate_all();
    let baseline = rss_kib();
    let second = evaluate_all();
    let after = rss_kib();

    let mut table = String::from("| case | outcome | load | evaluation |\n|---|---|---|---|\n");
    for ((l, one), two) in loaded.iter().zip(&first).zip(&second) {
        let (outcome, evaluation) = match (&l.result, one, two) {
            (Err(refusal), _, _) => (refusal.clone(), "-".to_owned()),
            (Ok(_), Some((one, _)), Some((two, elapsed))) => {
                assert_eq!(one, two, "{}: differs between passes", l.case.name);
                (
                    one.clone(),
                    format!("{:.1} ms", elapsed.as_secs_f64() * 1e3),
                )
            }
            _ => unreachable!("a loaded policy is evaluated in both passes"),
        };
        writeln!(
            table,
            "| {} | {} | {:.1} ms | {evaluation} |",
            l.case.name,
            first_line(&outcome).replace('|', "\\|"),
            l.load.as_secs_f64() * 1e3,
        )
        .unwrap();
    }
    eprintln!("{table}");
    eprintln!(
        "hostile suite: RSS {start} KiB at start, {baseline} KiB after the first evaluation pass, {after} KiB after the second"
    );
    assert!(
        after < baseline + 8 * 1024,
        "RSS grew from {baseline} KiB to {after} KiB over a pass of the hostile suite"
    );
}

// --- Components no compiler emits, from core modules written here. ---

/// The policy world, as the host speaks it.
const POLICY_WIT: &str = include_str!("../../wit/policy.wit");

fn table_growth() -> Vec<u8> {
    let module = policy_module(
        "table-growth",
        "",
        "(loop $grow (drop (table.grow $t (ref.null func) (i32.const 10000))) (br $grow))",
        "(table $t 1 funcref)",
    );
    componentize(&module, POLICY_WIT, "policy")
}

/// 999,000 empty functions (the wasm limit is a million): minutes of compiling.
fn function_bomb() -> Vec<u8> {
    let mut functions = String::with_capacity(999_000 * 8);
    for _ in 0..999_000 {
        functions.push_str("(func)");
    }
    componentize(
        &policy_module("function-bomb", "", "", &functions),
        POLICY_WIT,
        "policy",
    )
}

/// Where the policy world's guests release the image they borrowed, as the
/// component model requires before `evaluate` returns.
const DROP_IMAGE: &str = r#"(import "customs:policy/facts@0.1.0" "[resource-drop]image" (func $drop_image (param i32)))"#;

/// `evaluate` nests a hundred thousand blocks.
fn nesting_bomb() -> Vec<u8> {
    nested("nesting-bomb", 100_000)
}

/// Just under the default nesting limit: compiles, and quickly.
fn nesting_within_limit() -> Vec<u8> {
    nested("nesting-within-limit", 10_000)
}

/// A policy whose `evaluate` nests `depth` blocks.
fn nested(name: &str, depth: usize) -> Vec<u8> {
    let body = format!(
        "{}{} (call $drop_image (local.get 0))",
        "(block ".repeat(depth),
        ")".repeat(depth)
    );
    componentize(
        &policy_module(name, DROP_IMAGE, &body, ""),
        POLICY_WIT,
        "policy",
    )
}

/// Returns without releasing the image it borrowed.
fn borrow_kept() -> Vec<u8> {
    componentize(
        &policy_module("borrow-kept", "", "", ""),
        POLICY_WIT,
        "policy",
    )
}

/// The policy world without `evaluate`.
fn missing_export() -> Vec<u8> {
    let start = POLICY_WIT.find("    export evaluate").unwrap();
    let end = start + POLICY_WIT[start..].find(";\n").unwrap() + 2;
    let wit = format!("{}{}", &POLICY_WIT[..start], &POLICY_WIT[end..]);
    let module = policy_module("missing-export", "", "", "").replace(
        r#"(func (export "evaluate") (param i32 i32 i32) (result i32)"#,
        "(func $unused (param i32 i32 i32) (result i32)",
    );
    componentize(&module, &wit, "policy")
}

/// `evaluate` that takes the image only and answers a number.
fn mistyped_export() -> Vec<u8> {
    let start = POLICY_WIT.find("    export evaluate").unwrap();
    let end = start + POLICY_WIT[start..].find(";\n").unwrap() + 2;
    let wit = format!(
        "{}    export evaluate: func(image: borrow<image>) -> u32;\n{}",
        &POLICY_WIT[..start],
        &POLICY_WIT[end..]
    );
    let module = policy_module("mistyped-export", "", "", "").replace(
        r#"(func (export "evaluate") (param i32 i32 i32) (result i32)"#,
        r#"(func (export "evaluate") (param i32) (result i32) (i32.const 7) (return)"#,
    );
    componentize(&module, &wit, "policy")
}

/// The policy world of a customs that does not exist yet: facts@0.2.0.
fn future_wit_major() -> Vec<u8> {
    let wit = POLICY_WIT.replace(
        "package customs:policy@0.1.0;",
        "package customs:policy@0.2.0;",
    );
    componentize(
        &policy_module("future-wit-major", "", "", ""),
        &wit,
        "policy",
    )
}

/// A compatible-looking 0.1.1 whose image has a method this host lacks, which the policy calls.
fn future_wit_new_method() -> Vec<u8> {
    let wit = POLICY_WIT
        .replace(
            "package customs:policy@0.1.0;",
            "package customs:policy@0.1.1;",
        )
        .replace(
            "        facts-json: func() -> string;",
            "        facts-json: func() -> string;\n        sbom: func() -> u32;",
        );
    let module = policy_module(
        "future-wit-new-method",
        r#"(import "customs:policy/facts@0.1.1" "[method]image.sbom" (func $sbom (param i32) (result i32)))"#,
        "(drop (call $sbom (local.get 0)))",
        "",
    );
    componentize(&module, &wit, "policy")
}

fn core_module() -> Vec<u8> {
    wat::parse_str(policy_module("core-module", "", "", "")).unwrap()
}
