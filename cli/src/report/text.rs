//! Human-readable output, grouped by policy, colored when stdout is a terminal.

use std::io::Write;

use anstyle::{AnsiColor, Style};
use anyhow::Result;
use customs::{Bundle, Decision, Effect, Outcome, PolicyDecision, WaiverStatus};

const RED: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const GREEN: Style = AnsiColor::Green.on_default();
const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();

pub fn print(decision: &Decision, bundle: &Bundle) -> Result<()> {
    let mut out = anstream::stdout().lock();
    let image = decision.image.display_name();
    let (word, style) = match decision.decision {
        Outcome::Allow => ("ALLOW", GREEN.bold()),
        Outcome::Deny => ("DENY", RED),
    };
    writeln!(out, "{style}{word}{style:#} {BOLD}{image}{BOLD:#}")?;
    if let (Some(digest), Some(_)) = (&decision.image.digest, &decision.image.reference) {
        writeln!(out, "  {DIM}{digest}{DIM:#}")?;
    }
    match bundle.version() {
        Some(version) => writeln!(out, "{DIM}bundle {} {version}{DIM:#}", bundle.name())?,
        None => writeln!(out, "{DIM}bundle {}{DIM:#}", bundle.name())?,
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
            policy.name, policy.version
        )?;
        for finding in &policy.findings {
            let style = match finding.effect {
                Effect::Deny => RED,
                Effect::Warn => YELLOW,
            };
            let subject = finding
                .subject
                .as_deref()
                .map(|s| format!("  {DIM}[{s}]{DIM:#}"))
                .unwrap_or_default();
            // A policy with several rules (a CEL file) names the rule of each finding.
            let rule = if finding.rule == policy.name {
                String::new()
            } else {
                format!("{}: ", finding.rule)
            };
            let (style, waiver) = match &finding.waiver {
                Some(w) if finding.is_waived() => (
                    DIM,
                    format!(
                        "\n             {DIM}waived by {} until {}: {}{DIM:#}",
                        w.owner, w.expires, w.reason
                    ),
                ),
                Some(w) => (
                    style,
                    format!(
                        "\n             {YELLOW}waiver by {} expired {}; it no longer applies{YELLOW:#}",
                        w.owner, w.expires
                    ),
                ),
                None => (style, String::new()),
            };
            writeln!(
                out,
                "    {style}{:<8}{style:#} {rule}{}{subject}{waiver}",
                finding.severity.as_str(),
                finding.message
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
            .map(|s| format!(" {s}"))
            .unwrap_or_default();
        writeln!(
            out,
            "\n{YELLOW}waiver{YELLOW:#} {}{subject} for {} (owner {}, expires {}) {what}",
            waiver.rule, waiver.image, waiver.owner, waiver.expires
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
