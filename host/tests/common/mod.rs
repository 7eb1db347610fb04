//! Helpers shared by the host's integration tests (each test binary uses some).
#![allow(dead_code)]

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
