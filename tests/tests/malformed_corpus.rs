//! The malformed corpus (tests/data/malformed): every file, given to
//! `customs eval` where it belongs, ends in exit 2 with one error that names
//! the file and says what is wrong, with no verdict on stdout and no panic.
//! `expected.txt` lists every file and the text its error must contain.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assert_cmd::Command;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/malformed")
}

/// `(file, expected text)` from expected.txt.
fn expectations() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(corpus().join("expected.txt")).unwrap();
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (file, expected) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("expected.txt: no tab in {line:?}"));
            (file.to_owned(), expected.to_owned())
        })
        .collect()
}

/// Every file under the corpus's subdirectories, relative to it.
fn corpus_files() -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    for dir in std::fs::read_dir(corpus()).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            files.insert(
                file.strip_prefix(corpus())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    files
}

#[test]
fn every_file_is_listed_and_every_listed_file_exists() {
    let listed: BTreeSet<String> = expectations().into_iter().map(|(f, _)| f).collect();
    let present = corpus_files();
    assert_eq!(
        listed.difference(&present).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "listed in expected.txt but missing"
    );
    assert_eq!(
        present.difference(&listed).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "in the corpus but not in expected.txt (unchecked)"
    );
    assert!(listed.len() >= 50, "the corpus shrank to {}", listed.len());
}

#[test]
fn every_malformed_input_exits_2_with_an_error_naming_it() {
    let report = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/reports/trivy-alpine-310.json")
        .canonicalize()
        .unwrap();
    for (file, expected) in expectations() {
        let mut command = Command::cargo_bin("customs").unwrap();
        command.current_dir(corpus()).arg("eval");
        // Each directory holds what one option reads; the others get a valid report.
        match file.split_once('/').map(|(dir, _)| dir) {
            Some("reports") => command.arg(&file),
            Some("policies") => command.arg("--policy").arg(&file).arg(&report),
            Some("bundles") => command.arg("--bundle").arg(&file).arg(&report),
            Some("waivers") => command.arg("--waivers").arg(&file).arg(&report),
            _ => panic!("{file}: not in reports/, policies/, bundles/ or waivers/"),
        };
        let started = Instant::now();
        let output = command.timeout(Duration::from_secs(60)).output().unwrap();
        let elapsed = started.elapsed();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{file}: {stderr}");
        assert!(output.stdout.is_empty(), "{file}: printed a verdict");
        assert!(!stderr.contains("panicked"), "{file}: {stderr}");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("error: {file}")),
            "{file}: the error does not start by naming the file: {first}"
        );
        assert!(
            first.contains(&expected),
            "{file}: expected {expected:?} in {first:?}"
        );
        // A bomb is refused, not unpacked: well within the timeout.
        assert!(
            elapsed < Duration::from_secs(20),
            "{file}: took {elapsed:?}"
        );
    }
}
