//! Reporters: one decision, several formats. Only the command's output goes to stdout.

pub mod junit;
pub mod sarif;
pub mod text;

use std::io::Write;

use anyhow::Result;
use customs::Bundle;

pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Lists a bundle's policies, rules and parameters with their values.
pub fn print_policies(bundle: &Bundle) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "bundle {}", bundle.name())?;
    for entry in bundle.entries() {
        let info = entry.policy().info();
        writeln!(
            out,
            "\n{} {}  {}  ({})",
            info.name,
            info.version,
            entry.policy().kind_name(),
            entry.policy().origin()
        )?;
        writeln!(out, "  {}", info.description)?;
        for rule in &info.rules {
            writeln!(out, "  rule {}: {}", rule.id, rule.description)?;
        }
        for (param, (_, value)) in info.params.iter().zip(entry.params()) {
            writeln!(
                out,
                "  param {}={:?}  {}",
                param.name, value, param.description
            )?;
        }
    }
    Ok(())
}
