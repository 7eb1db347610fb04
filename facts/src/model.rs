//! The facts v1 document: everything known about one container image.
//!
//! A fact that no input supplied is `None` (serialized as absent), never a
//! guessed default: `signatures: None` means "nobody checked", while
//! `signatures: Some(vec![])` means "checked, and there are none". Policies rely
//! on that difference to say "unknown" instead of pretending to know.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only facts schema version this crate reads and writes.
pub const SCHEMA_VERSION: &str = "1";

/// Normalized facts about one container image, merged from any number of tool outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Facts {
    /// Always "1" for this version of the document.
    pub schema_version: String,
    #[serde(default)]
    pub image: Image,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Base>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Config>,
    /// Derived from `config.user` on import; absent when the config is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<Layer>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<Package>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vulnerabilities: Option<Vec<Vulnerability>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<Secret>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misconfigurations: Option<Vec<Misconfiguration>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signatures: Option<Vec<Signature>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestations: Option<Vec<Attestation>>,
    /// What customs read from the image's layers itself: absent unless the
    /// image (not a report about it) was an input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Files>,
    /// Admission context: how the image is about to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<Workload>,
    /// Every tool output these facts were built from, with what could not be mapped.
    #[serde(default)]
    pub sources: Vec<Source>,
    /// VEX statements waiting to be matched to vulnerabilities. They are applied
    /// by [`Facts::normalize`] after every merge, so a VEX document can come in
    /// any order with the scanner reports; what they change is visible in
    /// `vulnerabilities[].vex_status`.
    #[serde(skip)]
    #[schemars(skip)]
    pub vex: Vec<VexStatement>,
}

/// One statement of a VEX document: a vulnerability's status in some products.
#[derive(Debug, Clone, PartialEq)]
pub struct VexStatement {
    /// The vulnerability id and its aliases.
    pub vulnerability: Vec<String>,
    /// Product purls (`pkg:oci/...` for images); empty means any product.
    pub products: Vec<String>,
    /// Package purls within the products; empty means any package.
    pub subcomponents: Vec<String>,
    pub status: VexStatus,
    pub justification: Option<String>,
    /// The VEX document, for reporting statements that matched nothing.
    pub source: String,
}

impl Default for Facts {
    fn default() -> Self {
        Facts {
            schema_version: SCHEMA_VERSION.to_owned(),
            image: Image::default(),
            base: None,
            config: None,
            user: None,
            history: None,
            layers: None,
            packages: None,
            vulnerabilities: None,
            secrets: None,
            misconfigurations: None,
            signatures: None,
            attestations: None,
            files: None,
            workload: None,
            sources: Vec::new(),
            vex: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Image {
    /// The reference the image was scanned as, e.g. `ghcr.io/org/app:1.2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The manifest digest (`sha256:...`), which identifies the image in a registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Digest of the image index (multi-platform manifest list) the image was chosen from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_digest: Option<String>,
    /// The image config digest (what `docker images` calls the image ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// RFC 3339 creation time from the image config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Base {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<OsInfo>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OsInfo {
    /// Lower-case distribution id: alpine, debian, ubuntu, centos, redhat, rocky, amazon, ...
    pub family: String,
    pub version: String,
    /// End of life date (YYYY-MM-DD) when known, from the scanner or customs' table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eol: Option<String>,
    /// True when a scanner reported the distribution as past its end of support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eosl: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Config {
    /// The `USER` of the image config, verbatim; "" (or absent in the config) means root.
    #[serde(default)]
    pub user: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cmd: Vec<String>,
    /// Names of the environment variables only: values may hold secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exposed_ports: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub healthcheck: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct User {
    /// The user part of `config.user` ("" when the config names no user).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    pub is_root: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HistoryEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default)]
    pub empty_layer: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Layer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// Ecosystem: apk, deb, rpm, npm, pypi, gomod, cargo, maven, gem, nuget, binary, ...
    #[serde(rename = "type")]
    pub package_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<String>,
    /// Digest (or diff id) of the layer that added the package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
}

/// Severity, ordered from least to most severe.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    #[default]
    Unknown,
    Negligible,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 6] = [
        Severity::Unknown,
        Severity::Negligible,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::Negligible => "negligible",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses a scanner's severity word, case-insensitively ("HIGH", "Critical", "info").
    /// The qualitative rating of a CVSS v3/v4 base score (FIRST's table:
    /// 0 none, 0.1–3.9 low, 4.0–6.9 medium, 7.0–8.9 high, 9.0–10 critical),
    /// for reports that give a score and no severity.
    pub fn from_cvss(score: f64) -> Severity {
        match score {
            s if s >= 9.0 => Severity::Critical,
            s if s >= 7.0 => Severity::High,
            s if s >= 4.0 => Severity::Medium,
            s if s > 0.0 => Severity::Low,
            0.0 => Severity::Negligible,
            _ => Severity::Unknown,
        }
    }

    pub fn parse_lenient(word: &str) -> Option<Severity> {
        Some(match word.trim().to_ascii_lowercase().as_str() {
            "unknown" | "" => Severity::Unknown,
            "negligible" | "info" | "informational" | "none" => Severity::Negligible,
            "low" => Severity::Low,
            "medium" | "moderate" => Severity::Medium,
            "high" | "important" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::parse_lenient(s).ok_or_else(|| {
            format!("unknown severity {s:?}; expected one of unknown, negligible, low, medium, high, critical")
        })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FixState {
    Fixed,
    NotFixed,
    WontFix,
    #[default]
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VexStatus {
    Affected,
    NotAffected,
    Fixed,
    UnderInvestigation,
}

impl VexStatus {
    /// The status as OpenVEX spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            VexStatus::Affected => "affected",
            VexStatus::NotAffected => "not_affected",
            VexStatus::Fixed => "fixed",
            VexStatus::UnderInvestigation => "under_investigation",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Vulnerability {
    /// CVE, GHSA, distro advisory id, ...
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Name of the affected package.
    pub package: String,
    pub package_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixed_versions: Vec<String>,
    pub fix_state: FixState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// RFC 3339 publication time of the advisory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    /// Where in the image the vulnerable package was found (file paths),
    /// when the scanner says: a package found at several paths is one
    /// vulnerability listing every path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vex_status: Option<VexStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vex_justification: Option<String>,
    /// Tools that reported this finding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}

impl Vulnerability {
    /// A fix exists that the image could take.
    pub fn is_fixable(&self) -> bool {
        self.fix_state == FixState::Fixed || !self.fixed_versions.is_empty()
    }

    /// VEX says this finding does not apply (not affected, or already fixed).
    pub fn is_vex_suppressed(&self) -> bool {
        matches!(
            self.vex_status,
            Some(VexStatus::NotAffected | VexStatus::Fixed)
        )
    }
}

/// A secret found in the image. The secret's value is never recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Secret {
    pub rule_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Misconfiguration {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub severity: Severity,
    /// What was checked, e.g. "dockerfile".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignatureKind {
    Cosign,
    Notation,
    Dct,
}

/// Who established that a signature or attestation verified.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Trust {
    /// customs checked it itself, in this run, against the keys or trust
    /// root it was given. No input can say this of itself: an importer
    /// records every claim as `reported`.
    Verified,
    /// A tool's output or an input document says so (`verified_by` names
    /// the tool); customs did not check it.
    #[default]
    Reported,
}

impl Trust {
    pub fn name(self) -> &'static str {
        match self {
            Trust::Verified => "verified",
            Trust::Reported => "reported",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Signature {
    pub kind: SignatureKind,
    /// Whether the signature was found valid, by whoever `trust` names.
    pub verified: bool,
    /// Who established it: customs itself, or a tool's output.
    #[serde(default)]
    pub trust: Trust,
    /// The tool that verified the signature (e.g. "cosign verify").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekor_log_index: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Attestation {
    pub predicate_type: String,
    /// Whether the attestation was found valid, by whoever `trust` names.
    pub verified: bool,
    /// Who established it: customs itself, or a tool's output.
    #[serde(default)]
    pub trust: Trust,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Workload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Init, app and ephemeral containers: they all run.
    #[serde(default)]
    pub containers: Vec<Container>,
    // The booleans are always written, so CEL sees false, not null.
    /// The pod shares the node's network namespace (`hostNetwork`).
    #[serde(default)]
    pub host_network: bool,
    /// The pod shares the node's process namespace (`hostPID`).
    #[serde(default)]
    pub host_pid: bool,
    /// The pod shares the node's IPC namespace (`hostIPC`).
    #[serde(default)]
    pub host_ipc: bool,
    /// The node paths the pod mounts (`hostPath` volumes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_path_volumes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Container {
    pub name: String,
    pub image: String,
    #[serde(default)]
    pub security_context: SecurityContext,
    /// Node ports the container binds (`ports[].hostPort`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_ports: Vec<u16>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SecurityContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_non_root: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_privilege_escalation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_root_filesystem: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities_drop: Vec<String>,
    /// `RuntimeDefault`, `Unconfined` or `Localhost:PATH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<String>,
    /// `RuntimeDefault`, `Unconfined` or `Localhost:NAME`, or the annotation's
    /// `runtime/default`, `unconfined`, `localhost/NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apparmor_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux_type: Option<String>,
}

/// The image's final filesystem (layers applied in order, whiteouts
/// honoured), as far as policies judge it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Files {
    /// Every file that can run: an ELF binary or a `#!` script with an
    /// execute bit, and links to one. Sorted by path.
    #[serde(default)]
    pub executables: Vec<Executable>,
    /// Files and directories anyone may write to (mode o+w), except
    /// directories with the sticky bit (such as /tmp). Sorted.
    #[serde(default)]
    pub world_writable: Vec<String>,
    /// How many regular files the final filesystem holds.
    #[serde(default)]
    pub file_count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Executable {
    /// Absolute path, e.g. "/bin/busybox".
    pub path: String,
    /// The file name it runs as, e.g. "sh" for /bin/sh.
    pub name: String,
    /// `elf` or `script` (what the file starts with).
    pub kind: String,
    /// Bytes (of the link's target for a link).
    pub size: u64,
    /// Permission bits, e.g. 0o4755 (as a number: 2541).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    #[serde(default)]
    pub setuid: bool,
    #[serde(default)]
    pub setgid: bool,
    /// For a symbolic or hard link: the executable it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_target: Option<String>,
    /// For a script: its `#!` interpreter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
    /// Digest of the layer the file comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
}

/// One tool output the facts were built from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Source {
    /// The tool that produced the input, e.g. "trivy".
    pub tool: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_version: Option<String>,
    /// The input format, e.g. "trivy-json".
    pub format: String,
    /// When the tool produced the input (RFC 3339), if it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanned_at: Option<String>,
    /// The file the input was read from, if it was a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// What the importer saw but could not map to facts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}
