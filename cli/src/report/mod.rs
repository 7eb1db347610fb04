//! Reporters: one decision, several formats. Only the command's output goes to stdout.

pub mod junit;
pub mod sarif;
pub mod text;

use std::io::Write;

use anyhow::Result;
use customs::Bundle;
use customs::text::escaped;

pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    customs::text::write_json_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Lists a bundle's policies, rules and parameters with their values.
pub fn print_policies(bundle: &Bundle) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "bundle {}", escaped(bundle.name()))?;
    for entry in bundle.entries() {
        let info = entry.policy().info();
        writeln!(
            out,
            "\n{} {}  {}  ({})",
            escaped(&info.name),
            escaped(&info.version),
            entry.policy().kind_name(),
            escaped(entry.policy().origin())
        )?;
        writeln!(out, "  {}", escaped(&info.description))?;
        for rule in &info.rules {
            writeln!(
                out,
                "  rule {}: {}",
                escaped(&rule.id),
                escaped(&rule.description)
            )?;
        }
        for (param, (_, value)) in info.params.iter().zip(entry.params()) {
            writeln!(
                out,
                "  param {}={}  {}",
                escaped(&param.name),
                escaped(&format!("{value:?}")),
                escaped(&param.description)
            )?;
        }
    }
    Ok(())
}
