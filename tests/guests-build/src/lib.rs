//! Where the guest components the tests load are: built by this crate's
//! build script (see there) into `guests/` under the cargo target directory.

use std::path::PathBuf;

const TARGET_DIR: &str = env!("CUSTOMS_GUESTS_TARGET_DIR");

/// The target directory the guests are built in; a test that builds another
/// guest crate shares it, so the dependencies are compiled once.
pub fn target_dir() -> PathBuf {
    PathBuf::from(TARGET_DIR)
}

/// A component of the `policies` workspace: `baseline_signed`,
/// `example_policy` (the Rust example), ...
pub fn policy(name: &str) -> PathBuf {
    release_dir().join(format!("{name}.wasm"))
}

/// A component of the hostile suite (`tests/guests/hostile/examples`).
pub fn hostile(name: &str) -> PathBuf {
    release_dir().join("examples").join(format!("{name}.wasm"))
}

/// Where a guest crate built in [`target_dir`] puts its component.
pub fn release_dir() -> PathBuf {
    target_dir().join("wasm32-wasip2").join("release")
}
