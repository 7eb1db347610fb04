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
        for policy in self.load_builtin(POLICIES) {
            bundle.add(policy?)?;
        }
        Ok(bundle)
    }

    /// Loads built-in components on every core at once, in their order:
    /// compiling them (or reading them from the compile cache) is most of a
    /// one-shot `customs eval`.
    fn load_builtin(&self, policies: &[(&str, &[u8])]) -> Vec<Result<crate::Policy, Error>> {
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, policies.len().max(1));
        let load = |index: usize| {
            let (rule, bytes) = policies[index];
            self.load_builtin_wasm_policy(&format!("baseline:{rule}"), bytes)
        };
        let mut loaded: Vec<(usize, Result<crate::Policy, Error>)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (1..threads)
                .map(|first| {
                    scope.spawn(move || {
                        (first..policies.len())
                            .step_by(threads)
                            .map(|i| (i, load(i)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let mut all: Vec<_> = (0..policies.len())
                .step_by(threads)
                .map(|i| (i, load(i)))
                .collect();
            for worker in workers {
                // A loader that panicked leaves its policies out: counted below.
                if let Ok(mut some) = worker.join() {
                    all.append(&mut some);
                }
            }
            all
        });
        loaded.sort_by_key(|(index, _)| *index);
        let mut results: Vec<Result<crate::Policy, Error>> =
            loaded.into_iter().map(|(_, result)| result).collect();
        if results.len() < policies.len() {
            results.push(Err(Error::Engine(
                "loading a built-in policy failed on its thread".to_owned(),
            )));
        }
        results
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_baseline_loads_on_every_core_in_its_own_order() {
        let engine = Engine::new(crate::EngineConfig::default().pool_size(0)).unwrap();
        let bundle = engine.baseline().unwrap();
        let names: Vec<&str> = bundle
            .entries()
            .iter()
            .map(|e| e.policy().info().name.as_str())
            .collect();
        let rules: Vec<&str> = POLICIES.iter().map(|(rule, _)| *rule).collect();
        assert_eq!(names, rules);
    }
}
