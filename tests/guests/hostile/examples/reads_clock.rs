//! Reads the wall clock: imports wasi:clocks (policies get the time from the image).
hostile::hostile_case!("reads-clock", "reads the wall clock", |image| {
    let now = std::time::SystemTime::now();
    Ok(vec![hostile::report("reads-clock", format!("{now:?}"))])
});
