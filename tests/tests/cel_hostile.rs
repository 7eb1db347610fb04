//! Hostile CEL policies (tests/data/hostile-cel), each run by the `customs`
//! binary as a user would, with a 200 ms deadline: every one is refused at
//! load or denied at run time naming the limit it hit, quickly and in
//! bounded memory. Time and peak memory are the child process's own
//! (`wait4`), so they hold for the whole run, not for a loop inside a test.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use customs_tests::corpus_dir;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
    peak_rss_mib: i64,
}

/// Runs `customs eval` on a report that lists packages, with `extra` arguments.
fn eval(policy: &str, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let policy: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/hostile-cel")
        .join(policy);
    let report = corpus_dir().join("syft-cyclonedx/guac-alpine-latest.cdx.json");
    let started = Instant::now();
    // Reaped by wait_with_usage, which std's wait cannot replace.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(assert_cmd::cargo::cargo_bin("customs"))
        .arg("eval")
        .arg(&report)
        .arg("--policy")
        .arg(&policy)
        .args(["--deadline-ms", "200", "--no-cache"])
        .args(extra)
        .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
        .spawn()
        .unwrap();
    let (code, peak_rss_mib) = wait_with_usage(child.id() as libc::pid_t);
    Run {
        code,
        stdout: std::fs::read_to_string(out).unwrap(),
        stderr: std::fs::read_to_string(err).unwrap(),
        took: started.elapsed(),
        peak_rss_mib,
    }
}

/// The exit code and peak resident memory (MiB) of a child, reaped here:
/// std has no wait4, so this is the one unsafe call of the tests.
#[allow(unsafe_code)]
fn wait_with_usage(pid: libc::pid_t) -> (i32, i64) {
    let mut status = 0;
    // SAFETY: rusage is plain integers, for which all zeroes is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: out-parameters we own; the pid is our own unreaped child.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status),
        "customs did not exit normally: {status}"
    );
    (libc::WEXITSTATUS(status), usage.ru_maxrss / 1024)
}

fn assert_bounded(run: &Run) {
    // Twice the deadline, plus the process's own start (a debug build
    // reading the report and compiling nothing: --no-cache, CEL only).
    assert!(
        run.took < Duration::from_millis(2 * 200 + 600),
        "took {:?}",
        run.took
    );
    assert!(run.peak_rss_mib < 256, "peak RSS {} MiB", run.peak_rss_mib);
}

fn refused_at_load(policy: &str, at: &str, limit: &str) {
    let run = eval(policy, &[]);
    assert_bounded(&run);
    assert_eq!(run.code, 2, "{policy}: {}", run.stderr);
    assert!(
        run.stdout.is_empty(),
        "{policy}: a verdict was printed: {}",
        run.stdout
    );
    assert!(
        run.stderr.contains(at) && run.stderr.contains(limit),
        "{policy}: expected {at} and {limit:?} in {}",
        run.stderr
    );
}

#[test]
fn a_string_doubled_through_28_variables_is_refused_at_load() {
    refused_at_load(
        "doubling-strings.yaml",
        "doubling-strings.yaml:46:17: variables[21] (s21) could cost",
        "more than the CEL cost budget of 10000000",
    );
}

#[test]
fn maps_nested_seven_deep_are_refused_at_load() {
    refused_at_load(
        "nested-maps.yaml",
        "nested-maps.yaml:4:18: validations[0] (r).expression could cost",
        "more than the CEL cost budget",
    );
}

#[test]
fn a_list_doubled_through_21_variables_is_refused_at_load() {
    refused_at_load(
        "doubling-lists.yaml",
        "doubling-lists.yaml:44:17: variables[20] (l20) could build a value of 134217728 bytes",
        "more than the CEL memory limit of 67108864",
    );
}

#[test]
fn a_literal_regex_too_big_to_compile_is_refused_at_load() {
    refused_at_load(
        "regex-blowup.yaml",
        "regex-blowup.yaml:4:52",
        "compiles to more than 1048576 bytes",
    );
}

fn denied_naming(run: &Run, reason: &str) {
    assert_bounded(run);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with("DENY"), "{}", run.stdout);
    assert!(
        run.stdout.contains(reason),
        "expected {reason:?} in {}",
        run.stdout
    );
}

#[test]
fn a_regex_known_only_at_run_time_denies_naming_its_limit() {
    let run = eval("regex-param.yaml", &[]);
    denied_naming(&run, "compiles to more than 1048576 bytes");
}

#[test]
fn loops_over_literal_lists_stop_at_the_deadline_without_a_budget() {
    // With the budget out of the way only the deadline can stop 1e7 steps
    // over literal lists, which the meter must see (they once ran 14 s).
    let run = eval(
        "nested-all.yaml",
        &["--cel-cost-budget", &u64::MAX.to_string()],
    );
    denied_naming(&run, "exceeded its 200 ms deadline");
}

#[test]
fn loops_over_literal_lists_spend_the_budget() {
    let run = eval("nested-all.yaml", &["--cel-cost-budget", "1000000000"]);
    assert_bounded(&run);
    // 1e9 units is beyond the estimate, so it loads; a run spends at most
    // what the deadline allows, and either limit denies.
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("exceeded its 200 ms deadline")
            || run.stdout.contains("exceeded the CEL cost budget"),
        "{}",
        run.stdout
    );
    let small = eval("nested-all.yaml", &["--cel-cost-budget", "1000"]);
    assert_eq!(small.code, 2, "{}", small.stderr);
    assert!(
        small
            .stderr
            .contains("more than the CEL cost budget of 1000 "),
        "{}",
        small.stderr
    );
}
