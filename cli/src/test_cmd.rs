//! `customs test`: policy test cases kept next to the policies, in the spirit
//! of `opa test` and `kyverno test`. Every `*.test.yaml` file under the given
//! paths is a suite:
//!
//! ```yaml
//! bundle: builtin:baseline     # optional; else --bundle, else the directory tested
//! now: 2026-11-01T00:00:00Z    # optional default clock for every case
//! cases:
//!   - name: root user is denied
//!     inputs: [fixtures/trivy.json]   # tool outputs, relative to this file
//!     # or facts: { ... }             # an inline facts v1 document
//!     params: {no-root-user.allow-root: false}
//!     expect:
//!       decision: deny
//!       deny: [no-root-user]          # exactly these rules deny
//!       warn: []                      # exactly these rules warn
//! ```
//!
//! `--coverage` adds which outcomes of each rule the cases exercised
//! (crate::coverage), `--coverage-json FILE` writes them as JSON, and
//! `--coverage-min PCT` fails the run below that share of rules covered.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use customs::text::escaped;
use customs::{
    Bundle, Decision, Effect, Engine, EngineConfig, EvalOptions, Outcome, PreparedFacts,
};
use customs_facts::import::{Origin, stated_facts};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde::Deserialize;

use crate::sources::{self, Source, TrustArgs};

#[derive(Args)]
pub struct TestArgs {
    /// Test files (*.test.yaml) or directories searched for them.
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,
    /// The bundle under test, overriding each file's `bundle:` (a directory,
    /// archive, oci:// reference or builtin:baseline).
    #[arg(long, value_name = "BUNDLE")]
    bundle: Option<String>,
    #[command(flatten)]
    trust: TrustArgs,
    #[arg(long, value_enum, default_value_t = TestFormat::Text)]
    format: TestFormat,
    /// Print, after the results, which outcomes (deny, warn, pass) of each
    /// rule the cases exercised (to stderr with --format junit).
    #[arg(long)]
    coverage: bool,
    /// Write the coverage as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    coverage_json: Option<PathBuf>,
    /// Fail (exit 1) when fewer than PCT percent of the rules are covered:
    /// seen both firing (deny or warn) and passing.
    #[arg(long, value_name = "PCT", value_parser = percent)]
    coverage_min: Option<f64>,
}

fn percent(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if (0.0..=100.0).contains(&value) => Ok(value),
        _ => Err(format!("{text:?} is not a percentage from 0 to 100")),
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum TestFormat {
    Text,
    Junit,
}

/// A policy test suite (`*.test.yaml`): cases of inputs or facts and the
/// decision each must get.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "customs test suite")]
pub struct SuiteFile {
    #[serde(default)]
    bundle: Option<String>,
    #[serde(default)]
    now: Option<String>,
    cases: Vec<CaseSpec>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CaseSpec {
    name: String,
    #[serde(default)]
    inputs: Vec<PathBuf>,
    #[serde(default)]
    facts: Option<serde_json::Value>,
    #[serde(default)]
    params: BTreeMap<String, customs::ParamSetting>,
    #[serde(default)]
    now: Option<String>,
    expect: Expect,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    decision: Option<ExpectedDecision>,
    #[serde(default)]
    deny: Option<Vec<String>>,
    #[serde(default)]
    warn: Option<Vec<String>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
enum ExpectedDecision {
    Allow,
    Deny,
}

/// One case's result: `Ok` passed, `Err(Failure)` did not.
enum Failure {
    /// The decision differs from the expectation.
    Mismatch(String),
    /// The case could not run (bad input, bad parameter).
    Error(String),
}

struct CaseResult {
    name: String,
    outcome: Result<(), Failure>,
    seconds: f64,
}

struct SuiteResult {
    file: PathBuf,
    bundle: String,
    cases: Vec<CaseResult>,
}

pub fn run(args: TestArgs) -> Result<u8> {
    let mut files = Vec::new();
    for path in &args.paths {
        find_test_files(path, 0, &mut files)
            .with_context(|| format!("cannot search {}", path.display()))?;
    }
    if files.is_empty() {
        bail!("no *.test.yaml files under {}", display_paths(&args.paths));
    }
    files.sort();
    let engine = Engine::new(EngineConfig::with_default_cache())?;
    let trust = args.trust.resolve()?;
    let mut suites = Vec::new();
    let mut coverage = crate::coverage::Coverage::default();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let suite: SuiteFile = serde_saphyr::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        let base = file.parent().unwrap_or(Path::new("."));
        let bundle_text = match (&args.bundle, &suite.bundle) {
            (Some(cli), _) => cli.clone(),
            (None, Some(own)) if own.starts_with("builtin:") || own.starts_with("oci://") => {
                own.clone()
            }
            (None, Some(own)) => base.join(own).display().to_string(),
            (None, None) => bail!(
                "{}: names no bundle: add `bundle:` to the file or pass --bundle",
                file.display()
            ),
        };
        let bundle = sources::load(&engine, &Source::parse(&bundle_text)?, &trust)
            .with_context(|| format!("{}: loading bundle {bundle_text}", file.display()))?;
        coverage.declare(&bundle_text, &bundle);
        let cases = suite
            .cases
            .iter()
            .map(|case| {
                let started = Instant::now();
                let outcome = run_case(&engine, &bundle, base, suite.now.as_deref(), case)
                    .and_then(|decision| {
                        coverage.add(&bundle_text, &decision);
                        check(&case.expect, &decision)
                    });
                CaseResult {
                    name: case.name.clone(),
                    outcome,
                    seconds: started.elapsed().as_secs_f64(),
                }
            })
            .collect();
        suites.push(SuiteResult {
            file: file.clone(),
            bundle: bundle_text,
            cases,
        });
    }
    match args.format {
        TestFormat::Text => print_text(&suites)?,
        TestFormat::Junit => print_junit(&suites)?,
    }
    if args.coverage {
        match args.format {
            TestFormat::Text => coverage.print_text(&mut std::io::stdout().lock())?,
            TestFormat::Junit => coverage.print_text(&mut std::io::stderr().lock())?,
        }
    }
    if let Some(path) = &args.coverage_json {
        let text = serde_json::to_string_pretty(&coverage.to_json())?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let failed = suites
        .iter()
        .flat_map(|s| &s.cases)
        .any(|c| c.outcome.is_err());
    let below = args.coverage_min.filter(|min| coverage.percent() < *min);
    if let Some(min) = below {
        eprintln!(
            "error: {:.1}% of the rules are covered, below --coverage-min {min}",
            coverage.percent()
        );
    }
    Ok(if failed || below.is_some() { 1 } else { 0 })
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Collects `*.test.yaml` files, skipping hidden and build directories.
fn find_test_files(path: &Path, depth: usize, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    if depth > 8 {
        return Ok(());
    }
    for entry in std::fs::read_dir(path)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "node_modules" {
                find_test_files(&path, depth + 1, out)?;
            }
        } else if name.ends_with(".test.yaml") || name.ends_with(".test.yml") {
            out.push(path);
        }
    }
    Ok(())
}

fn run_case(
    engine: &Engine,
    bundle: &Bundle,
    base: &Path,
    suite_now: Option<&str>,
    case: &CaseSpec,
) -> Result<Decision, Failure> {
    let error = |e: anyhow::Error| Failure::Error(format!("{e:#}"));
    let facts = match (&case.facts, case.inputs.is_empty()) {
        (Some(_), false) => {
            return Err(Failure::Error(
                "give either inputs or facts, not both".to_owned(),
            ));
        }
        (None, true) => return Err(Failure::Error("give inputs or facts".to_owned())),
        (Some(facts), true) => {
            let json = serde_json::to_vec(facts).map_err(|e| error(e.into()))?;
            // The case states what customs would know, its own checks
            // (`trust: verified`) included.
            stated_facts(&Origin::named(format!("{} (facts)", case.name)), &json)
                .map_err(|e| error(e.into()))?
        }
        (None, false) => {
            let paths: Vec<PathBuf> = case.inputs.iter().map(|p| base.join(p)).collect();
            crate::inputs::load_one(
                &paths,
                None,
                None,
                &crate::trust::TrustArgs::default(),
                None,
            )
            .map_err(error)?
        }
    };
    let mut bundle = bundle.clone();
    for (key, value) in &case.params {
        bundle
            .set_param(key, &value.as_param_text())
            .map_err(|e| error(e.into()))?;
    }
    let mut options = EvalOptions::default();
    options.now = match case.now.as_deref().or(suite_now) {
        Some(text) => Some(
            chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|_| Failure::Error(format!("now {text:?} is not an RFC 3339 time")))?
                .timestamp(),
        ),
        None => None,
    };
    Ok(engine.evaluate(&bundle, &PreparedFacts::new(facts), &options))
}

fn check(expect: &Expect, decision: &Decision) -> Result<(), Failure> {
    let mut problems = Vec::new();
    let denied: Vec<String> = decision
        .denied_rules()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut warned: Vec<String> = decision
        .findings()
        .map(|(_, f)| f)
        .filter(|f| f.effect == Effect::Warn && !f.is_waived())
        .map(|f| f.rule.clone())
        .collect();
    warned.sort();
    warned.dedup();
    if let Some(expected) = expect.decision {
        let actual = match decision.decision {
            Outcome::Allow => ExpectedDecision::Allow,
            Outcome::Deny => ExpectedDecision::Deny,
        };
        if actual != expected {
            problems.push(format!(
                "expected {expected:?}, got {actual:?} (denied by: {})",
                list(&denied)
            ));
        }
    }
    for (what, expected, actual) in [
        ("denying", &expect.deny, &denied),
        ("warning", &expect.warn, &warned),
    ] {
        if let Some(expected) = expected {
            let mut expected = expected.clone();
            expected.sort();
            expected.dedup();
            if &expected != actual {
                problems.push(format!(
                    "expected {what} rules [{}], got [{}]",
                    expected.join(", "),
                    actual.join(", ")
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::Mismatch(problems.join("; ")))
    }
}

fn list(rules: &[String]) -> String {
    if rules.is_empty() {
        "none".to_owned()
    } else {
        rules.join(", ")
    }
}

fn print_text(suites: &[SuiteResult]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let (mut passed, mut failed) = (0, 0);
    for suite in suites {
        writeln!(
            out,
            "{} (bundle {})",
            escaped(&suite.file.display().to_string()),
            escaped(&suite.bundle)
        )?;
        for case in &suite.cases {
            match &case.outcome {
                Ok(()) => {
                    passed += 1;
                    writeln!(out, "  ok    {}", escaped(&case.name))?;
                }
                Err(Failure::Mismatch(why)) => {
                    failed += 1;
                    writeln!(out, "  FAIL  {}: {}", escaped(&case.name), escaped(why))?;
                }
                Err(Failure::Error(why)) => {
                    failed += 1;
                    writeln!(out, "  ERROR {}: {}", escaped(&case.name), escaped(why))?;
                }
            }
        }
    }
    writeln!(out, "\n{passed} passed, {failed} failed")?;
    Ok(())
}

fn print_junit(suites: &[SuiteResult]) -> Result<()> {
    let mut report = Report::new("customs test");
    for suite in suites {
        let mut junit = TestSuite::new(suite.file.display().to_string());
        for case in &suite.cases {
            let status = match &case.outcome {
                Ok(()) => TestCaseStatus::success(),
                Err(Failure::Mismatch(why)) => {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    status.set_message(why.clone()).set_type("mismatch");
                    status
                }
                Err(Failure::Error(why)) => {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                    status.set_message(why.clone()).set_type("error");
                    status
                }
            };
            let mut test_case = TestCase::new(case.name.clone(), status);
            test_case
                .set_classname(format!("customs.{}", suite.bundle))
                .set_time(std::time::Duration::from_secs_f64(case.seconds));
            junit.add_test_case(test_case);
        }
        report.add_test_suite(junit);
    }
    let mut out = std::io::stdout().lock();
    report.serialize(&mut out)?;
    writeln!(out)?;
    Ok(())
}
