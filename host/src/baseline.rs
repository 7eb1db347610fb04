//! The baseline bundle: the container hardening checklist as policies, compiled
//! from `policies/baseline` at build time and embedded in this crate.

use crate::bundle::Bundle;
use crate::engine::Engine;
use crate::error::Error;

/// (rule id, component bytes) of every baseline policy, in evaluation order.
pub const POLICIES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/baseline.rs"));

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
