//! Signatures and attestations: `cosign verify` output, cosign simple-signing
//! payloads, DSSE envelopes with in-toto statements (SLSA provenance v0.2 and
//! v1), and Sigstore bundles.
//!
//! Only what a verifier said was verified counts as verified: `cosign verify`
//! prints its JSON only after the signatures verified, so its entries are
//! `verified: true` — with `trust: reported`, since that is cosign's word,
//! not a check customs made (and the identity read from cosign's `optional`
//! annotations is whatever the signer wrote there for a key signature). An envelope, payload or bundle on its own is a claim that
//! customs has not checked, so it is recorded with `verified: false`. A
//! `cosign verify-attestation` output line looks exactly like a stored envelope,
//! so it counts as verified only when named with `--input-format
//! cosign-verify-attestation`.

use base64::Engine as _;
use serde::Deserialize;

use super::{Format, ImportError, Origin, is_digest, parse_typed, plain_source, schema_error};
use crate::model::{Attestation, Facts, Signature, SignatureKind, Trust};

#[derive(Deserialize)]
struct SimpleSigning {
    critical: Critical,
    #[serde(default)]
    optional: Option<Optional>,
}

#[derive(Deserialize)]
struct Critical {
    identity: Identity,
    image: CriticalImage,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Deserialize)]
struct CriticalImage {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

#[derive(Deserialize, Default)]
struct Optional {
    #[serde(rename = "Issuer", default)]
    issuer: Option<String>,
    #[serde(rename = "Subject", default)]
    subject: Option<String>,
    #[serde(rename = "Bundle", default)]
    bundle: Option<RekorBundle>,
}

#[derive(Deserialize)]
struct RekorBundle {
    #[serde(rename = "Payload")]
    payload: RekorPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RekorPayload {
    #[serde(default)]
    log_index: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload_type: String,
    payload: String,
    #[serde(default)]
    signatures: Vec<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Statement {
    #[serde(rename = "_type")]
    kind: String,
    #[serde(default)]
    subject: Vec<Subject>,
    predicate_type: String,
    #[serde(default)]
    predicate: serde_json::Value,
}

#[derive(Deserialize)]
struct Subject {
    #[serde(default)]
    name: String,
    #[serde(default)]
    digest: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SigstoreBundle {
    media_type: String,
    #[serde(default)]
    dsse_envelope: Option<Envelope>,
    #[serde(default)]
    message_signature: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    verification_material: Option<VerificationMaterial>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerificationMaterial {
    #[serde(default)]
    tlog_entries: Vec<TlogEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TlogEntry {
    #[serde(default)]
    log_index: Option<String>,
}

/// Records the image digest a signature or attestation is about. All must be
/// about one image: one that is about another digest is not counted (false).
fn claims_image(facts: &mut Facts, digest: String, warnings: &mut Vec<String>) -> bool {
    if !is_digest(&digest) {
        warnings.push(format!(
            "ignored a signature or attestation of {digest:?}: not a sha256/sha512 digest"
        ));
        return false;
    }
    match &facts.image.digest {
        None => {
            facts.image.digest = Some(digest);
            true
        }
        Some(existing) if *existing == digest => true,
        Some(existing) => {
            warnings.push(format!(
                "ignored a signature or attestation of {digest}: this input is about {existing}"
            ));
            false
        }
    }
}

/// Keyless signatures carry the signer (subject) and its issuer; keyed ones neither.
fn signature(optional: Option<Optional>, verified: bool, verified_by: Option<&str>) -> Signature {
    let optional = optional.unwrap_or_default();
    Signature {
        kind: SignatureKind::Cosign,
        verified,
        trust: Trust::Reported,
        verified_by: verified_by.map(str::to_owned),
        key_id: None,
        issuer: optional.issuer,
        subject: optional.subject,
        rekor_log_index: optional.bundle.and_then(|b| b.payload.log_index),
    }
}

/// `cosign verify --output json`: an array of verified simple-signing payloads.
pub(super) fn import_verify(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let entries: Vec<SimpleSigning> = parse_typed(origin, bytes, Format::CosignVerify)?;
    let mut facts = Facts::default();
    let mut warnings = Vec::new();
    let mut signatures = Vec::new();
    for entry in entries {
        if entry.critical.kind != "cosign container image signature" {
            warnings.push(format!(
                "skipped a payload of type {:?}",
                entry.critical.kind
            ));
            continue;
        }
        if !claims_image(
            &mut facts,
            entry.critical.image.docker_manifest_digest.clone(),
            &mut warnings,
        ) {
            continue;
        }
        facts
            .image
            .reference
            .get_or_insert_with(|| entry.critical.identity.docker_reference.clone());
        signatures.push(signature(entry.optional, true, Some("cosign verify")));
    }
    facts.signatures = Some(signatures);
    facts.sources.push(plain_source(
        "cosign",
        Format::CosignVerify,
        origin,
        warnings,
    ));
    Ok(facts)
}

/// A simple-signing payload on its own: what was signed, not that it verified.
pub(super) fn import_simple_signing(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let entry: SimpleSigning = parse_typed(origin, bytes, Format::SimpleSigning)?;
    let mut facts = Facts::default();
    let mut warnings = vec![
        "a signature payload, not a verification result: recorded as unverified; use `cosign verify` output to count it".to_owned(),
    ];
    let about_image = claims_image(
        &mut facts,
        entry.critical.image.docker_manifest_digest.clone(),
        &mut warnings,
    );
    facts.image.reference = Some(entry.critical.identity.docker_reference.clone());
    facts.signatures = Some(if about_image {
        vec![signature(entry.optional, false, None)]
    } else {
        Vec::new()
    });
    facts.sources.push(plain_source(
        "cosign",
        Format::SimpleSigning,
        origin,
        warnings,
    ));
    Ok(facts)
}

fn decode_statement(
    origin: &Origin,
    format: Format,
    envelope: &Envelope,
) -> Result<Statement, ImportError> {
    if envelope.payload_type != "application/vnd.in-toto+json" {
        return Err(schema_error(
            origin,
            format,
            "payloadType",
            format!(
                "payload type {:?} is not an in-toto statement",
                envelope.payload_type
            ),
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(envelope.payload.trim())
        .map_err(|e| schema_error(origin, format, "payload", format!("not base64: {e}")))?;
    let statement: Statement = serde_json::from_slice(&bytes).map_err(|e| {
        schema_error(
            origin,
            format,
            "payload",
            format!("not an in-toto statement: {e}"),
        )
    })?;
    if !statement.kind.starts_with("https://in-toto.io/Statement/") {
        return Err(schema_error(
            origin,
            format,
            "payload._type",
            format!("unknown statement type {:?}", statement.kind),
        ));
    }
    Ok(statement)
}

/// Builder id and build type of a provenance predicate, SLSA v0.2 or v1.
/// The attestation facts of an in-toto statement's predicate: the builder
/// and build type of SLSA provenance v0.2 and v1.
pub fn attestation_of(
    predicate_type: &str,
    predicate: &serde_json::Value,
    verified: bool,
    trust: Trust,
) -> Attestation {
    let (builder_id, build_type) = provenance_fields(predicate);
    Attestation {
        predicate_type: predicate_type.to_owned(),
        verified,
        trust,
        builder_id,
        build_type,
    }
}

fn provenance_fields(predicate: &serde_json::Value) -> (Option<String>, Option<String>) {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let builder = text(&predicate["builder"]["id"])
        .or_else(|| text(&predicate["runDetails"]["builder"]["id"]));
    let build_type =
        text(&predicate["buildType"]).or_else(|| text(&predicate["buildDefinition"]["buildType"]));
    (builder, build_type)
}

/// Adds an attestation about the image; one about no image, or another image, is left out.
fn add_statement(
    origin: &Origin,
    facts: &mut Facts,
    statement: Statement,
    verified: bool,
    warnings: &mut Vec<String>,
) {
    // Checked: the attestations are known, even if this one is left out.
    facts.attestations.get_or_insert_with(Vec::new);
    let image_subject = statement
        .subject
        .iter()
        .find_map(|s| s.digest.get("sha256").map(|d| (s, d)));
    let Some((subject, digest)) = image_subject else {
        warnings.push(format!(
            "ignored an attestation of {:?}: it has no sha256 subject digest, so it is about no container image",
            statement.subject.first().map(|s| s.name.as_str()).unwrap_or("")
        ));
        return;
    };
    if !claims_image(facts, format!("sha256:{digest}"), warnings) {
        return;
    }
    if facts.image.reference.is_none() && !subject.name.is_empty() {
        facts.image.reference = Some(subject.name.clone());
    }
    facts
        .attestations
        .get_or_insert_with(Vec::new)
        .push(attestation_of(
            &statement.predicate_type,
            &statement.predicate,
            verified,
            Trust::Reported,
        ));
    let Some(contents) = super::predicate::contents(
        origin,
        &statement.predicate_type,
        &statement.predicate,
        warnings,
    ) else {
        return;
    };
    if let Err(error) = facts.merge(contents) {
        warnings.push(format!(
            "the {} predicate was not read: {error}",
            statement.predicate_type
        ));
    }
}

/// A DSSE envelope holding an in-toto statement, as stored in an OCI `.att` layer.
pub(super) fn import_envelope(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let envelope: Envelope = parse_typed(origin, bytes, Format::DsseEnvelope)?;
    let statement = decode_statement(origin, Format::DsseEnvelope, &envelope)?;
    let mut facts = Facts::default();
    let mut warnings = vec![format!(
        "an attestation envelope with {} signature(s) that customs did not verify: recorded as unverified; use `cosign verify-attestation` output with --input-format cosign-verify-attestation to count it",
        envelope.signatures.len()
    )];
    add_statement(origin, &mut facts, statement, false, &mut warnings);
    facts.sources.push(plain_source(
        "in-toto",
        Format::DsseEnvelope,
        origin,
        warnings,
    ));
    Ok(facts)
}

/// `cosign verify-attestation` output: one verified envelope per line.
pub(super) fn import_verify_attestation(
    origin: &Origin,
    bytes: &[u8],
) -> Result<Facts, ImportError> {
    let mut facts = Facts::default();
    let mut warnings = Vec::new();
    let stream = serde_json::Deserializer::from_slice(bytes).into_iter::<Envelope>();
    let mut count = 0;
    for (index, envelope) in stream.enumerate() {
        let envelope = envelope.map_err(|e| {
            schema_error(
                origin,
                Format::CosignVerifyAttestation,
                &format!("line {}", e.line()),
                e.to_string(),
            )
        })?;
        let statement = decode_statement(origin, Format::CosignVerifyAttestation, &envelope)
            .map_err(|e| {
                schema_error(
                    origin,
                    Format::CosignVerifyAttestation,
                    &format!("envelope {index}"),
                    e.to_string(),
                )
            })?;
        add_statement(origin, &mut facts, statement, true, &mut warnings);
        count += 1;
    }
    if count == 0 {
        return Err(ImportError::Empty {
            origin: origin.clone(),
        });
    }
    facts.sources.push(plain_source(
        "cosign verify-attestation",
        Format::CosignVerifyAttestation,
        origin,
        warnings,
    ));
    Ok(facts)
}

/// A Sigstore bundle (v0.1 to v0.3): its attestation, unverified.
pub(super) fn import_bundle(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let bundle: SigstoreBundle = parse_typed(origin, bytes, Format::SigstoreBundle)?;
    if !bundle
        .media_type
        .starts_with("application/vnd.dev.sigstore.bundle")
    {
        return Err(ImportError::UnsupportedVersion {
            origin: origin.clone(),
            format: Format::SigstoreBundle,
            found: bundle.media_type,
            supported: "application/vnd.dev.sigstore.bundle (v0.1 to v0.3)",
        });
    }
    let mut facts = Facts::default();
    let mut warnings = vec![
        "a Sigstore bundle that customs did not verify: recorded as unverified; verify it with cosign and import that output to count it".to_owned(),
    ];
    let log_index = bundle
        .verification_material
        .as_ref()
        .and_then(|m| m.tlog_entries.first())
        .and_then(|t| t.log_index.as_deref())
        .and_then(|i| i.parse().ok());
    match (bundle.dsse_envelope, bundle.message_signature) {
        (Some(envelope), _) => {
            let statement = decode_statement(origin, Format::SigstoreBundle, &envelope)?;
            add_statement(origin, &mut facts, statement, false, &mut warnings);
        }
        (None, Some(_)) => {
            facts.signatures = Some(vec![Signature {
                kind: SignatureKind::Cosign,
                verified: false,
                trust: Trust::Reported,
                verified_by: None,
                key_id: None,
                issuer: None,
                subject: None,
                rekor_log_index: log_index,
            }]);
            warnings.push("a message signature bundle names no image digest".to_owned());
        }
        (None, None) => {
            warnings.push("the bundle holds neither an envelope nor a message signature".to_owned())
        }
    }
    facts.sources.push(plain_source(
        "sigstore",
        Format::SigstoreBundle,
        origin,
        warnings,
    ));
    Ok(facts)
}
