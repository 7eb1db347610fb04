//! A bundle: the policies evaluated together, each with its resolved parameters
//! and enforcement mode.

use std::path::Path;
use std::sync::Arc;

use crate::cel::Object;
use crate::engine::Engine;
use crate::error::Error;
use crate::manifest::{BundleFiles, MANIFEST_FILE};
use crate::policy::{Policy, PolicyKind};
use crate::verdict::Enforcement;
use crate::waivers::Waivers;

/// One policy in a bundle, with every declared parameter resolved.
#[derive(Debug, Clone)]
pub struct BundleEntry {
    pub(crate) policy: Policy,
    /// Every declared parameter: the default, or the value set on the bundle.
    pub(crate) params: Vec<(String, String)>,
    pub(crate) enforcement: Enforcement,
    /// For a CEL policy, `params` as the typed value expressions see; kept
    /// in step with `params` so evaluation never parses them.
    pub(crate) cel_params: Option<Object>,
}

impl BundleEntry {
    fn new(
        policy: Policy,
        params: Vec<(String, String)>,
        enforcement: Enforcement,
    ) -> Result<Self, Error> {
        let mut entry = BundleEntry {
            policy,
            params,
            enforcement,
            cel_params: None,
        };
        entry.refresh_cel_params()?;
        Ok(entry)
    }

    fn refresh_cel_params(&mut self) -> Result<(), Error> {
        if let PolicyKind::Cel(program) = &self.policy.0.kind {
            let value = program.params_value(&self.params).map_err(|reason| {
                Error::Param(format!("policy {}: {reason}", self.policy.name()))
            })?;
            self.cel_params = Some(value);
        }
        Ok(())
    }
}

impl BundleEntry {
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    pub fn enforcement(&self) -> Enforcement {
        self.enforcement
    }
}

/// Policies evaluated together. Evaluation order is the order they were added.
#[derive(Debug, Clone)]
pub struct Bundle {
    name: String,
    /// The manifest's version, when the bundle was loaded from one.
    version: Option<String>,
    entries: Vec<BundleEntry>,
    waivers: Option<Arc<Waivers>>,
}

impl Bundle {
    pub fn new(name: impl Into<String>) -> Bundle {
        Bundle {
            name: name.into(),
            version: None,
            entries: Vec::new(),
            waivers: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version its manifest declares (`None` for bundles built in code
    /// or from a directory without a manifest).
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// Exceptions applied to every evaluation with this bundle.
    pub fn set_waivers(&mut self, waivers: Waivers) {
        self.waivers = Some(Arc::new(waivers));
    }

    pub fn waivers(&self) -> Option<&Waivers> {
        self.waivers.as_deref()
    }

    pub(crate) fn set_source(&mut self, manifest: &crate::manifest::Manifest) {
        self.name.clone_from(&manifest.name);
        self.version = Some(manifest.version.clone());
    }

    pub fn entries(&self) -> &[BundleEntry] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a policy with its default parameters, enforced.
    pub fn add(&mut self, policy: Policy) -> Result<(), Error> {
        if let Some(existing) = self
            .entries
            .iter()
            .find(|e| e.policy.name() == policy.name())
        {
            return Err(Error::DuplicatePolicy {
                bundle: self.name.clone(),
                name: policy.name().to_owned(),
                first: existing.policy.origin().to_owned(),
                second: policy.origin().to_owned(),
            });
        }
        let params = policy
            .info()
            .params
            .iter()
            .map(|p| (p.name.clone(), p.default_value.clone()))
            .collect();
        self.entries
            .push(BundleEntry::new(policy, params, Enforcement::Enforce)?);
        Ok(())
    }

    /// Adds every policy of `other` (e.g. `--policy` files on top of a bundle).
    pub fn extend(&mut self, other: Bundle) -> Result<(), Error> {
        for entry in other.entries {
            self.add(entry.policy.clone())?;
            if let Some(last) = self.entries.last_mut() {
                *last = entry;
            }
        }
        Ok(())
    }

    /// Sets a parameter. `key` is `POLICY.PARAM` for one policy, or `PARAM` for
    /// every policy that declares it. A parameter nobody declares is an error,
    /// so a typo never silently keeps the default.
    pub fn set_param(&mut self, key: &str, value: &str) -> Result<(), Error> {
        let (target, name) = match key.split_once('.') {
            Some((policy, name)) => (Some(policy), name),
            None => (None, key),
        };
        if let Some(policy) = target
            && !self.entries.iter().any(|e| e.policy.name() == policy)
        {
            return Err(Error::Param(format!(
                "parameter {key}: the bundle has no policy named {policy:?} (policies: {})",
                self.policy_names().join(", ")
            )));
        }
        let mut applied = 0;
        for entry in &mut self.entries {
            if target.is_some_and(|t| t != entry.policy.name()) {
                continue;
            }
            if let Some(slot) = entry.params.iter_mut().find(|(n, _)| n == name) {
                let previous = std::mem::replace(&mut slot.1, value.to_owned());
                if let Err(e) = entry.refresh_cel_params() {
                    // Keep the entry as it was: nothing half-set.
                    if let Some(slot) = entry.params.iter_mut().find(|(n, _)| n == name) {
                        slot.1 = previous;
                    }
                    return Err(e);
                }
                applied += 1;
            } else if target.is_some() {
                let known: Vec<&str> = entry.params.iter().map(|(n, _)| n.as_str()).collect();
                return Err(Error::Param(format!(
                    "parameter {key}: policy {} does not declare {name:?} (it declares: {})",
                    entry.policy.name(),
                    if known.is_empty() {
                        "nothing".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        }
        if applied == 0 {
            return Err(Error::Param(format!(
                "parameter {name:?} is not declared by any policy in bundle {} ({})",
                self.name,
                self.policy_names().join(", ")
            )));
        }
        Ok(())
    }

    /// Sets the enforcement mode of one policy.
    pub fn set_enforcement(&mut self, policy: &str, enforcement: Enforcement) -> Result<(), Error> {
        let names = self.policy_names().join(", ");
        let entry = self
            .entries
            .iter_mut()
            .find(|e| e.policy.name() == policy)
            .ok_or_else(|| {
                Error::Param(format!(
                    "no policy named {policy:?} in the bundle ({names})"
                ))
            })?;
        entry.enforcement = enforcement;
        Ok(())
    }

    fn policy_names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.policy.name()).collect()
    }

    /// Loads a bundle directory. With a manifest (`customs-bundle.yaml`),
    /// exactly the files it lists, each checked against its sha256 before
    /// anything compiles ([`Bundle::load_files`]). Without one, every policy
    /// in the directory, in file-name order: `*.wasm` components and
    /// `*.yaml`/`*.yml` CEL files.
    pub fn load_dir(engine: &Engine, dir: &Path) -> Result<Bundle, Error> {
        if dir.join(MANIFEST_FILE).exists() {
            return Bundle::load_files(engine, &BundleFiles::read_dir(dir)?);
        }
        let origin = dir.display().to_string();
        let io_error = |source| Error::BundleIo {
            origin: origin.clone(),
            source,
        };
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(io_error)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(io_error)?
            .into_iter()
            .map(|entry| entry.path())
            .filter(|path| is_policy_file(path))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::EmptyBundle { origin });
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| origin.clone());
        let mut bundle = Bundle::new(name);
        for file in files {
            bundle.add(engine.load_policy_file(&file)?)?;
        }
        Ok(bundle)
    }
}

fn is_policy_file(path: &Path) -> bool {
    let is_manifest = path.file_name().is_some_and(|n| n == MANIFEST_FILE);
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    !is_manifest && matches!(extension, "wasm" | "yaml" | "yml")
}
