//! `customs test --coverage`: which outcomes of each rule the test cases
//! exercised. A rule is covered when some case made it fire (deny or warn)
//! and some case let it pass (its policy ran and it said nothing): a rule
//! never seen firing may be unable to, one never seen passing may fire on
//! everything. Rules come from what each policy declares, and from what its
//! findings name.

use std::collections::BTreeMap;
use std::io::Write;

use customs::text::escaped;
use customs::{Bundle, Decision, Effect, PolicyDecision};
use serde::Serialize;

/// Cases per outcome of one rule.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Counts {
    pub deny: usize,
    pub warn: usize,
    pub pass: usize,
}

impl Counts {
    fn covered(&self) -> bool {
        (self.deny > 0 || self.warn > 0) && self.pass > 0
    }
}

#[derive(Serialize)]
struct RuleLine<'a> {
    bundle: &'a str,
    policy: &'a str,
    rule: &'a str,
    #[serde(flatten)]
    counts: Counts,
    covered: bool,
}

/// Outcome counts by bundle, policy and rule.
#[derive(Default)]
pub struct Coverage {
    /// Cases in which each rule denied or warned (`pass` is filled in from
    /// `ran` when read: whatever the order the cases came in).
    rules: BTreeMap<(String, String, String), Counts>,
    /// Cases in which each policy ran (did not fail), by bundle and policy.
    ran: BTreeMap<(String, String), usize>,
}

impl Coverage {
    /// Every rule the bundle's policies declare, exercised or not.
    pub fn declare(&mut self, bundle_name: &str, bundle: &Bundle) {
        for entry in bundle.entries() {
            let info = entry.policy().info();
            for rule in &info.rules {
                self.rules
                    .entry((bundle_name.to_owned(), info.name.clone(), rule.id.clone()))
                    .or_default();
            }
        }
    }

    /// What one case's decision exercised. A policy that failed tells
    /// nothing about its rules.
    pub fn add(&mut self, bundle_name: &str, decision: &Decision) {
        for report in &decision.policies {
            if report.decision == PolicyDecision::Error {
                continue;
            }
            *self
                .ran
                .entry((bundle_name.to_owned(), report.name.clone()))
                .or_default() += 1;
            let mut fired: BTreeMap<&str, Effect> = BTreeMap::new();
            for finding in &report.findings {
                let effect = fired.entry(&finding.rule).or_insert(finding.effect);
                if finding.effect == Effect::Deny {
                    *effect = Effect::Deny;
                }
            }
            for (rule, effect) in fired {
                let counts = self
                    .rules
                    .entry((bundle_name.to_owned(), report.name.clone(), rule.to_owned()))
                    .or_default();
                match effect {
                    Effect::Deny => counts.deny += 1,
                    Effect::Warn => counts.warn += 1,
                }
            }
        }
    }

    /// Each rule's counts, passes included: the cases its policy ran in
    /// without it firing.
    fn counted(&self) -> impl Iterator<Item = (&(String, String, String), Counts)> {
        self.rules.iter().map(|(key, counts)| {
            let ran = self
                .ran
                .get(&(key.0.clone(), key.1.clone()))
                .copied()
                .unwrap_or(0);
            let pass = ran.saturating_sub(counts.deny + counts.warn);
            (key, Counts { pass, ..*counts })
        })
    }

    fn covered(&self) -> usize {
        self.counted().filter(|(_, c)| c.covered()).count()
    }

    /// The share of rules covered, in percent (100 when there are none).
    pub fn percent(&self) -> f64 {
        if self.rules.is_empty() {
            return 100.0;
        }
        100.0 * self.covered() as f64 / self.rules.len() as f64
    }

    fn lines(&self) -> impl Iterator<Item = RuleLine<'_>> {
        self.counted()
            .map(|((bundle, policy, rule), counts)| RuleLine {
                bundle,
                policy,
                rule,
                counts,
                covered: counts.covered(),
            })
    }

    /// A table: each rule's cases per outcome, then the total.
    pub fn print_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "\ncoverage (cases per outcome; a rule is covered when it fired and passed)"
        )?;
        let mut last_bundle = None;
        for line in self.lines() {
            if last_bundle != Some(line.bundle) {
                writeln!(out, "  bundle {}", escaped(line.bundle))?;
                last_bundle = Some(line.bundle);
            }
            let mark = if line.covered { "ok  " } else { "MISS" };
            writeln!(
                out,
                "    {mark} {}/{}  deny {}  warn {}  pass {}",
                escaped(line.policy),
                escaped(line.rule),
                line.counts.deny,
                line.counts.warn,
                line.counts.pass
            )?;
        }
        writeln!(
            out,
            "  {} of {} rules covered ({:.1}%)",
            self.covered(),
            self.rules.len(),
            self.percent()
        )
    }

    pub fn to_json(&self) -> serde_json::Value {
        let rules: Vec<RuleLine<'_>> = self.lines().collect();
        serde_json::json!({
            "rules": rules,
            "covered": self.covered(),
            "total": self.rules.len(),
            "percent": self.percent(),
        })
    }
}
