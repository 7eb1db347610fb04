//! Control: a well-behaved policy that denies.
use hostile::guest::{Finding, Severity};

hostile::hostile_case!("deny", "denies every image", |image| {
    Ok(vec![Finding::deny(
        "deny",
        Severity::High,
        "denied on purpose",
    )])
});
