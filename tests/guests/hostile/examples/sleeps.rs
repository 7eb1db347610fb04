//! Sleeps for 30 s: the host must not wait with it (its clock is frozen).
hostile::hostile_case!("sleeps", "sleeps for 30 s", |image| {
    std::thread::sleep(std::time::Duration::from_secs(30));
    Ok(vec![hostile::report("sleeps", "woke up")])
});
