//! Calls exit(0) in the middle of an evaluation: that is not an allow.
hostile::hostile_case!("exits", "exits with status 0", |image| {
    std::process::exit(0)
});
