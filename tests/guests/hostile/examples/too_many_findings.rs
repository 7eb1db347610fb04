//! Returns 5,000 findings, over the default cap of 1,000.
use hostile::guest::{Finding, Severity};

hostile::hostile_case!("too-many-findings", "returns 5,000 findings", |image| {
    Ok((0..5_000)
        .map(|i| Finding::deny("too-many-findings", Severity::Low, format!("finding {i}")))
        .collect())
});
