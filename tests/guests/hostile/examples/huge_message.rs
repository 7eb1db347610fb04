//! Returns an 8 MiB message: it fits in the policy's memory, not in a report.
use hostile::guest::{Finding, Severity};

hostile::hostile_case!("huge-message", "returns an 8 MiB message", |image| {
    Ok(vec![Finding::deny(
        "huge-message",
        Severity::Low,
        "x".repeat(8 << 20),
    )])
});
