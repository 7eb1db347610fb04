//! The baseline bundle: the container hardening checklist as policies. The
//! components are built from `policies/baseline` and committed in
//! `host/baseline/` (see its README), so building customs compiles no guest
//! and needs no wasm target; a test rebuilds them and checks the bytes.

use crate::bundle::Bundle;
use crate::engine::Engine;
use crate::error::Error;

/// (rule id, component bytes) of every baseline policy, in evaluation order.
pub const POLICIES: &[(&str, &[u8])] = &[
    (
        "trusted-base",
        include_bytes!("../baseline/baseline_trusted_base.wasm"),
    ),
    (
        "no-root-user",
        include_bytes!("../baseline/baseline_no_root_user.wasm"),
    ),
    (
        "vulnerabilities",
        include_bytes!("../baseline/baseline_vulnerabilities.wasm"),
    ),
    (
        "no-secrets",
        include_bytes!("../baseline/baseline_no_secrets.wasm"),
    ),
    (
        "minimal-image",
        include_bytes!("../baseline/baseline_minimal_image.wasm"),
    ),
    ("signed", include_bytes!("../baseline/baseline_signed.wasm")),
    (
        "provenance",
        include_bytes!("../baseline/baseline_provenance.wasm"),
    ),
    (
        "freshness",
        include_bytes!("../baseline/baseline_freshness.wasm"),
    ),
    (
        "misconfigurations",
        include_bytes!("../baseline/baseline_misconfigurations.wasm"),
    ),
    (
        "runtime-hardening",
        include_bytes!("../baseline/baseline_runtime_hardening.wasm"),
    ),
    (
        "no-setuid",
        include_bytes!("../baseline/baseline_no_setuid.wasm"),
    ),
];

/// The name of the embedded baseline bundle.
pub const NAME: &str = "baseline";

impl Engine {
    /// Loads the embedded baseline bundle.
    pub fn baseline(&self) -> Result<Bundle, Error> {
        let mut bundle = Bundle::new(NAME);
        for (rule, bytes) in POLICIES {
            bundle.add(self.load_policy(&format!("baseline:{rule}"), bytes)?)?;
        }
        Ok(bundle)
    }
}

/// The same baseline as one CEL policy file (`policies/cel/baseline.yaml`):
/// the same rules and decisions, parameters spelled with underscores.
pub const CEL_SOURCE: &str = include_str!("../../policies/cel/baseline.yaml");

impl Engine {
    /// Loads the CEL baseline as a bundle of one policy.
    pub fn cel_baseline(&self) -> Result<Bundle, Error> {
        let mut bundle = Bundle::new("baseline-cel");
        bundle.add(self.load_cel_policy("baseline:cel/baseline.yaml", CEL_SOURCE)?)?;
        Ok(bundle)
    }
}
