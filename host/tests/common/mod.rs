//! Helpers shared by the host's integration tests (each test binary uses some).
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

use customs::PreparedFacts;
use customs_facts::{Facts, Severity, Vulnerability};

/// A component of the hostile suite (tests/guests/hostile/examples), by name.
pub fn guest_path(name: &str) -> PathBuf {
    customs_test_guests::hostile(name)
}

/// Facts with 200 high-severity vulnerabilities, for policies that query them.
pub fn facts() -> PreparedFacts {
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

/// Resident memory of this process in KiB, from `/proc/self/status` (Linux).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// A core module of the policy world: `metadata` names the policy and its
/// rule from static data; `evaluate` runs `evaluate_body`, then allows.
/// `imports` come first, `extra` (tables, functions) last.
pub fn policy_module(name: &str, imports: &str, evaluate_body: &str, extra: &str) -> String {
    // Static data: the policy-info record at 1024, its rule list at 1100,
    // the strings from 2048, and the evaluate result (ok, empty list) at 1200.
    let strings = [name, "0.0.1", "made by the hostile suite", name, "hostile"];
    let mut text = Vec::new();
    let mut spans = Vec::new();
    for s in strings {
        spans.push((2048 + text.len() as u32, s.len() as u32));
        text.extend_from_slice(s.as_bytes());
    }
    let words = |ws: &[u32]| -> String {
        ws.iter()
            .flat_map(|w| w.to_le_bytes())
            .map(|b| format!("\\{b:02x}"))
            .collect()
    };
    let info = words(&[
        spans[0].0, spans[0].1, spans[1].0, spans[1].1, spans[2].0, spans[2].1, 1100, 1, 8, 0,
    ]);
    let rules = words(&[spans[3].0, spans[3].1, spans[4].0, spans[4].1]);
    let result = words(&[0, 8, 0]);
    let strings: String = text.iter().map(|b| format!("\\{b:02x}")).collect();
    format!(
        r#"(module
  {imports}
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 1024) "{info}")
  (data (i32.const 1100) "{rules}")
  (data (i32.const 1200) "{result}")
  (data (i32.const 2048) "{strings}")
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $at i32)
    (local.set $at (i32.and (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
                            (i32.sub (i32.const 0) (local.get 2))))
    (global.set $heap (i32.add (local.get $at) (local.get 3)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then (if (i32.eq (memory.grow (i32.add (i32.shr_u (local.get 3) (i32.const 16)) (i32.const 1)))
                        (i32.const -1))
              (then unreachable))))
    (local.get $at))
  (func (export "metadata") (result i32) (i32.const 1024))
  (func (export "evaluate") (param i32 i32 i32) (result i32)
    {evaluate_body}
    (i32.const 1200))
  {extra}
)"#
    )
}

/// Wraps a core module (WAT) as a component of the world `world` in `wit`.
pub fn componentize(core_wat: &str, wit: &str, world: &str) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve.push_str("policy.wit", wit).unwrap();
    let world = resolve.select_world(&[package], Some(world)).unwrap();
    let mut module = wat::parse_str(core_wat).unwrap();
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .unwrap();
    wit_component::ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap()
}
