//! What an in-toto attestation's predicate says about the image, read as
//! the tool output it carries: CycloneDX and SPDX SBOMs (`cosign attest
//! --type cyclonedx|spdxjson`, `syft attest`), OpenVEX (`--type openvex`),
//! and cosign's vulnerability predicate (`--type vuln`, `trivy --format
//! cosign-vuln`), whose `scanner.result` is the scanner's own report.
//!
//! The predicate goes through the importer of its format, so its facts are
//! the same as from the file given directly, and its source is named after
//! the attestation. Whether the attestation was verified is recorded on the
//! attestation itself; its contents are what the statement reports.

use super::{Format, ImportError, Origin};
use crate::model::Facts;

const CYCLONEDX: &str = "https://cyclonedx.org/bom";
const SPDX: &str = "https://spdx.dev/Document";
const OPENVEX: &str = "https://openvex.dev/ns";
const COSIGN_VULN: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";

/// Scanner reports a cosign vulnerability predicate may carry. Anything
/// else (SARIF, a table) is named in a warning, never guessed at; nothing
/// that nests a further statement is read.
const SCANNER_FORMATS: [Format; 6] = [
    Format::TrivyJson,
    Format::GrypeJson,
    Format::ClairV4,
    Format::ClairScanner,
    Format::Klar,
    Format::SnykJson,
];

/// The facts a predicate carries, if it is of a kind read here: `None` for
/// other kinds (SLSA provenance is read into the attestation itself). A
/// predicate that does not import is a warning, not an error: the
/// statement's attestation still counts.
pub(super) fn contents(
    origin: &Origin,
    predicate_type: &str,
    predicate: &serde_json::Value,
    warnings: &mut Vec<String>,
) -> Option<Facts> {
    let kind = predicate_kind(predicate_type)?;
    let inner = Origin::named(format!("{origin} (predicate {predicate_type})"));
    let result = match kind {
        Kind::Document(format) => import_value(&inner, predicate, Some(format)),
        Kind::ScannerReport => {
            let report = &predicate["scanner"]["result"];
            if report.is_null() {
                warnings.push(format!(
                    "the {predicate_type} predicate has no scanner.result: no vulnerabilities read from it"
                ));
                return None;
            }
            import_value(&inner, report, None)
        }
    };
    match result {
        Ok(facts) => Some(facts),
        Err(error) => {
            warnings.push(format!(
                "the {predicate_type} predicate was not read: {error}"
            ));
            None
        }
    }
}

enum Kind {
    /// The predicate is a whole document of this format.
    Document(Format),
    /// The predicate wraps a scanner's report.
    ScannerReport,
}

/// Predicate types name a format, sometimes with a version after a slash
/// (`https://cyclonedx.org/bom/v1.5`, `https://spdx.dev/Document/v2.3`).
fn predicate_kind(predicate_type: &str) -> Option<Kind> {
    let names = |base: &str| {
        predicate_type == base
            || predicate_type
                .strip_prefix(base)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    if names(CYCLONEDX) {
        Some(Kind::Document(Format::CycloneDx))
    } else if names(SPDX) {
        Some(Kind::Document(Format::Spdx))
    } else if names(OPENVEX) {
        Some(Kind::Document(Format::OpenVex))
    } else if predicate_type == COSIGN_VULN {
        Some(Kind::ScannerReport)
    } else {
        None
    }
}

/// Imports a JSON value as the given format, or as the scanner report it
/// is detected to be.
fn import_value(
    origin: &Origin,
    value: &serde_json::Value,
    format: Option<Format>,
) -> Result<Facts, ImportError> {
    // The importers read bytes (with positions for their errors); a
    // predicate is a parsed value, so it is written out once.
    let bytes = serde_json::to_vec(value).map_err(|_| ImportError::Encoding {
        origin: origin.clone(),
        reason: "the predicate could not be written out as JSON",
    })?;
    let format = match format {
        Some(format) => format,
        None => {
            let detected = super::detect(origin, &bytes)?;
            if !SCANNER_FORMATS.contains(&detected) {
                return Err(ImportError::UnknownFormat {
                    origin: origin.clone(),
                    hint: format!(" (a {} document is not a scanner report)", detected.name()),
                });
            }
            detected
        }
    };
    super::import_as(origin, &bytes, format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicate_types_name_their_format_with_or_without_a_version() {
        let format = |t: &str| match predicate_kind(t) {
            Some(Kind::Document(format)) => Some(format.name()),
            Some(Kind::ScannerReport) => Some("scanner"),
            None => None,
        };
        assert_eq!(format("https://cyclonedx.org/bom"), Some("cyclonedx-json"));
        assert_eq!(
            format("https://cyclonedx.org/bom/v1.5"),
            Some("cyclonedx-json")
        );
        assert_eq!(format("https://spdx.dev/Document/v2.3"), Some("spdx-json"));
        assert_eq!(format("https://openvex.dev/ns/v0.2.0"), Some("openvex"));
        assert_eq!(
            format("https://cosign.sigstore.dev/attestation/vuln/v1"),
            Some("scanner")
        );
        assert_eq!(format("https://cyclonedx.org/bombast"), None);
        assert_eq!(format("https://slsa.dev/provenance/v1"), None);
    }
}
