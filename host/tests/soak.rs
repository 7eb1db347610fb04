//! A soak of good and hostile policies. Alone in its own test binary: it
//! measures the process's resident memory, which tests running beside it in
//! the same process would move.

// It reads /proc/self/status.
#![cfg(target_os = "linux")]
// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{guest_path, rss_kib};
use customs::{Bundle, Engine, EngineConfig, EvalOptions, Limits, PolicyDecision, PreparedFacts};
use customs_facts::Facts;

/// A generous deadline: on a loaded machine each policy, not the clock, must end its run.
fn engine() -> Engine {
    Engine::new(
        EngineConfig::default()
            .limits(Limits::default().with_deadline(std::time::Duration::from_secs(10))),
    )
    .unwrap()
}

/// Good and hostile policies evaluated from two threads, 20,000 times after
/// a warm-up: every verdict is the expected one and the process holds no
/// more memory at the end than a few MiB of allocator slack. A leak of even
/// 1 KiB per evaluation would show as 20 MiB.
#[test]
fn a_soak_of_good_and_hostile_policies_does_not_grow_memory() {
    let engine = &engine();
    // Hostile-suite components: name, and how each must end.
    let cases = [
        ("allow", PolicyDecision::Allow),
        ("deny", PolicyDecision::Deny),
        ("unreachable", PolicyDecision::Error),
        ("panics", PolicyDecision::Error),
        ("policy_error", PolicyDecision::Error),
        ("undeclared_rule", PolicyDecision::Error),
    ];
    let bundles: Vec<(&str, PolicyDecision, Bundle)> = cases
        .iter()
        .map(|(name, expected)| {
            let mut bundle = Bundle::new("soak");
            let policy = engine.load_policy_file(&guest_path(name)).unwrap();
            bundle.add(policy).unwrap();
            (*name, *expected, bundle)
        })
        .collect();
    // These policies read no facts.
    let facts = PreparedFacts::new(Facts::default());
    let options = EvalOptions::at(0);
    let run = |rounds: usize| {
        for i in 0..rounds {
            let (name, expected, bundle) = &bundles[i % bundles.len()];
            let decision = engine.evaluate(bundle, &facts, &options);
            assert_eq!(decision.policies[0].decision, *expected, "{name}");
        }
    };
    std::thread::scope(|scope| {
        scope.spawn(|| run(1_000));
        scope.spawn(|| run(1_000));
    });
    let before = rss_kib();
    std::thread::scope(|scope| {
        scope.spawn(|| run(10_000));
        scope.spawn(|| run(10_000));
    });
    let after = rss_kib();
    eprintln!("soak: RSS {before} KiB before, {after} KiB after 20,000 evaluations");
    assert!(
        after < before + 8 * 1024,
        "RSS grew from {before} KiB to {after} KiB over 20,000 evaluations"
    );
}
