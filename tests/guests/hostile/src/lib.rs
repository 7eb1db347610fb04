//! A policy that misbehaves on purpose. The `mode` parameter picks how; the
//! host's tests assert that each mode ends in a typed error and a deny.

use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};

use customs_guest::{
    Finding, Image, Params, Policy, PolicyInfo, Severity, VulnerabilityQuery, export_policy,
};

struct Hostile;

static CALLS: AtomicU32 = AtomicU32::new(0);
static SEED: AtomicU32 = AtomicU32::new(7);

impl Policy for Hostile {
    fn info() -> PolicyInfo {
        PolicyInfo::new("hostile", "0.0.1", "Misbehaves on purpose, for the host's tests.")
            .rule("hostile", "whatever the mode says")
            .param("mode", "ok", "ok | deny | loop | grow-memory | alloc-and-use | trap | panic | many-findings | million-findings | huge-message | huge-100mb-message | undeclared-rule | error | host-call-loop | recursion | remember")
    }

    fn evaluate(image: &Image, params: &Params) -> Result<Vec<Finding>, String> {
        match params.get("mode").unwrap_or("ok") {
            "ok" => Ok(vec![]),
            "deny" => Ok(vec![Finding::deny(
                "hostile",
                Severity::High,
                "denied on purpose",
            )]),
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = black_box(n.wrapping_add(1));
                }
            }
            "grow-memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(black_box(vec![1u8; 1 << 20]));
                }
            }
            "alloc-and-use" => {
                // 16 MiB fits under the default cap; touching it all must work.
                let mut block = vec![0u8; 16 << 20];
                for (i, byte) in block.iter_mut().enumerate() {
                    *byte = i as u8;
                }
                let sum: u64 = block.iter().map(|b| *b as u64).sum();
                Ok(vec![Finding::warn(
                    "hostile",
                    Severity::Low,
                    format!("sum {sum}"),
                )])
            }
            "trap" => {
                core::arch::wasm32::unreachable();
            }
            "panic" => panic!("the hostile policy panicked on purpose"),
            "many-findings" => Ok((0..5_000)
                .map(|i| Finding::deny("hostile", Severity::Low, format!("finding {i}")))
                .collect()),
            "huge-message" => Ok(vec![Finding::deny(
                "hostile",
                Severity::Low,
                "x".repeat(8 << 20),
            )]),
            "undeclared-rule" => Ok(vec![Finding::deny(
                "not-declared",
                Severity::Low,
                "a rule the policy never declared",
            )]),
            "error" => Err("the policy refused to decide".to_owned()),
            "recursion" => Ok(vec![Finding::warn(
                "hostile",
                Severity::Low,
                format!("{}", recurse(black_box(u64::MAX))),
            )]),
            "million-findings" => Ok((0..1_000_000)
                .map(|i| Finding::deny("hostile", Severity::Low, format!("finding {i}")))
                .collect()),
            "huge-100mb-message" => Ok(vec![Finding::deny(
                "hostile",
                Severity::Low,
                "x".repeat(100 << 20),
            )]),
            "host-call-loop" => {
                let query = VulnerabilityQuery {
                    min_severity: Severity::Unknown,
                    fixable_only: false,
                    include_suppressed: true,
                };
                loop {
                    black_box(image.vulnerabilities(query));
                    black_box(image.facts_json());
                }
            }
            "remember" => {
                // State that would leak into the next evaluation if instances
                // were reused: one counter in zeroed memory, one in the data
                // segment. A fresh instance always says "calls 1 seed 7".
                let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
                let seed = SEED.fetch_add(1, Ordering::Relaxed);
                Ok(vec![Finding::warn(
                    "hostile",
                    Severity::Low,
                    format!("calls {calls} seed {seed}"),
                )])
            }
            other => Err(format!("unknown mode {other:?}")),
        }
    }
}

/// Recursion with no base case the optimizer can see: exhausts the stack.
#[inline(never)]
fn recurse(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        black_box(recurse(black_box(n - 1))).wrapping_add(1)
    }
}

export_policy!(Hostile);
