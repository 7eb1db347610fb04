//! JUnit XML: one test suite for the image (one per platform of an index),
//! one test case per policy. A deny is a failure, a failed policy an error;
//! warnings go to system-out.

use std::io::Write;

use anyhow::Result;
use customs::{Finding, PolicyDecision};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

pub fn print(decided: &[super::Decided]) -> Result<()> {
    let mut report = Report::new("customs");
    for one in decided {
        report.add_test_suite(suite(one));
    }
    let mut out = std::io::stdout().lock();
    report.serialize(&mut out)?;
    writeln!(out)?;
    Ok(())
}

fn suite(decided: &super::Decided) -> TestSuite {
    let decision = &decided.decision;
    let mut suite = TestSuite::new(format!("customs {}", decided.name()));
    for policy in &decision.policies {
        let details = policy
            .findings
            .iter()
            .map(line)
            .collect::<Vec<_>>()
            .join("\n");
        let status = match policy.decision {
            PolicyDecision::Allow | PolicyDecision::Warn => TestCaseStatus::success(),
            PolicyDecision::Deny => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status
                    .set_message(format!("{} denied the image", policy.name))
                    .set_type("deny")
                    .set_description(details.clone());
                status
            }
            PolicyDecision::Error => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status
                    .set_message(policy.error.clone().unwrap_or_default())
                    .set_type("policy-error");
                status
            }
        };
        let mut case = TestCase::new(policy.name.clone(), status);
        case.set_classname(format!("customs.{}", policy.name))
            .set_time(policy.duration);
        if policy.decision == PolicyDecision::Warn {
            case.set_system_out(details);
        }
        suite.add_test_case(case);
    }
    suite
}

fn line(f: &Finding) -> String {
    let subject = f
        .subject
        .as_deref()
        .map(|s| format!(" [{s}]"))
        .unwrap_or_default();
    format!(
        "{} {} ({}): {}{subject}",
        f.rule,
        f.severity,
        effect(f),
        f.message
    )
}

fn effect(f: &Finding) -> &'static str {
    match f.effect {
        customs::Effect::Deny => "deny",
        customs::Effect::Warn => "warn",
    }
}
