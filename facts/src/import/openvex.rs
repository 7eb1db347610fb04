//! OpenVEX documents (v0.2.0, and the earlier `https://openvex.dev/ns` context).
//!
//! A VEX document says which vulnerabilities do (not) affect which products.
//! Its statements are kept with the facts and applied to vulnerabilities after
//! all inputs are merged (see `Facts::normalize`).

use serde::Deserialize;

use super::{Format, ImportError, Origin, parse_typed, plain_source};
use crate::model::{Facts, VexStatement, VexStatus};

#[derive(Deserialize)]
struct Document {
    #[serde(rename = "@context")]
    context: String,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    statements: Vec<Statement>,
}

#[derive(Deserialize)]
struct Statement {
    vulnerability: VulnerabilityRef,
    #[serde(default)]
    products: Vec<Product>,
    status: String,
    #[serde(default)]
    justification: Option<String>,
}

#[derive(Deserialize)]
struct VulnerabilityRef {
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "@id", default)]
    id: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
}

#[derive(Deserialize)]
struct Product {
    #[serde(rename = "@id", default)]
    id: Option<String>,
    #[serde(default)]
    identifiers: Option<Identifiers>,
    #[serde(default)]
    subcomponents: Vec<Product>,
}

#[derive(Deserialize)]
struct Identifiers {
    #[serde(default)]
    purl: Option<String>,
}

impl Product {
    fn purl(&self) -> Option<String> {
        self.identifiers
            .as_ref()
            .and_then(|i| i.purl.clone())
            .or_else(|| self.id.clone().filter(|id| id.starts_with("pkg:")))
    }
}

const CONTEXTS: [&str; 2] = ["https://openvex.dev/ns", "https://openvex.dev/ns/v0.2.0"];

/// Most statements one document may hold: ten times the largest real VEX
/// feeds, and a bound on what matching them costs.
const MAX_STATEMENTS: usize = 100_000;

pub(super) fn import(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let document: Document = parse_typed(origin, bytes, Format::OpenVex)?;
    if !CONTEXTS.contains(&document.context.as_str()) {
        return Err(ImportError::UnsupportedVersion {
            origin: origin.clone(),
            format: Format::OpenVex,
            found: document.context,
            supported: "https://openvex.dev/ns and https://openvex.dev/ns/v0.2.0",
        });
    }
    if document.statements.len() > MAX_STATEMENTS {
        return Err(super::schema_error(
            origin,
            Format::OpenVex,
            "statements",
            format!(
                "{} statements, more than the {MAX_STATEMENTS} one document may hold",
                document.statements.len()
            ),
        ));
    }
    let mut warnings = Vec::new();
    let mut facts = Facts::default();
    for (index, statement) in document.statements.into_iter().enumerate() {
        let status = match statement.status.as_str() {
            "not_affected" => VexStatus::NotAffected,
            "affected" => VexStatus::Affected,
            "fixed" => VexStatus::Fixed,
            "under_investigation" => VexStatus::UnderInvestigation,
            other => {
                warnings.push(format!(
                    "statements[{index}]: unknown status {other:?}, statement skipped"
                ));
                continue;
            }
        };
        let mut vulnerability: Vec<String> = statement.vulnerability.name.into_iter().collect();
        vulnerability.extend(statement.vulnerability.aliases);
        if vulnerability.is_empty()
            && let Some(id) = statement.vulnerability.id
        {
            vulnerability.push(id);
        }
        if vulnerability.is_empty() {
            warnings.push(format!(
                "statements[{index}]: names no vulnerability, statement skipped"
            ));
            continue;
        }
        let mut products = Vec::new();
        let mut subcomponents = Vec::new();
        for product in &statement.products {
            match product.purl() {
                Some(purl) => products.push(purl),
                None => warnings.push(format!(
                    "statements[{index}]: product {:?} is not a purl; customs matches products by purl",
                    product.id.as_deref().unwrap_or("")
                )),
            }
            subcomponents.extend(product.subcomponents.iter().filter_map(Product::purl));
        }
        if products.is_empty() && !statement.products.is_empty() {
            warnings.push(format!(
                "statements[{index}]: no product could be matched, statement skipped"
            ));
            continue;
        }
        facts.vex.push(VexStatement {
            vulnerability,
            products,
            subcomponents,
            status,
            justification: statement.justification,
            source: origin.to_string(),
        });
    }
    let mut source = plain_source(
        document.author.as_deref().unwrap_or("openvex"),
        Format::OpenVex,
        origin,
        warnings,
    );
    source.scanned_at = document.timestamp;
    facts.sources.push(source);
    Ok(facts)
}
