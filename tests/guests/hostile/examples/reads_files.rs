//! Reads a host file through std::fs: imports wasi:filesystem.
hostile::hostile_case!("reads-files", "reads /etc/passwd", |image| {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| e.to_string())?;
    Ok(vec![hostile::report("reads-files", passwd)])
});
