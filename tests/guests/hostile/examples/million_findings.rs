//! Returns a million findings.
use hostile::guest::{Finding, Severity};

hostile::hostile_case!("million-findings", "returns a million findings", |image| {
    Ok((0..1_000_000)
        .map(|i| Finding::deny("million-findings", Severity::Low, format!("finding {i}")))
        .collect())
});
