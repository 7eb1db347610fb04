//! Human-readable output, grouped by policy, colored when stdout is a terminal.
//! Every string from a policy or an input is printed `escaped`, so none can
//! start a line of its own or send the terminal a sequence; the colors are
//! customs' own.

use std::io::Write;

use anstyle::{AnsiColor, Style};
use anyhow::Result;
use customs::text::escaped;
use customs::{Bundle, Decision, Effect, Outcome, PolicyDecision, WaiverStatus};

const RED: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const GREEN: Style = AnsiColor::Green.on_default();
const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();

/// Each decision in turn; for several platforms, a last line with the
/// image's verdict.
pub fn print(decided: &[super::Decided], bundle: &Bundle) -> Result<()> {
    for (index, one) in decided.iter().enumerate() {
        if index > 0 {
            writeln!(anstream::stdout().lock())?;
        }
        print_one(&one.decision, one.platform.as_deref(), bundle)?;
    }
    if decided.len() > 1 {
        let denied = decided.iter().filter(|d| !d.decision.is_allowed()).count();
        let mut out = anstream::stdout().lock();
        if denied == 0 {
            writeln!(
                out,
                "\n{GREEN}ALLOW{GREEN:#} every one of {} platforms",
                decided.len()
            )?;
        } else {
            writeln!(
                out,
                "\n{RED}DENY{RED:#} {denied} of {} platforms denied",
                decided.len()
            )?;
        }
    }
    Ok(())
}

fn print_one(decision: &Decision, platform: Option<&str>, bundle: &Bundle) -> Result<()> {
    let mut out = anstream::stdout().lock();
    let image = decision.image.display_name();
    let (word, style) = match decision.decision {
        Outcome::Allow => ("ALLOW", GREEN.bold()),
        Outcome::Deny => ("DENY", RED),
    };
    writeln!(
        out,
        "{style}{word}{style:#} {BOLD}{}{BOLD:#}",
        escaped(image)
    )?;
    if let Some(platform) = platform {
        writeln!(out, "  {DIM}platform {}{DIM:#}", escaped(platform))?;
    }
    if let (Some(digest), Some(_)) = (&decision.image.digest, &decision.image.reference) {
        writeln!(out, "  {DIM}{}{DIM:#}", escaped(digest))?;
    }
    match bundle.version() {
        Some(version) => writeln!(
            out,
            "{DIM}bundle {} {}{DIM:#}",
            escaped(bundle.name()),
            escaped(version)
        )?,
        None => writeln!(out, "{DIM}bundle {}{DIM:#}", escaped(bundle.name()))?,
    }
    for policy in &decision.policies {
        let (mark, style) = match policy.decision {
            PolicyDecision::Allow => ("✓", GREEN),
            PolicyDecision::Warn => ("!", YELLOW),
            PolicyDecision::Deny => ("✗", RED),
            PolicyDecision::Error => ("✗", RED),
        };
        let label = match policy.decision {
            PolicyDecision::Allow => "allow",
            PolicyDecision::Warn => "warn",
            PolicyDecision::Deny => "deny",
            PolicyDecision::Error => "error",
        };
        writeln!(
            out,
            "\n{style}{mark} {}{style:#} {DIM}{}{DIM:#}  {style}{label}{style:#}",
            escaped(&policy.name),
            escaped(&policy.version)
        )?;
        for finding in &policy.findings {
            let style = match finding.effect {
                Effect::Deny => RED,
                Effect::Warn => YELLOW,
            };
            let subject = finding
                .subject
                .as_deref()
                .map(|s| format!("  {DIM}[{}]{DIM:#}", escaped(s)))
                .unwrap_or_default();
            // A policy with several rules (a CEL file) names the rule of each finding.
            let rule = if finding.rule == policy.name {
                String::new()
            } else {
                format!("{}: ", escaped(&finding.rule))
            };
            let (style, waiver) = match &finding.waiver {
                Some(w) if finding.is_waived() => (
                    DIM,
                    format!(
                        "\n             {DIM}waived by {} until {}: {}{DIM:#}",
                        escaped(&w.owner),
                        escaped(&w.expires),
                        escaped(&w.reason)
                    ),
                ),
                Some(w) => (
                    style,
                    format!(
                        "\n             {YELLOW}waiver by {} expired {}; it no longer applies{YELLOW:#}",
                        escaped(&w.owner),
                        escaped(&w.expires)
                    ),
                ),
                None => (style, String::new()),
            };
            writeln!(
                out,
                "    {style}{:<8}{style:#} {rule}{}{subject}{waiver}",
                finding.severity.as_str(),
                escaped(&finding.message)
            )?;
        }
    }
    for waiver in &decision.waivers {
        let what = match waiver.status {
            WaiverStatus::Applied => continue,
            WaiverStatus::Expired => "expired (its findings deny again)",
            WaiverStatus::Unmatched => "matched no finding (remove it?)",
        };
        let subject = waiver
            .subject
            .as_deref()
            .map(|s| format!(" {}", escaped(s)))
            .unwrap_or_default();
        writeln!(
            out,
            "\n{YELLOW}waiver{YELLOW:#} {}{subject} for {} (owner {}, expires {}) {what}",
            escaped(&waiver.rule),
            escaped(&waiver.image),
            escaped(&waiver.owner),
            escaped(&waiver.expires)
        )?;
    }
    let s = &decision.summary;
    writeln!(
        out,
        "\n{} policies: {} denied, {} warned, {} errors",
        s.policies, s.denied, s.warned, s.errors
    )?;
    Ok(())
}
