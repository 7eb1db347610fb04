//! Format detection: read only the top-level keys of a JSON document (values
//! are skipped without being built), then decide from their names.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::{ImportError, Origin, syntax_error};

/// The input formats customs reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// A facts document printed by `customs facts`.
    CustomsFacts,
    /// `trivy image --format json` (SchemaVersion 2).
    TrivyJson,
    /// `grype IMAGE -o json`.
    GrypeJson,
    /// An OCI (or Docker v2) image config blob.
    OciConfig,
    /// An OCI (or Docker v2) image manifest.
    OciManifest,
    /// An OCI image index (or Docker manifest list).
    OciIndex,
    /// `docker image inspect` output.
    DockerInspect,
    /// An OpenVEX document.
    OpenVex,
    /// A CycloneDX JSON SBOM.
    CycloneDx,
    /// An SPDX JSON SBOM.
    Spdx,
    /// `cosign verify --output json`: verified signatures.
    CosignVerify,
    /// A cosign simple-signing payload (unverified).
    SimpleSigning,
    /// A DSSE envelope with an in-toto statement (unverified).
    DsseEnvelope,
    /// `cosign verify-attestation` output (verified); never detected, only named.
    CosignVerifyAttestation,
    /// A Sigstore bundle (unverified).
    SigstoreBundle,
    /// A Kubernetes AdmissionReview (v1) of a Pod or pod-bearing workload.
    AdmissionReview,
    /// A Clair v4 vulnerability report.
    ClairV4,
    /// clair-scanner's JSON report (Clair v2 API).
    ClairScanner,
    /// klar's JSON output (Clair v2 API).
    Klar,
    /// `snyk container test --json`.
    SnykJson,
    /// Syft's own JSON SBOM.
    SyftJson,
}

impl Format {
    pub const ALL: [Format; 21] = [
        Format::CustomsFacts,
        Format::TrivyJson,
        Format::GrypeJson,
        Format::OciConfig,
        Format::OciManifest,
        Format::OciIndex,
        Format::DockerInspect,
        Format::OpenVex,
        Format::CycloneDx,
        Format::Spdx,
        Format::CosignVerify,
        Format::SimpleSigning,
        Format::DsseEnvelope,
        Format::CosignVerifyAttestation,
        Format::SigstoreBundle,
        Format::AdmissionReview,
        Format::ClairV4,
        Format::ClairScanner,
        Format::Klar,
        Format::SnykJson,
        Format::SyftJson,
    ];

    /// The name used on the command line (`--input-format`) and in `sources[].format`.
    pub fn name(self) -> &'static str {
        match self {
            Format::CustomsFacts => "customs-facts",
            Format::TrivyJson => "trivy-json",
            Format::GrypeJson => "grype-json",
            Format::OciConfig => "oci-config",
            Format::OciManifest => "oci-manifest",
            Format::OciIndex => "oci-index",
            Format::DockerInspect => "docker-inspect",
            Format::OpenVex => "openvex",
            Format::CycloneDx => "cyclonedx-json",
            Format::Spdx => "spdx-json",
            Format::CosignVerify => "cosign-verify",
            Format::SimpleSigning => "simple-signing",
            Format::DsseEnvelope => "dsse-envelope",
            Format::CosignVerifyAttestation => "cosign-verify-attestation",
            Format::SigstoreBundle => "sigstore-bundle",
            Format::AdmissionReview => "admission-review",
            Format::ClairV4 => "clair-v4",
            Format::ClairScanner => "clair-scanner-json",
            Format::Klar => "klar-json",
            Format::SnykJson => "snyk-json",
            Format::SyftJson => "syft-json",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    pub(crate) fn supported_list() -> String {
        Format::ALL.map(Format::name).join(", ")
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The top-level keys of a document; for an array, the keys of its first element.
#[derive(Default)]
struct TopLevelKeys {
    keys: Vec<String>,
    array: bool,
}

impl TopLevelKeys {
    fn has(&self, key: &str) -> bool {
        self.keys.iter().any(|k| k == key)
    }

    fn scalar() -> TopLevelKeys {
        TopLevelKeys {
            keys: vec!["<scalar>".to_owned()],
            array: false,
        }
    }
}

impl<'de> de::Deserialize<'de> for TopLevelKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeysVisitor)
    }
}

struct KeysVisitor;

impl<'de> Visitor<'de> for KeysVisitor {
    type Value = TopLevelKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut keys = TopLevelKeys::default();
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<IgnoredAny>()?;
            keys.keys.push(key);
        }
        Ok(keys)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut first: TopLevelKeys = seq.next_element()?.unwrap_or_default();
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        first.array = true;
        Ok(first)
    }

    // Anything else is valid JSON but no format we know; say so by kind.
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(TopLevelKeys::scalar())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(TopLevelKeys::scalar())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(TopLevelKeys::scalar())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(TopLevelKeys::scalar())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(TopLevelKeys::scalar())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(TopLevelKeys::scalar())
    }
}

/// The first few keys, each a short quoted prefix: the message stays a
/// line long whatever the input holds.
fn first_keys(keys: &TopLevelKeys) -> String {
    let mut shown: Vec<String> = keys
        .keys
        .iter()
        .take(6)
        .map(|key| crate::text::quoted_prefix(key, 40))
        .collect();
    if keys.keys.len() > 6 {
        shown.push(format!("… {} more", keys.keys.len() - 6));
    }
    shown.join(", ")
}

pub(super) fn sniff(origin: &Origin, bytes: &[u8]) -> Result<Format, ImportError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let keys: TopLevelKeys = de::Deserialize::deserialize(&mut de)
        .and_then(|keys| de.end().map(|()| keys))
        .map_err(|e| syntax_error(origin, &e))?;
    if keys.array {
        if keys.has("Id") && (keys.has("RepoTags") || keys.has("Config")) {
            return Ok(Format::DockerInspect);
        }
        if keys.has("critical") {
            return Ok(Format::CosignVerify);
        }
        let objects = !keys.keys.is_empty() && keys.keys.iter().all(|k| k != "<scalar>");
        let hint = if !objects {
            " (a JSON array at the top level)".to_owned()
        } else {
            format!(
                " (a JSON array of objects with keys: {})",
                first_keys(&keys)
            )
        };
        return Err(ImportError::UnknownFormat {
            origin: origin.clone(),
            hint,
        });
    }
    if keys.has("schema_version") && (keys.has("image") || keys.has("sources")) {
        return Ok(Format::CustomsFacts);
    }
    if keys.has("SchemaVersion") && (keys.has("Results") || keys.has("ArtifactName")) {
        return Ok(Format::TrivyJson);
    }
    if keys.has("matches") && (keys.has("descriptor") || keys.has("source")) {
        return Ok(Format::GrypeJson);
    }
    if keys.has("artifacts") && keys.has("source") && (keys.has("schema") || keys.has("descriptor"))
    {
        return Ok(Format::SyftJson);
    }
    if keys.has("manifest_hash") && keys.has("package_vulnerabilities") {
        return Ok(Format::ClairV4);
    }
    if keys.has("unapproved") && keys.has("vulnerabilities") {
        return Ok(Format::ClairScanner);
    }
    if keys.has("LayerCount") && keys.has("Vulnerabilities") {
        return Ok(Format::Klar);
    }
    if keys.has("vulnerabilities")
        && (keys.has("docker") || keys.has("packageManager"))
        && (keys.has("ok") || keys.has("uniqueCount"))
    {
        return Ok(Format::SnykJson);
    }
    if keys.has("apiVersion") && keys.has("kind") && keys.has("request") {
        return Ok(Format::AdmissionReview);
    }
    if keys.has("critical") && keys.has("optional") {
        return Ok(Format::SimpleSigning);
    }
    if keys.has("payloadType") && keys.has("payload") {
        return Ok(Format::DsseEnvelope);
    }
    if keys.has("mediaType") && keys.has("verificationMaterial") {
        return Ok(Format::SigstoreBundle);
    }
    if keys.has("bomFormat") && keys.has("specVersion") {
        return Ok(Format::CycloneDx);
    }
    if keys.has("spdxVersion") && keys.has("SPDXID") {
        return Ok(Format::Spdx);
    }
    if keys.has("@context") && keys.has("statements") {
        return Ok(Format::OpenVex);
    }
    if keys.has("schemaVersion") && keys.has("manifests") {
        return Ok(Format::OciIndex);
    }
    if keys.has("schemaVersion") && keys.has("config") && keys.has("layers") {
        return Ok(Format::OciManifest);
    }
    if keys.has("rootfs") && (keys.has("config") || keys.has("architecture")) {
        return Ok(Format::OciConfig);
    }
    let hint = match keys.keys.first().map(String::as_str) {
        Some("<scalar>") => " (a single JSON value, not an object)".to_owned(),
        None => " (an empty JSON object)".to_owned(),
        _ => format!(" (top-level keys: {})", first_keys(&keys)),
    };
    Err(ImportError::UnknownFormat {
        origin: origin.clone(),
        hint,
    })
}
