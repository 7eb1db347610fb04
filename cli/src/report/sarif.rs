//! SARIF 2.1.0, as GitHub code scanning uploads it: the bundle's rules as the
//! tool's rules, each finding as a result located at the input it came from.

use std::io::Write;

use anyhow::Result;
use customs::{Bundle, Effect, POLICY_ERROR_RULE};
use serde_sarif::sarif::{
    ArtifactLocation, Location, Message, MultiformatMessageString, PhysicalLocation,
    ReportingDescriptor, Result as SarifResult, ResultLevel, Run, SCHEMA_URL, Sarif, Suppression,
    Tool, ToolComponent,
};

pub fn print(decided: &[super::Decided], bundle: &Bundle, inputs: &[String]) -> Result<()> {
    let mut rules: Vec<ReportingDescriptor> = Vec::new();
    let mut add_rule = |id: &str, name: &str, description: &str| {
        if !rules.iter().any(|r| r.id == id) {
            rules.push(
                ReportingDescriptor::builder()
                    .id(id)
                    .name(name)
                    .short_description(
                        MultiformatMessageString::builder()
                            .text(description)
                            .build(),
                    )
                    .build(),
            );
        }
    };
    for entry in bundle.entries() {
        let info = entry.policy().info();
        for rule in &info.rules {
            add_rule(&rule.id, &info.name, &rule.description);
        }
    }
    add_rule(
        POLICY_ERROR_RULE,
        "customs",
        "a policy failed to evaluate (fail closed)",
    );

    // Findings are about the image; they are located at the input that described it.
    let uri = inputs
        .iter()
        .find(|i| i.as_str() != "-")
        .cloned()
        .unwrap_or_else(|| "stdin".to_owned());
    let location = || {
        Location::builder()
            .physical_location(
                PhysicalLocation::builder()
                    .artifact_location(ArtifactLocation::builder().uri(uri.clone()).build())
                    .build(),
            )
            .build()
    };
    let results: Vec<SarifResult> = decided
        .iter()
        .flat_map(|d| {
            let image = d.name();
            d.decision
                .findings()
                .map(move |found| (image.clone(), found))
        })
        .map(|(image, (policy, finding))| {
            let level = match finding.effect {
                Effect::Deny => ResultLevel::Error,
                Effect::Warn => ResultLevel::Warning,
            };
            let subject = finding
                .subject
                .as_deref()
                .map(|s| format!(" [{s}]"))
                .unwrap_or_default();
            let mut result = SarifResult::builder()
                .rule_id(finding.rule.clone())
                .level(level)
                .message(
                    Message::builder()
                        .text(format!(
                            "{image}: {} ({} severity, policy {policy}){subject}",
                            finding.message, finding.severity
                        ))
                        .build(),
                )
                .locations(vec![location()])
                .build();
            // A waived finding is reported as suppressed, with who and why.
            if let Some(waiver) = finding.waiver.as_ref().filter(|_| finding.is_waived()) {
                result.suppressions = Some(vec![
                    Suppression::builder()
                        .kind(serde_json::json!("external"))
                        .justification(format!(
                            "waived by {} until {}: {}",
                            waiver.owner, waiver.expires, waiver.reason
                        ))
                        .build(),
                ]);
            }
            result
        })
        .collect();

    let driver = ToolComponent::builder()
        .name("customs")
        .version(env!("CARGO_PKG_VERSION"))
        .rules(rules)
        .build();
    let run = Run::builder()
        .tool(Tool::builder().driver(driver).build())
        .results(results)
        .build();
    let sarif = Sarif::builder()
        .schema(SCHEMA_URL)
        .version(serde_json::json!("2.1.0"))
        .runs(vec![run])
        .build();
    let mut out = std::io::stdout().lock();
    customs::text::write_json_pretty(&mut out, &sarif)?;
    writeln!(out)?;
    Ok(())
}
