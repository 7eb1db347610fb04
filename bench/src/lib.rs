//! # customs-bench
//!
//! The peers customs is measured against, each running the customs baseline
//! rules on the same facts: [`rego::RegoBaseline`] (the rules in Rego, on
//! Microsoft's regorus, what a Rust embedder of OPA-style policies picks) and
//! [`naive_cel::NaiveCel`] (customs' CEL baseline on the `cel` crate, facts
//! converted on every evaluation).
//! Each peer answers a [`Verdict`], which the equivalence tests compare with
//! customs' own before anything is timed.

pub mod generate;
pub mod image;
pub mod load;
pub mod naive_cel;
pub mod rego;

/// A component of the hostile-policy suite (tests/guests/hostile), built by
/// `customs-test-guests` wherever the cargo target directory is.
pub fn guest_path(name: &str) -> std::path::PathBuf {
    customs_test_guests::hostile(name)
}

use std::collections::BTreeSet;

/// What peers must agree on: the decision and every (rule id, effect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub rules: BTreeSet<(String, String)>,
}

impl Verdict {
    /// The verdict of a customs decision. A failed policy has no verdict to
    /// compare: it is returned as `Err` with its reason.
    pub fn of(decision: &customs::Decision) -> Result<Verdict, String> {
        if let Some(failed) = decision
            .policies
            .iter()
            .find(|p| p.decision == customs::PolicyDecision::Error)
        {
            return Err(format!(
                "policy {} failed: {}",
                failed.name,
                failed.error.as_deref().unwrap_or("")
            ));
        }
        let rules = decision
            .findings()
            .map(|(_, f)| {
                let effect = match f.effect {
                    customs::Effect::Deny => "deny",
                    customs::Effect::Warn => "warn",
                };
                (f.rule.clone(), effect.to_owned())
            })
            .collect();
        Ok(Verdict {
            allowed: decision.is_allowed(),
            rules,
        })
    }
}

/// A `/proc/self/status` figure (VmRSS, VmHWM, ...), in KiB.
pub fn status_kib(field: &str) -> anyhow::Result<u64> {
    use anyhow::Context;
    let status = std::fs::read_to_string("/proc/self/status").context("no /proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/self/status"))
}
