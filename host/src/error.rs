//! Errors of loading policies and building bundles. Evaluation itself never
//! returns an error: a policy that fails is a deny in the [`Decision`](crate::Decision).

/// Why a policy, a bundle or the engine could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
    #[error("{origin}: cannot read the policy: {source}")]
    Io {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: not a WebAssembly component: {reason}")]
    NotAComponent { origin: String, reason: String },
    #[error("{origin}: the component does not compile: {reason}")]
    Compile { origin: String, reason: String },
    #[error(
        "{origin}: the policy imports something customs does not grant (policies get the customs:policy/facts interface and WASI 0.2 with nothing behind it: no files, network, environment or clock beyond the evaluation time): {reason}"
    )]
    Import { origin: String, reason: String },
    #[error(
        "{origin}: the policy was built against customs:policy@{found}, which this customs does not speak (it speaks customs:policy@{supported}): build the policy with this release's WIT or customs-guest, or upgrade customs ({reason})"
    )]
    WitVersion {
        origin: String,
        found: String,
        supported: &'static str,
        reason: String,
    },
    #[error(
        "{origin}: not a customs policy: it does not export the world customs:policy/policy@0.1.0 ({reason})"
    )]
    WrongWorld { origin: String, reason: String },
    #[error("{origin}: reading the policy's metadata failed: {reason}")]
    Metadata { origin: String, reason: String },
    #[error("{origin}: invalid policy metadata: {reason}")]
    InvalidMetadata { origin: String, reason: String },
    #[error("bundle {bundle}: two policies are named {name:?} ({first} and {second})")]
    DuplicatePolicy {
        bundle: String,
        name: String,
        first: String,
        second: String,
    },
    #[error("{origin}: not a valid CEL policy file: {reason}")]
    CelFile { origin: String, reason: String },
    #[error("{origin}:{line}:{column}: {reason}")]
    Cel {
        origin: String,
        line: u64,
        column: u64,
        reason: String,
    },
    #[error("{0}")]
    Param(String),
    #[error("{origin}: cannot read the bundle: {source}")]
    BundleIo {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: the bundle holds no policies (*.wasm components or *.yaml CEL files)")]
    EmptyBundle { origin: String },
    #[error("{origin}: invalid bundle manifest: {reason}")]
    Manifest { origin: String, reason: String },
    #[error("{origin}: sha256 mismatch: the manifest pins {expected}, the file is {actual}")]
    Digest {
        origin: String,
        expected: String,
        actual: String,
    },
    #[error("{origin}: this customs cannot load the bundle: {reason}")]
    Incompatible { origin: String, reason: String },
    #[error("{origin}: invalid bundle archive: {reason}")]
    Archive { origin: String, reason: String },
    #[error("{origin}: signature check failed: {reason}")]
    Signature { origin: String, reason: String },
    #[error("{origin}: invalid waivers file: {reason}")]
    Waivers { origin: String, reason: String },
    #[error(
        "{origin}: bundle {name} {offered} is older than {accepted}, the version accepted before (recorded in {state}): refused as a rollback; allow it on purpose with --allow-rollback"
    )]
    Rollback {
        origin: String,
        name: String,
        offered: String,
        accepted: String,
        state: String,
    },
    #[error("{path}: cannot use the accepted bundle versions: {reason}")]
    AcceptedVersions { path: String, reason: String },
}
