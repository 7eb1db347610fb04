//! The regorus peer as a process, as a CI job would run it: reads a facts
//! document, evaluates the Rego baseline (bench/rego/baseline.rego) at the
//! given time, prints the decision and its (rule, effect) pairs, and exits
//! 0 (allow) or 1 (deny), as `customs eval` does.
//!
//! Usage: rego-eval FACTS.json UNIX_SECONDS

use anyhow::{Context, Result, bail};
use customs_bench::rego::{RegoBaseline, RegoInput};

fn main() -> Result<std::process::ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, now] = args.as_slice() else {
        bail!("usage: rego-eval FACTS.json UNIX_SECONDS");
    };
    let now: i64 = now.parse().context("UNIX_SECONDS is not a number")?;
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    let input = RegoInput::from_json(&text).map_err(anyhow::Error::msg)?;
    let verdict = RegoBaseline::new()
        .and_then(|mut rego| rego.verdict(&input, now))
        .map_err(anyhow::Error::msg)?;
    println!("{}", if verdict.allowed { "allow" } else { "deny" });
    for (rule, effect) in &verdict.rules {
        println!("{rule} {effect}");
    }
    Ok(std::process::ExitCode::from(u8::from(!verdict.allowed)))
}
