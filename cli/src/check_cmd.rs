//! `customs check FILE...`: the policies among the files load (a CEL
//! policy file compiles and passes its cost check; a component compiles,
//! links and declares valid metadata). Other files are skipped, so a
//! pre-commit hook can hand it every changed YAML file.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use customs::{Engine, EngineConfig};

#[derive(Args)]
pub struct CheckArgs {
    /// Files to check: CEL policy files (YAML with `validations`) and
    /// components (.wasm); any other file is skipped.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
}

/// The key a YAML line starts at the top level, if it does.
fn top_level_key(line: &str) -> Option<&str> {
    if line.starts_with(char::is_whitespace) {
        return None;
    }
    line.trim_start_matches(['"', '\''])
        .split([':', '"', '\''])
        .next()
}

/// What a file is, by its content.
enum Kind {
    Component,
    CelPolicy,
    Other,
}

fn kind(path: &std::path::Path, bytes: &[u8]) -> Kind {
    if bytes.starts_with(b"\0asm") || path.extension().is_some_and(|e| e == "wasm") {
        return Kind::Component;
    }
    let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
    let text = std::str::from_utf8(bytes).unwrap_or_default();
    // Top-level keys only a CEL policy has (a misspelled `validation` too,
    // so a broken policy is reported, not skipped); test suites, manifests
    // and waivers have none of them.
    const POLICY_KEYS: [&str; 4] = ["validations", "validation", "matchConditions", "variables"];
    if is_yaml
        && text
            .lines()
            .filter_map(top_level_key)
            .any(|key| POLICY_KEYS.contains(&key))
    {
        Kind::CelPolicy
    } else {
        Kind::Other
    }
}

pub fn run(args: CheckArgs) -> Result<u8> {
    let engine = Engine::new(EngineConfig::with_default_cache().pool_size(0))?;
    let (mut checked, mut skipped, mut failed) = (0, 0, 0);
    for path in &args.files {
        let shown = customs::text::escaped(&path.display().to_string()).to_string();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("error: {shown}: cannot read it: {e}");
                failed += 1;
                continue;
            }
        };
        if matches!(kind(path, &bytes), Kind::Other) {
            skipped += 1;
            continue;
        }
        match engine.load_policy(&path.display().to_string(), &bytes) {
            Ok(policy) => {
                let info = policy.info();
                println!(
                    "ok    {shown}: policy {} {} ({} rules)",
                    customs::text::escaped(&info.name),
                    customs::text::escaped(&info.version),
                    info.rules.len()
                );
                checked += 1;
            }
            Err(e) => {
                eprintln!("error: {}", customs::text::escaped(&e.to_string()));
                failed += 1;
            }
        }
    }
    println!("{checked} policies load, {failed} do not, {skipped} other files skipped");
    Ok(if failed == 0 {
        crate::EXIT_ALLOWED
    } else {
        crate::EXIT_ERROR
    })
}
