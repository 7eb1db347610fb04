//! Helpers for the cross-crate tests: where the shared corpus of real tool outputs is.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::OnceLock;

use customs::{Bundle, Engine, EngineConfig};
use customs_facts::{Signature, SignatureKind};

/// One engine for a test binary (compiling the baseline once).
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(EngineConfig::default()).expect("the engine starts"))
}

/// The embedded baseline bundle, loaded once per test binary.
pub fn baseline() -> Bundle {
    static BASELINE: OnceLock<Bundle> = OnceLock::new();
    BASELINE
        .get_or_init(|| engine().baseline().expect("the baseline loads"))
        .clone()
}

/// `../shared/corpus` beside the repository (override with `CUSTOMS_CORPUS`).
pub fn corpus_dir() -> PathBuf {
    std::env::var_os("CUSTOMS_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"))
}

/// Every `.json` file of one corpus kind (a subdirectory), sorted.
pub fn corpus_files(kind: &str) -> Vec<PathBuf> {
    let dir = corpus_dir().join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus directory {} is missing: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    files
}

/// A cosign keyless signature by `subject`, as `cosign verify` reports one.
pub fn signature(verified: bool, subject: &str) -> Signature {
    Signature {
        kind: SignatureKind::Cosign,
        verified,
        verified_by: Some("cosign verify".into()),
        key_id: None,
        issuer: Some("https://token.actions.githubusercontent.com".into()),
        subject: Some(subject.into()),
        rekor_log_index: Some(1),
    }
}
