//! Returns an error instead of a verdict.
hostile::hostile_case!("policy-error", "refuses to decide", |image| {
    Err("the policy refused to decide".to_owned())
});
