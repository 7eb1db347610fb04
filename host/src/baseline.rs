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
