//! Builds a 100 MiB message: more than the policy's memory cap.
use hostile::guest::{Finding, Severity};

hostile::hostile_case!("message-100mb", "builds a 100 MiB message", |image| {
    Ok(vec![Finding::deny(
        "message-100mb",
        Severity::Low,
        "x".repeat(100 << 20),
    )])
});
