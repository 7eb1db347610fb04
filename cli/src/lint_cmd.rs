//! `customs lint BUNDLE...`: what in a bundle can never do what it is
//! written for. For each CEL policy, with the bundle's parameters set, the
//! validations that read no fact (so pass or fail on every image alike)
//! and match conditions that never let it apply; for a waivers file given
//! with `--waivers`, the waivers whose rule no policy of the bundles
//! declares (they waive nothing). Rules a test suite never makes fire are
//! `customs test --coverage`'s to list.

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use customs::text::escaped;
use customs::{Engine, EngineConfig};
use serde::Serialize;

use crate::sources::{self, Source, TrustArgs};

#[derive(Args)]
pub struct LintArgs {
    /// Bundles to lint: a directory, archive, oci:// reference or
    /// builtin:baseline.
    #[arg(value_name = "BUNDLE", required = true)]
    bundles: Vec<String>,
    /// A waivers file (as `customs eval --waivers`) whose rules must each be
    /// one a policy of the bundles declares.
    #[arg(long, value_name = "FILE")]
    waivers: Option<std::path::PathBuf>,
    #[command(flatten)]
    trust: TrustArgs,
    #[arg(long, value_enum, default_value_t = LintFormat::Text)]
    format: LintFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum LintFormat {
    Text,
    Json,
}

/// One thing found, in one bundle.
#[derive(Serialize)]
struct Found {
    bundle: String,
    policy: Option<String>,
    rule: Option<String>,
    place: Option<String>,
    message: String,
}

pub fn run(args: LintArgs) -> Result<u8> {
    let engine = Engine::new(EngineConfig::with_default_cache())?;
    let trust = args.trust.resolve()?;
    let mut found = Vec::new();
    let mut rules = BTreeSet::new();
    for text in &args.bundles {
        let bundle = sources::load(&engine, &Source::parse(text)?, &trust)
            .with_context(|| format!("loading bundle {text}"))?;
        for entry in bundle.entries() {
            let policy = entry.policy();
            rules.extend(policy.info().rules.iter().map(|r| r.id.clone()));
            for lint in policy.lint(entry.params())? {
                found.push(Found {
                    bundle: text.clone(),
                    policy: Some(policy.name().to_owned()),
                    rule: lint.rule,
                    place: Some(lint.place),
                    message: lint.message,
                });
            }
        }
    }
    if let Some(path) = &args.waivers {
        let waivers = customs::Waivers::load_file(path)?;
        for waiver in waivers.iter().filter(|w| !rules.contains(&w.rule)) {
            found.push(Found {
                bundle: path.display().to_string(),
                policy: None,
                rule: Some(waiver.rule.clone()),
                place: None,
                message: format!(
                    "the waiver of rule {:?} (owner {}) waives nothing: no policy of {} declares that rule",
                    waiver.rule,
                    waiver.owner,
                    args.bundles.join(", ")
                ),
            });
        }
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        LintFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&found)?)?,
        LintFormat::Text => {
            for item in &found {
                let policy = item
                    .policy
                    .as_deref()
                    .map(|p| format!("policy {}: ", escaped(p)))
                    .unwrap_or_default();
                let place = item
                    .place
                    .as_deref()
                    .map(|p| format!("{}: ", escaped(p)))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{}: {policy}{place}{}",
                    escaped(&item.bundle),
                    escaped(&item.message)
                )?;
            }
            writeln!(out, "{} found", found.len())?;
        }
    }
    Ok(if found.is_empty() { 0 } else { 1 })
}
