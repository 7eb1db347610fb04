//! Prints 64 MiB to stdout and stderr, then allows.
use std::io::Write;

hostile::hostile_case!("floods-stdout", "prints 64 MiB", |image| {
    let line = [b'x'; 1 << 10];
    let mut written = 0usize;
    for i in 0..(64 << 10) {
        let result = if i % 2 == 0 {
            std::io::stdout().write_all(&line)
        } else {
            std::io::stderr().write_all(&line)
        };
        if result.is_err() {
            break;
        }
        written += line.len();
    }
    // How much fits depends on std's buffering; that it is bounded does not.
    let outcome = if written < 64 << 20 {
        "the host stopped the flood"
    } else {
        "the host took all 64 MiB"
    };
    Ok(vec![hostile::report("floods-stdout", outcome)])
});
