//! Reporters: the decisions about one image (one per platform of a
//! multi-platform index), several formats. Only the command's output goes
//! to stdout.

pub mod junit;
pub mod sarif;
pub mod text;

use std::io::Write;

use anyhow::Result;
use customs::Bundle;
use customs::text::escaped;

/// A decision about one image, and its platform (`os/arch`) when the
/// image is one platform of an index evaluated whole.
pub struct Decided {
    pub platform: Option<String>,
    pub decision: customs::Decision,
}

impl Decided {
    /// How to name the image (and platform) to a person.
    pub fn name(&self) -> String {
        let image = self.decision.image.display_name();
        match &self.platform {
            Some(platform) => format!("{image} ({platform})"),
            None => image.to_owned(),
        }
    }
}

/// One decision as the library serializes it; several platforms as
/// `{"decision": ..., "platforms": [{"platform": ..., "decision": {...}}]}`.
pub fn print_decisions_json(decided: &[Decided]) -> Result<()> {
    if let [one] = decided {
        return print_json(&one.decision);
    }
    let allowed = decided.iter().all(|d| d.decision.is_allowed());
    let platforms: Vec<serde_json::Value> = decided
        .iter()
        .map(|d| serde_json::json!({ "platform": d.platform, "decision": d.decision }))
        .collect();
    print_json(&serde_json::json!({
        "decision": if allowed { "allow" } else { "deny" },
        "platforms": platforms,
    }))
}

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
