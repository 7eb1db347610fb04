//! What evaluation answers: findings per policy, and one decision for the image.
//! The serialized form is the `--format json` contract (extend, don't rename).

use std::time::Duration;

use serde::Serialize;

use crate::waivers::{WaiverMark, WaiverOutcome, WaiverStatus};

pub use customs_facts::Severity;

/// What a finding does to the decision.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Deny,
    Warn,
}

/// One reason for a decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    pub rule: String,
    pub effect: Effect,
    pub severity: Severity,
    pub message: String,
    pub subject: Option<String>,
    /// Set when a waiver matched: applied (the finding does not count) or
    /// expired (it counts again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiver: Option<WaiverMark>,
}

impl Finding {
    /// Whether a waiver in force covers the finding.
    pub fn is_waived(&self) -> bool {
        self.waiver
            .as_ref()
            .is_some_and(|w| w.status == WaiverStatus::Applied)
    }

    /// Whether the finding counts towards a deny: a deny not waived.
    pub fn denies(&self) -> bool {
        self.effect == Effect::Deny && !self.is_waived()
    }
}

/// How a policy's findings count towards the decision.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    /// Deny findings deny the image.
    #[default]
    Enforce,
    /// Deny findings are reported as warnings.
    Warn,
    /// Findings are recorded only.
    Audit,
}

impl Enforcement {
    pub fn as_str(self) -> &'static str {
        match self {
            Enforcement::Enforce => "enforce",
            Enforcement::Warn => "warn",
            Enforcement::Audit => "audit",
        }
    }
}

/// The outcome of one policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyDecision {
    Allow,
    Warn,
    Deny,
    /// The policy failed (trap, timeout, bad verdict); it counts as a deny.
    Error,
}

/// What one policy said about the image.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PolicyReport {
    pub name: String,
    pub version: String,
    pub decision: PolicyDecision,
    #[serde(serialize_with = "micros", rename = "duration_us")]
    pub duration: Duration,
    pub findings: Vec<Finding>,
    /// Why the policy failed, when it did.
    pub error: Option<String>,
    /// What kind of failure it was, when it failed: for programs that act
    /// on a failure (retry a deadline, page on a trap) without parsing text.
    pub failure: Option<FailureKind>,
    pub enforcement: Enforcement,
}

/// How a policy failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// It ran past its deadline.
    Deadline,
    /// It tried to use more memory than its limit (linear memory, or the
    /// values a CEL policy builds).
    Memory,
    /// A CEL policy spent its cost budget.
    CostBudget,
    /// The component trapped (a panic, `unreachable`, a bad memory access).
    Trap,
    /// It called `exit` instead of returning a verdict.
    Exit,
    /// It returned an error, or a CEL expression failed (a type error).
    PolicyError,
    /// Its verdict broke the rules: too many findings, an undeclared rule,
    /// an oversized field.
    InvalidVerdict,
    /// The host could not run it (it could not be instantiated).
    Host,
}

/// A failed run: what kind, and the words for people.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) kind: FailureKind,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ImageRef {
    pub reference: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    /// How to name the image to a person: its reference, else its digest.
    pub fn display_name(&self) -> &str {
        self.reference
            .as_deref()
            .or(self.digest.as_deref())
            .unwrap_or("(image without a reference or digest)")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub policies: usize,
    pub denied: usize,
    pub warned: usize,
    pub errors: usize,
}

/// The decision about one image: allow or deny, with every policy's reasons.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Decision {
    pub decision: Outcome,
    pub image: ImageRef,
    pub policies: Vec<PolicyReport>,
    pub summary: Summary,
    /// What each waiver whose image glob matches this image did.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waivers: Vec<WaiverOutcome>,
}

impl Decision {
    pub(crate) fn from_reports(
        image: ImageRef,
        policies: Vec<PolicyReport>,
        waivers: Vec<WaiverOutcome>,
    ) -> Decision {
        let mut summary = Summary {
            policies: policies.len(),
            ..Summary::default()
        };
        for report in &policies {
            match report.decision {
                PolicyDecision::Deny => summary.denied += 1,
                PolicyDecision::Warn => summary.warned += 1,
                PolicyDecision::Error => summary.errors += 1,
                PolicyDecision::Allow => {}
            }
        }
        // A failed policy denies unless it only warns or audits (fail closed).
        let blocking_error = policies
            .iter()
            .any(|p| p.decision == PolicyDecision::Error && p.enforcement == Enforcement::Enforce);
        let decision = if summary.denied > 0 || blocking_error {
            Outcome::Deny
        } else {
            Outcome::Allow
        };
        Decision {
            decision,
            image,
            policies,
            summary,
            waivers,
        }
    }

    pub fn is_allowed(&self) -> bool {
        self.decision == Outcome::Allow
    }

    /// Every finding with the name of the policy that made it.
    pub fn findings(&self) -> impl Iterator<Item = (&str, &Finding)> {
        self.policies
            .iter()
            .flat_map(|p| p.findings.iter().map(move |f| (p.name.as_str(), f)))
    }

    /// Every rule id that denied, sorted and deduplicated.
    pub fn denied_rules(&self) -> Vec<&str> {
        let mut rules: Vec<&str> = self
            .policies
            .iter()
            .filter(|p| matches!(p.decision, PolicyDecision::Deny | PolicyDecision::Error))
            .flat_map(|p| p.findings.iter())
            .filter(|f| f.denies())
            .map(|f| f.rule.as_str())
            .collect();
        rules.sort_unstable();
        rules.dedup();
        rules
    }
}

/// Turns a policy's raw findings into its report, applying its enforcement mode.
pub(crate) fn report(
    name: &str,
    version: &str,
    enforcement: Enforcement,
    duration: Duration,
    mut findings: Vec<Finding>,
) -> PolicyReport {
    if enforcement != Enforcement::Enforce {
        for finding in &mut findings {
            finding.effect = Effect::Warn;
        }
    }
    let decision = decide(enforcement, &findings);
    PolicyReport {
        name: name.to_owned(),
        version: version.to_owned(),
        decision,
        duration,
        findings,
        error: None,
        failure: None,
        enforcement,
    }
}

/// A policy's decision from its findings: deny if one denies (and is not
/// waived), allow if there are none or the policy only audits, else warn.
pub(crate) fn decide(enforcement: Enforcement, findings: &[Finding]) -> PolicyDecision {
    let mut counted = findings.iter().filter(|f| !f.is_waived());
    if findings.iter().any(Finding::denies) {
        PolicyDecision::Deny
    } else if enforcement == Enforcement::Audit || counted.next().is_none() {
        // Waived findings stay listed but do not make the policy warn.
        PolicyDecision::Allow
    } else {
        PolicyDecision::Warn
    }
}

/// The rule id of the finding that stands for a failed policy.
pub const POLICY_ERROR_RULE: &str = "policy-error";

/// A failed policy, with a finding that names the failure: it denies when
/// the policy is enforced, and only warns in `warn` or `audit` enforcement,
/// as its findings would, so every reader of the findings agrees with the
/// decision.
pub(crate) fn failed(
    name: &str,
    version: &str,
    enforcement: Enforcement,
    duration: Duration,
    kind: FailureKind,
    error: String,
) -> PolicyReport {
    PolicyReport {
        name: name.to_owned(),
        version: version.to_owned(),
        decision: PolicyDecision::Error,
        duration,
        findings: vec![Finding {
            rule: POLICY_ERROR_RULE.to_owned(),
            effect: if enforcement == Enforcement::Enforce {
                Effect::Deny
            } else {
                Effect::Warn
            },
            severity: Severity::High,
            message: error.clone(),
            subject: Some(name.to_owned()),
            waiver: None,
        }],
        error: Some(error),
        failure: Some(kind),
        enforcement,
    }
}

/// The report that denies an image whose facts lack what the caller
/// requires ([`crate::EvalOptions::require`]), one finding per missing
/// part; `None` when nothing is missing. Added after waivers are applied:
/// no waiver makes missing evidence present.
pub(crate) fn missing_evidence(
    facts: &customs_facts::Facts,
    required: &[customs_facts::RequiredFact],
) -> Option<PolicyReport> {
    let missing = facts.missing(required);
    if missing.is_empty() {
        return None;
    }
    let findings = missing
        .into_iter()
        .map(|fact| Finding {
            rule: EVIDENCE_MISSING_RULE.to_owned(),
            effect: Effect::Deny,
            severity: Severity::High,
            message: format!(
                "the facts lack {}, which this decision requires: add the tool output that gives it",
                fact.name()
            ),
            subject: Some(fact.id().to_owned()),
            waiver: None,
        })
        .collect();
    Some(PolicyReport {
        name: EVIDENCE_POLICY.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        decision: PolicyDecision::Deny,
        duration: Duration::ZERO,
        findings,
        error: None,
        failure: None,
        enforcement: Enforcement::Enforce,
    })
}

/// The name of the report [`missing_evidence`] adds.
pub const EVIDENCE_POLICY: &str = "evidence";
/// The rule of its findings.
pub const EVIDENCE_MISSING_RULE: &str = "evidence/missing";
