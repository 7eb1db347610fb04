//! Reports a finding under a rule it never declared.
use hostile::guest::{Finding, Severity};

hostile::hostile_case!("undeclared-rule", "reports an undeclared rule", |image| {
    Ok(vec![Finding::deny(
        "not-declared",
        Severity::Low,
        "a rule the policy never declared",
    )])
});
