//! Importers: tool outputs in, facts out.
//!
//! The format of an input is detected from its top-level keys (a cheap pass that
//! skips every value), then the input is parsed once into the format's typed
//! model. Whatever an importer reads but cannot map is recorded as a warning in
//! the facts' `sources[]`, never dropped in silence.

mod admission;
mod clair;
mod clair_v2;
mod cyclonedx;
mod docker_inspect;
mod grype;
mod image_config;
mod oci;
mod openvex;
mod predicate;
mod sigstore;
mod sniff;
mod snyk;
mod spdx;
mod syft;
mod trivy;

use std::fmt;
use std::path::Path;

use crate::model::{Facts, SCHEMA_VERSION, Source, Trust};

pub use sigstore::attestation_of;
pub use sniff::Format;

/// Where an input came from, for error messages and `sources[].file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    pub fn file(path: &Path) -> Self {
        Origin(path.display().to_string())
    }
    pub fn stdin() -> Self {
        Origin("<stdin>".to_owned())
    }
    pub fn named(name: impl Into<String>) -> Self {
        Origin(name.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an input could not be imported. Every variant names the input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    #[error("{origin}: could not read the input: {source}")]
    Io {
        origin: Origin,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: the input is empty")]
    Empty { origin: Origin },
    #[error("{origin}: {reason}")]
    Encoding {
        origin: Origin,
        reason: &'static str,
    },
    #[error("{origin}: not valid JSON at line {line}, column {column}: {message}")]
    Syntax {
        origin: Origin,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{origin}: invalid {format} document at {path}{}: {message}",
        position(*.line, *.column)
    )]
    Schema {
        origin: Origin,
        format: Format,
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{origin}: unknown input format{hint}. Supported: {supported}", supported = Format::supported_list())]
    UnknownFormat { origin: Origin, hint: String },
    #[error("{origin}: {format} version {found} is not supported (supported: {supported})")]
    UnsupportedVersion {
        origin: Origin,
        format: Format,
        found: String,
        supported: &'static str,
    },
}

/// " (line L, column C)" where the parser knew it; parts of the input read as
/// a JSON value first (an embedded payload) have no position.
fn position(line: usize, column: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(" (line {line}, column {column})")
    }
}

/// Imports one input: detects its format and maps it to facts.
pub fn import_bytes(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let format = detect(origin, bytes)?;
    import_as(origin, bytes, format)
}

/// Imports one input in a format the caller names (no detection).
pub fn import_as(origin: &Origin, bytes: &[u8], format: Format) -> Result<Facts, ImportError> {
    let bytes = json_text(origin, bytes)?;
    let mut facts = match format {
        Format::CustomsFacts => parse_facts_document(origin, bytes, Unknown::Warn)?,
        Format::TrivyJson => trivy::import(origin, bytes)?,
        Format::GrypeJson => grype::import(origin, bytes)?,
        Format::OciConfig => oci::import_config(origin, bytes)?,
        Format::OciManifest => oci::import_manifest(origin, bytes)?,
        Format::OciIndex => oci::import_index(origin, bytes)?,
        Format::DockerInspect => docker_inspect::import(origin, bytes)?,
        Format::OpenVex => openvex::import(origin, bytes)?,
        Format::CycloneDx => cyclonedx::import(origin, bytes)?,
        Format::Spdx => spdx::import(origin, bytes)?,
        Format::CosignVerify => sigstore::import_verify(origin, bytes)?,
        Format::SimpleSigning => sigstore::import_simple_signing(origin, bytes)?,
        Format::DsseEnvelope => sigstore::import_envelope(origin, bytes)?,
        Format::CosignVerifyAttestation => sigstore::import_verify_attestation(origin, bytes)?,
        Format::SigstoreBundle => sigstore::import_bundle(origin, bytes)?,
        Format::AdmissionReview => admission::import(origin, bytes)?,
        Format::ClairV4 => clair::import(origin, bytes)?,
        Format::ClairScanner => clair_v2::import_clair_scanner(origin, bytes)?,
        Format::Klar => clair_v2::import_klar(origin, bytes)?,
        Format::SnykJson => snyk::import(origin, bytes)?,
        Format::SyftJson => syft::import(origin, bytes)?,
    };
    as_reported(origin, format, &mut facts);
    facts.normalize();
    Ok(facts)
}

/// Reads a facts document as its author states it, `trust: verified`
/// included: for policy test cases (`customs test`), whose facts say what
/// customs would know about an image. Never for facts a decision is made
/// on: those go through [`import_as`], where no input can claim customs'
/// own checks.
pub fn stated_facts(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let bytes = json_text(origin, bytes)?;
    // Facts an author states (a test case) are held to this version: a
    // misspelled field would make a case test nothing.
    let mut facts = parse_facts_document(origin, bytes, Unknown::Refuse)?;
    facts.normalize();
    Ok(facts)
}

/// No input can say that customs verified something: only customs' own
/// checks, after import, establish `trust: verified`. A claim of it (a facts
/// document that says so) is recorded as `reported`, with a warning.
fn as_reported(origin: &Origin, format: Format, facts: &mut Facts) {
    let mut claimed = 0;
    let signatures = facts.signatures.iter_mut().flatten().map(|s| &mut s.trust);
    let attestations = facts
        .attestations
        .iter_mut()
        .flatten()
        .map(|a| &mut a.trust);
    for trust in signatures.chain(attestations) {
        if *trust == Trust::Verified {
            *trust = Trust::Reported;
            claimed += 1;
        }
    }
    if claimed == 0 {
        return;
    }
    let warning = format!(
        "{claimed} signature(s) or attestation(s) claimed trust \"verified\": an input cannot vouch for customs' own checks, so they are recorded as reported"
    );
    match facts.sources.last_mut() {
        Some(source) => source.warnings.push(warning),
        None => facts
            .sources
            .push(plain_source("customs", format, origin, vec![warning])),
    }
}

/// Reads and imports a file.
pub fn import_file(path: &Path) -> Result<Facts, ImportError> {
    let origin = Origin::file(path);
    let bytes = std::fs::read(path).map_err(|source| ImportError::Io {
        origin: origin.clone(),
        source,
    })?;
    import_bytes(&origin, &bytes)
}

/// Detects the format of an input from its content.
pub fn detect(origin: &Origin, bytes: &[u8]) -> Result<Format, ImportError> {
    let bytes = json_text(origin, bytes)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ImportError::Empty {
            origin: origin.clone(),
        });
    }
    sniff::sniff(origin, bytes)
}

/// The input as UTF-8 JSON text: without a UTF-8 byte order mark (Windows
/// tools write one), and refused with a cause the user can act on when it
/// is compressed or in another encoding (PowerShell's `>` writes UTF-16).
fn json_text<'a>(origin: &Origin, bytes: &'a [u8]) -> Result<&'a [u8], ImportError> {
    let refuse = |reason| {
        Err(ImportError::Encoding {
            origin: origin.clone(),
            reason,
        })
    };
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => Ok(rest),
        [0xFF, 0xFE, ..] | [0xFE, 0xFF, ..] | [_, 0, _, 0, ..] | [0, _, 0, _, ..] => refuse(
            "the input is UTF-16 text; customs reads UTF-8 JSON (PowerShell's `>` writes UTF-16: use the tool's output-file option or `Out-File -Encoding utf8`)",
        ),
        [0x1F, 0x8B, ..] => refuse("the input is gzip-compressed; decompress it first (gunzip)"),
        _ => Ok(bytes),
    }
}

/// Most unknown fields a facts document's warning names; the rest are counted.
const MAX_UNKNOWN_NAMED: usize = 20;

/// A facts document: this major version (`1`, or `1.N` from a newer
/// producer) is read, fields this version does not know are ignored and
/// named in a warning, so an older consumer keeps working; another major
/// version is refused, naming both.
/// What a facts document's fields this version does not know do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unknown {
    /// Ignored, named in a warning: a newer producer's document still reads.
    Warn,
    /// An error naming the first.
    Refuse,
}

fn parse_facts_document(
    origin: &Origin,
    bytes: &[u8],
    unknown_fields: Unknown,
) -> Result<Facts, ImportError> {
    #[derive(serde::Deserialize)]
    struct Version {
        schema_version: Option<serde_json::Value>,
    }
    // The version first, so a document of another major version is refused
    // as that, not for whatever its fields look like.
    if let Ok(Version {
        schema_version: Some(version),
    }) = serde_json::from_slice::<Version>(bytes)
    {
        let text = version
            .as_str()
            .map_or_else(|| version.to_string(), str::to_owned);
        if !same_major(&text) {
            return Err(ImportError::UnsupportedVersion {
                origin: origin.clone(),
                format: Format::CustomsFacts,
                found: text,
                supported: "1 or 1.x",
            });
        }
    }
    let mut unknown = Vec::new();
    let mut facts: Facts = {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let mut note = |path: serde_ignored::Path<'_>| unknown.push(json_path(&path));
        let ignoring = serde_ignored::Deserializer::new(&mut de, &mut note);
        let value = serde_path_to_error::deserialize(ignoring).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                syntax_error(origin, &inner)
            } else {
                ImportError::Schema {
                    origin: origin.clone(),
                    format: Format::CustomsFacts,
                    path,
                    line: inner.line(),
                    column: inner.column(),
                    message: without_quoted_strings(&strip_position(&inner)),
                }
            }
        })?;
        de.end().map_err(|e| syntax_error(origin, &e))?;
        value
    };
    if unknown_fields == Unknown::Refuse
        && let Some(first) = unknown.first()
    {
        return Err(ImportError::Schema {
            origin: origin.clone(),
            format: Format::CustomsFacts,
            path: first.clone(),
            line: 0,
            column: 0,
            message: "unknown field (facts v1 has no such field: a typo?)".to_owned(),
        });
    }
    if !unknown.is_empty() {
        let mut named: Vec<String> = unknown.iter().take(MAX_UNKNOWN_NAMED).cloned().collect();
        if unknown.len() > MAX_UNKNOWN_NAMED {
            named.push(format!("and {} more", unknown.len() - MAX_UNKNOWN_NAMED));
        }
        facts.sources.push(Source {
            tool: "customs".to_owned(),
            tool_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            format: Format::CustomsFacts.name().to_owned(),
            scanned_at: None,
            file: Some(origin.to_string()),
            warnings: vec![format!(
                "fields this customs does not know (facts {} from a newer producer?) were ignored: {}",
                facts.schema_version,
                named.join(", ")
            )],
        });
    }
    // Written back as the version this crate writes: it holds only what this version knows.
    facts.schema_version = SCHEMA_VERSION.to_owned();
    Ok(facts)
}

/// `image.labels`, `packages[3].cpe`: the path as the facts' JSON has it.
fn json_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", json_path(parent)),
        Path::Map { parent, key } => match json_path(parent) {
            above if above.is_empty() => key.clone(),
            above => format!("{above}.{key}"),
        },
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => json_path(parent),
    }
}

/// `1` or `1.N`.
fn same_major(version: &str) -> bool {
    version == SCHEMA_VERSION
        || version
            .strip_prefix(SCHEMA_VERSION)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()))
}

/// Parses JSON into a format's typed model; errors carry the JSON path.
pub(crate) fn parse_typed<T: serde::de::DeserializeOwned>(
    origin: &Origin,
    bytes: &[u8],
    format: Format,
) -> Result<T, ImportError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            syntax_error(origin, &inner)
        } else {
            ImportError::Schema {
                origin: origin.clone(),
                format,
                path,
                line: inner.line(),
                column: inner.column(),
                message: without_quoted_strings(&strip_position(&inner)),
            }
        }
    })?;
    // Trailing garbage after the document is an error too.
    de.end().map_err(|e| syntax_error(origin, &e))?;
    Ok(value)
}

/// Reads an optional time that must be RFC 3339 (or empty, which tools write
/// for "unset"): a time the evaluation could not read is an error at its
/// JSON path, not a fact that silently goes missing.
pub(crate) fn rfc3339_time<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let text: Option<String> = serde::Deserialize::deserialize(deserializer)?;
    match &text {
        Some(t) if !t.is_empty() && chrono::DateTime::parse_from_rfc3339(t).is_err() => Err(
            serde::de::Error::custom(format!("{t:?} is not an RFC 3339 time")),
        ),
        _ => Ok(text),
    }
}

/// The package ecosystem named by a purl's type (`pkg:deb/...` → `deb`), in facts' words.
pub(crate) fn ecosystem_from_purl(purl: &str) -> Option<String> {
    let kind = purl.strip_prefix("pkg:")?.split('/').next()?;
    Some(
        match kind {
            "" => return None,
            "golang" => "gomod",
            "pypi" => "pypi",
            other => other,
        }
        .to_ascii_lowercase(),
    )
}

/// An error in a part of the input that was read as a JSON value first (no line or column).
pub(crate) fn schema_error(
    origin: &Origin,
    format: Format,
    path: &str,
    message: String,
) -> ImportError {
    ImportError::Schema {
        origin: origin.clone(),
        format,
        path: path.to_owned(),
        line: 0,
        column: 0,
        message,
    }
}

/// The OCI digest of content: `sha256:` and the hex of its SHA-256.
pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// A source record for an input that has no tool version or time of its own.
pub(crate) fn plain_source(
    tool: &str,
    format: Format,
    origin: &Origin,
    warnings: Vec<String>,
) -> crate::model::Source {
    crate::model::Source {
        tool: tool.to_owned(),
        tool_version: None,
        format: format.name().to_owned(),
        scanned_at: None,
        file: Some(origin.to_string()),
        warnings,
    }
}

/// A scanner names an image scanned from a tarball by its path, not a reference.
pub(crate) fn looks_like_path(name: &str) -> bool {
    name.starts_with('/')
        || name.starts_with('.')
        || name.ends_with(".tar")
        || name.ends_with(".tar.gz")
        || name.ends_with(".tgz")
}

/// Whether `digest` is a well-formed `sha256:` (64 hex) or `sha512:` (128 hex) digest.
pub(crate) fn is_digest(digest: &str) -> bool {
    let hex_of = |rest: &str, len: usize| {
        rest.len() == len
            && rest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    match digest.split_once(':') {
        Some(("sha256", rest)) => hex_of(rest, 64),
        Some(("sha512", rest)) => hex_of(rest, 128),
        _ => false,
    }
}

pub(crate) fn syntax_error(origin: &Origin, err: &serde_json::Error) -> ImportError {
    ImportError::Syntax {
        origin: origin.clone(),
        line: err.line(),
        column: err.column(),
        message: strip_position(err),
    }
}

/// A type error quotes the string it found (`invalid type: string "…"`);
/// where that string is an environment value or a secret scanner's match,
/// quoting it would print the secret. The JSON path already says where.
fn without_quoted_strings(message: &str) -> String {
    const QUOTED: &str = "string \"";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(QUOTED) {
        out.push_str(&rest[..start]);
        out.push_str("a string");
        // Skip to the closing quote; the value is Debug-escaped (\" inside).
        let value = &rest[start + QUOTED.len()..];
        let mut escaped = false;
        let end = value.char_indices().find_map(|(i, c)| match c {
            '\\' if !escaped => {
                escaped = true;
                None
            }
            '"' if !escaped => Some(i + 1),
            _ => {
                escaped = false;
                None
            }
        });
        rest = end.map_or("", |end| &value[end..]);
    }
    out.push_str(rest);
    out
}

/// serde_json appends " at line X column Y"; we report the position ourselves.
fn strip_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(index) => text[..index].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin::named("test.json")
    }

    #[test]
    fn empty_input_is_an_error() {
        let err = import_bytes(&origin(), b"  \n").unwrap_err();
        assert!(matches!(err, ImportError::Empty { .. }), "{err}");
    }

    #[test]
    fn type_errors_do_not_quote_the_string_they_found() {
        assert_eq!(
            without_quoted_strings(r#"invalid type: string "TOKEN=a\"b", expected a sequence"#),
            "invalid type: a string, expected a sequence"
        );
        assert_eq!(
            without_quoted_strings(r#"x string "1" y string "2""#),
            "x a string y a string"
        );
        assert_eq!(
            without_quoted_strings("missing field `id`"),
            "missing field `id`"
        );
        let err = import_bytes(
            &origin(),
            br#"{"architecture": "amd64", "os": "linux", "config": {"Env": "KEY=hunter2"}, "rootfs": {"type": "layers"}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("config.Env"), "{err}");
    }

    #[test]
    fn a_utf8_byte_order_mark_is_skipped() {
        let doc = br#"{"SchemaVersion": 2, "ArtifactName": "app:1", "ArtifactType": "container_image", "Results": []}"#;
        let with_bom = [&[0xEF, 0xBB, 0xBF][..], doc].concat();
        let facts = import_bytes(&origin(), &with_bom).unwrap();
        assert_eq!(facts.image.reference.as_deref(), Some("app:1"));
        // Naming the format skips it too.
        import_as(&origin(), &with_bom, Format::TrivyJson).unwrap();
    }

    #[test]
    fn utf16_and_gzip_inputs_say_what_they_are() {
        let utf16: Vec<u8> = "{\"a\": 1}"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        for (bytes, expected) in [
            (utf16.clone(), "UTF-16"),
            ([&[0xFF, 0xFE][..], &utf16].concat(), "UTF-16"),
            (vec![0x1F, 0x8B, 8, 0, 0, 0], "gzip-compressed"),
        ] {
            let err = import_bytes(&origin(), &bytes).unwrap_err();
            assert!(matches!(err, ImportError::Encoding { .. }), "{err}");
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let err =
            import_bytes(&origin(), b"{\n  \"SchemaVersion\": 2,\n  \"Results\": [\n").unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ImportError::Syntax { .. }), "{text}");
        assert!(
            text.starts_with("test.json: not valid JSON at line"),
            "{text}"
        );
    }

    #[test]
    fn unknown_format_lists_supported_formats() {
        let err = import_bytes(&origin(), br#"{"hello": "world"}"#).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unknown input format"), "{text}");
        assert!(text.contains("trivy"), "{text}");
    }

    #[test]
    fn wrong_types_name_the_json_path() {
        let doc = br#"{"SchemaVersion": 2, "ArtifactType": "container_image", "Results": [{"Target": "x", "Class": "os-pkgs", "Vulnerabilities": [{"VulnerabilityID": 7}]}]}"#;
        let err = import_bytes(&origin(), doc).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("Results[0].Vulnerabilities[0].VulnerabilityID"),
            "{text}"
        );
    }

    #[test]
    fn facts_document_of_another_version_is_refused() {
        let err = import_bytes(&origin(), br#"{"schema_version": "2", "image": {}}"#).unwrap_err();
        assert!(
            err.to_string().contains("version 2 is not supported"),
            "{err}"
        );
    }

    #[test]
    fn stated_facts_refuse_fields_this_version_does_not_know() {
        let err = stated_facts(
            &origin(),
            br#"{"schema_version": "1", "image": {}, "vulnerabilites": []}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("at vulnerabilites: unknown field"),
            "{err}"
        );
    }

    #[test]
    fn a_newer_minor_version_is_read_with_its_unknown_fields_named() {
        let doc = br#"{"schema_version": "1.3", "image": {"digest": "sha256:aa", "sbom_digest": "x"},
            "runtime": {"seen": true}, "packages": [{"name": "a", "version": "1", "type": "apk", "cpe": "c"}]}"#;
        let facts = import_bytes(&origin(), doc).unwrap();
        assert_eq!(facts.image.digest.as_deref(), Some("sha256:aa"));
        assert_eq!(facts.packages.as_ref().unwrap()[0].name, "a");
        assert_eq!(facts.schema_version, "1");
        let warnings = facts.import_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        for field in ["image.sbom_digest", "runtime", "packages[0].cpe"] {
            assert!(warnings[0].contains(field), "{warnings:?}");
        }
        assert!(warnings[0].contains("facts 1.3"), "{warnings:?}");
        // Minor versions are digits; anything else is another version.
        let err =
            import_bytes(&origin(), br#"{"schema_version": "1.x", "image": {}}"#).unwrap_err();
        assert!(err.to_string().contains("supported: 1 or 1.x"), "{err}");
        let err = import_bytes(
            &origin(),
            br#"{"schema_version": "2.0", "image": {"digest": 7}}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("version 2.0 is not supported"),
            "{err}"
        );
    }

    #[test]
    fn facts_document_round_trips() {
        let mut facts = Facts::default();
        facts.image.reference = Some("docker.io/library/alpine:3.20".into());
        facts.config = Some(crate::model::Config {
            user: "1000".into(),
            ..Default::default()
        });
        facts.normalize();
        let json = serde_json::to_vec(&facts).unwrap();
        let back = import_bytes(&origin(), &json).unwrap();
        assert_eq!(back, facts);
    }
}
