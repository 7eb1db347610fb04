//! # customs
//!
//! A WebAssembly policy engine for container images. Tool outputs are imported
//! into one normalized facts document ([`customs_facts`]); policies (WebAssembly
//! components of the `customs:policy` world) run sandboxed against it and
//! answer allow or deny, with reasons.
//!
//! ```
//! use customs::{Engine, EngineConfig, EvalOptions, PreparedFacts};
//! use customs_facts::import::{import_bytes, Origin};
//!
//! // One engine per process; it is Send + Sync and cheap to clone.
//! let engine = Engine::new(EngineConfig::default())?;
//! // The embedded baseline: trusted-base, no-root-user, vulnerabilities, ...
//! let mut bundle = engine.baseline()?;
//! bundle.set_param("vulnerabilities.min-severity", "critical")?;
//!
//! let report = br#"{"SchemaVersion": 2, "ArtifactName": "app:1", "ArtifactType": "container_image",
//!   "Metadata": {"ImageConfig": {"created": "2026-11-01T00:00:00Z", "config": {"User": ""}}},
//!   "Results": []}"#;
//! let facts = import_bytes(&Origin::named("report.json"), report)?;
//! let decision = engine.evaluate(&bundle, &PreparedFacts::new(facts), &EvalOptions::default());
//!
//! assert!(!decision.is_allowed());
//! assert_eq!(decision.denied_rules(), ["no-root-user"]);
//! for (policy, finding) in decision.findings() {
//!     println!("{policy}: [{}] {}", finding.rule, finding.message);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Evaluation never returns an error: a policy that traps, exceeds its
//! deadline or memory, or returns a malformed verdict is reported as failed
//! and denies (fail closed). Loading returns typed [`Error`]s.

mod archive;
pub mod baseline;
mod bindings;
mod bundle;
mod cel;
mod engine;
mod error;
mod limits;
mod manifest;
mod policy;
mod prepared;
mod rollback;
mod sandbox;
pub mod schemas;
pub mod signing;
mod trust;
mod verdict;
mod waivers;
/// The facts model and importers, so an embedder needs one dependency:
/// `customs::facts::Facts`, `customs::facts::import::import_bytes`.
pub use customs_facts as facts;
pub use customs_facts::text;

pub use archive::{ArchiveLimits, MEDIA_TYPE as BUNDLE_MEDIA_TYPE};
pub use bundle::{Bundle, BundleEntry};
pub use cel::environment as cel_environment;
pub use customs_facts::RequiredFact;
pub use engine::{Engine, EngineConfig, EvalOptions};
pub use error::Error;
pub use limits::Limits;
pub use manifest::{
    BundleFiles, MANIFEST_FILE, Manifest, ManifestPolicy, ManifestPolicyKind, ParamSetting,
    WIT_VERSION,
};
pub use policy::{LintFinding, ParamInfo, Policy, PolicyInfo, RuleInfo, is_id as is_valid_name};
pub use prepared::PreparedFacts;
pub use rollback::{ACCEPTED_VERSIONS_FILE, Acceptance, AcceptedVersion, AcceptedVersions};
pub use trust::{DIR_SIGNATURE_FILE, Trust, read_archive_file, signature_path_of};
pub use verdict::{
    Decision, EVIDENCE_MISSING_RULE, EVIDENCE_POLICY, Effect, Enforcement, FailureKind, Finding,
    ImageRef, Outcome, POLICY_ERROR_RULE, PolicyDecision, PolicyReport, Severity, Summary,
};
pub use waivers::{Waiver, WaiverMark, WaiverOutcome, WaiverStatus, Waivers};
