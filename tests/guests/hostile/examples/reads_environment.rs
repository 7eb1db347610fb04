//! Reads its environment and arguments: granted, and empty.
hostile::hostile_case!(
    "reads-environment",
    "reports its environment and arguments",
    |image| {
        let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
        let args: Vec<String> = std::env::args().collect();
        let cwd = std::env::current_dir().ok();
        Ok(vec![hostile::report(
            "reads-environment",
            format!("vars {vars:?} args {args:?} cwd {cwd:?}"),
        )])
    }
);
