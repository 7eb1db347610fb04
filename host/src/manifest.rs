//! The bundle manifest (`customs-bundle.yaml`): what a bundle holds, pinned by
//! sha256, with each policy's parameters and enforcement mode, and the
//! customs and WIT versions it needs.
//!
//! Loading is all or nothing: the manifest is parsed, every file it names is
//! checked against its digest, and only then is anything compiled.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::bundle::Bundle;
use crate::engine::Engine;
use crate::error::Error;
use crate::verdict::Enforcement;

/// The manifest's file name inside a bundle directory or archive.
pub const MANIFEST_FILE: &str = "customs-bundle.yaml";

/// The WIT package version of the policies this customs runs.
pub const WIT_VERSION: &str = "0.1.0";

/// The largest manifest read (it lists files; it never needs to be big).
const MAX_MANIFEST_BYTES: usize = 1 << 20;

/// A bundle manifest, as written in `customs-bundle.yaml`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "customs bundle manifest (customs-bundle.yaml)")]
#[non_exhaustive]
pub struct Manifest {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    /// The oldest customs that can load the bundle (a semantic version).
    #[serde(default)]
    pub min_customs_version: Option<String>,
    /// The `customs:policy` WIT version the components were built against.
    #[serde(default = "default_wit_version")]
    pub wit_version: String,
    pub policies: Vec<ManifestPolicy>,
}

fn default_wit_version() -> String {
    WIT_VERSION.to_owned()
}

/// One policy of a manifest.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ManifestPolicy {
    /// The file, relative to the bundle root, `/`-separated.
    pub path: String,
    pub kind: ManifestPolicyKind,
    /// Lower-case hex sha256 of the file.
    pub sha256: String,
    /// Parameter values set by the bundle (the policy declares the defaults).
    #[serde(default)]
    pub params: BTreeMap<String, ParamSetting>,
    #[serde(default)]
    pub enforcement: Enforcement,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ManifestPolicyKind {
    Wasm,
    Cel,
}

impl ManifestPolicyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ManifestPolicyKind::Wasm => "wasm",
            ManifestPolicyKind::Cel => "cel",
        }
    }

    fn of_path(path: &str) -> Option<ManifestPolicyKind> {
        let extension = Path::new(path).extension()?.to_str()?;
        match extension {
            "wasm" => Some(ManifestPolicyKind::Wasm),
            "yaml" | "yml" => Some(ManifestPolicyKind::Cel),
            _ => None,
        }
    }
}

/// A parameter value in a manifest: a scalar, or a list (passed to the policy
/// comma-separated, as `--param` takes it).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ParamSetting {
    Bool(bool),
    Int(i64),
    Text(String),
    List(Vec<String>),
}

impl ParamSetting {
    /// The value as `--param` / `Bundle::set_param` take it.
    pub fn as_param_text(&self) -> String {
        match self {
            ParamSetting::Bool(b) => b.to_string(),
            ParamSetting::Int(i) => i.to_string(),
            ParamSetting::Text(s) => s.clone(),
            ParamSetting::List(items) => items.join(","),
        }
    }
}

impl Manifest {
    /// Parses and checks a manifest: unknown keys, bad names, unsafe paths,
    /// malformed digests and versions this customs cannot load are errors.
    pub fn parse(origin: &str, text: &str) -> Result<Manifest, Error> {
        let error = |reason: String| Error::Manifest {
            origin: origin.to_owned(),
            reason,
        };
        if text.len() > MAX_MANIFEST_BYTES {
            return Err(error(format!(
                "the manifest is {} bytes, more than the limit of {MAX_MANIFEST_BYTES}",
                text.len()
            )));
        }
        let manifest: Manifest = serde_saphyr::from_str(text).map_err(|e| error(e.to_string()))?;
        crate::policy::check_id("bundle name", &manifest.name).map_err(error)?;
        semver::Version::parse(&manifest.version).map_err(|e| {
            error(format!(
                "version {:?} is not a semantic version: {e}",
                manifest.version
            ))
        })?;
        if let Some(min) = &manifest.min_customs_version {
            let min = semver::Version::parse(min).map_err(|e| {
                error(format!(
                    "minCustomsVersion {min:?} is not a semantic version: {e}"
                ))
            })?;
            let ours = customs_version();
            if ours < min {
                return Err(Error::Incompatible {
                    origin: origin.to_owned(),
                    reason: format!("the bundle needs customs {min} or newer; this is {ours}"),
                });
            }
        }
        if manifest.wit_version != WIT_VERSION {
            return Err(Error::Incompatible {
                origin: origin.to_owned(),
                reason: format!(
                    "the bundle's policies are built for customs:policy@{}; this customs runs customs:policy@{WIT_VERSION}",
                    manifest.wit_version
                ),
            });
        }
        if manifest.policies.is_empty() {
            return Err(error("the manifest lists no policies".to_owned()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for policy in &manifest.policies {
            check_relative_path(&policy.path)
                .map_err(|reason| error(format!("policy path {:?}: {reason}", policy.path)))?;
            if !seen.insert(policy.path.as_str()) {
                return Err(error(format!("{} is listed twice", policy.path)));
            }
            if policy.path == MANIFEST_FILE {
                return Err(error(format!("{MANIFEST_FILE} cannot be a policy")));
            }
            if policy.sha256.len() != 64
                || !policy
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(error(format!(
                    "{}: sha256 must be 64 lower-case hex digits, not {:?}",
                    policy.path, policy.sha256
                )));
            }
        }
        Ok(manifest)
    }

    /// A manifest for the policy files of a directory, their digests computed:
    /// what `customs bundle init` writes.
    pub fn for_files<'f>(
        name: &str,
        files: impl IntoIterator<Item = (&'f str, &'f [u8])>,
    ) -> Result<String, Error> {
        crate::policy::check_id("bundle name", name).map_err(|reason| Error::Manifest {
            origin: name.to_owned(),
            reason,
        })?;
        let mut text = format!(
            "# customs bundle manifest: every policy pinned by sha256.\nname: {name}\nversion: 0.1.0\ndescription: \"\"\nminCustomsVersion: {}\nwitVersion: {WIT_VERSION}\npolicies:\n",
            customs_version()
        );
        for (path, bytes) in files {
            let kind = ManifestPolicyKind::of_path(path).map_or("wasm", ManifestPolicyKind::as_str);
            text.push_str(&format!(
                "  - path: {path}\n    kind: {kind}\n    sha256: {}\n    enforcement: enforce\n",
                sha256_hex(bytes)
            ));
        }
        Ok(text)
    }
}

fn customs_version() -> semver::Version {
    semver::Version::parse(env!("CARGO_PKG_VERSION")).unwrap_or(semver::Version::new(0, 0, 0))
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A path inside a bundle: relative, `/`-separated, no `.`/`..`, no empty or
/// hidden-drive parts, so it can never name a file outside the bundle.
pub(crate) fn check_relative_path(path: &str) -> Result<(), String> {
    if path.is_empty() || path.len() > 512 {
        return Err("must be 1-512 characters".to_owned());
    }
    if path.contains('\\') || path.contains('\0') {
        return Err("must use / as separator and hold no NUL".to_owned());
    }
    for component in Path::new(path).components() {
        match component {
            Component::Normal(_) => {}
            Component::ParentDir => return Err("must not contain ..".to_owned()),
            Component::CurDir => return Err("must not contain .".to_owned()),
            Component::RootDir | Component::Prefix(_) => {
                return Err("must be relative to the bundle".to_owned());
            }
        }
    }
    if path.split('/').any(|part| part.is_empty() || part == ".") {
        return Err("must not contain empty or . parts".to_owned());
    }
    Ok(())
}

/// The files of a bundle held in memory, by their `/`-separated path: a
/// directory read through its manifest, or an archive unpacked.
#[derive(Debug, Clone)]
pub struct BundleFiles {
    origin: String,
    files: BTreeMap<String, Vec<u8>>,
}

impl BundleFiles {
    pub(crate) fn new(origin: String, files: BTreeMap<String, Vec<u8>>) -> BundleFiles {
        BundleFiles { origin, files }
    }

    /// Where the files came from, for messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Every file, by path.
    pub fn files(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.files
    }

    /// Reads a bundle directory: its manifest and every file the manifest
    /// lists (nothing else). A listed file that is a symlink leading out of
    /// the directory is refused.
    pub fn read_dir(dir: &Path) -> Result<BundleFiles, Error> {
        let origin = dir.display().to_string();
        let io_error = |path: &Path, source| Error::BundleIo {
            origin: path.display().to_string(),
            source,
        };
        let manifest_path = dir.join(MANIFEST_FILE);
        let manifest_text = read_limited(&manifest_path, MAX_MANIFEST_BYTES as u64)
            .map_err(|e| io_error(&manifest_path, e))?;
        let text = String::from_utf8(manifest_text.clone()).map_err(|_| Error::Manifest {
            origin: manifest_path.display().to_string(),
            reason: "the manifest is not UTF-8 text".to_owned(),
        })?;
        let manifest = Manifest::parse(&manifest_path.display().to_string(), &text)?;
        let root = dir.canonicalize().map_err(|e| io_error(dir, e))?;
        let mut files = BTreeMap::new();
        files.insert(MANIFEST_FILE.to_owned(), manifest_text);
        for policy in &manifest.policies {
            let path = dir.join(&policy.path);
            let real = match path.canonicalize() {
                Ok(real) => real,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::Manifest {
                        origin: manifest_path.display().to_string(),
                        reason: format!("lists {}, which does not exist", policy.path),
                    });
                }
                Err(e) => return Err(io_error(&path, e)),
            };
            if !real.starts_with(&root) {
                return Err(Error::Manifest {
                    origin: manifest_path.display().to_string(),
                    reason: format!(
                        "{} leads outside the bundle directory (to {})",
                        policy.path,
                        real.display()
                    ),
                });
            }
            let bytes = read_limited(&real, crate::archive::MAX_ENTRY_BYTES)
                .map_err(|e| io_error(&path, e))?;
            files.insert(policy.path.clone(), bytes);
        }
        Ok(BundleFiles { origin, files })
    }

    /// The parsed manifest.
    pub fn manifest(&self) -> Result<Manifest, Error> {
        let origin = format!("{}/{MANIFEST_FILE}", self.origin);
        let bytes = self
            .files
            .get(MANIFEST_FILE)
            .ok_or_else(|| Error::Manifest {
                origin: origin.clone(),
                reason: format!("the bundle has no {MANIFEST_FILE}"),
            })?;
        let text = std::str::from_utf8(bytes).map_err(|_| Error::Manifest {
            origin: origin.clone(),
            reason: "the manifest is not UTF-8 text".to_owned(),
        })?;
        Manifest::parse(&origin, text)
    }

    /// Checks every listed file against its digest and that nothing else
    /// rides along; returns the manifest. Nothing is compiled.
    pub fn verify(&self) -> Result<Manifest, Error> {
        let manifest = self.manifest()?;
        for policy in &manifest.policies {
            let bytes = self
                .files
                .get(&policy.path)
                .ok_or_else(|| Error::Manifest {
                    origin: format!("{}/{MANIFEST_FILE}", self.origin),
                    reason: format!("lists {}, which the bundle does not hold", policy.path),
                })?;
            let actual = sha256_hex(bytes);
            if actual != policy.sha256 {
                return Err(Error::Digest {
                    origin: format!("{}/{}", self.origin, policy.path),
                    expected: policy.sha256.clone(),
                    actual,
                });
            }
        }
        if let Some(extra) = self.files.keys().find(|path| {
            path.as_str() != MANIFEST_FILE && !manifest.policies.iter().any(|p| &p.path == *path)
        }) {
            return Err(Error::Manifest {
                origin: format!("{}/{MANIFEST_FILE}", self.origin),
                reason: format!("the bundle holds {extra}, which the manifest does not list"),
            });
        }
        Ok(manifest)
    }
}

fn read_limited(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than the limit of {max} bytes"),
        ));
    }
    Ok(bytes)
}

impl Bundle {
    /// Loads a bundle from its files: verifies the manifest and every digest
    /// first, then compiles each policy, then applies the manifest's
    /// parameters and enforcement modes. Any failure loads nothing.
    pub fn load_files(engine: &Engine, files: &BundleFiles) -> Result<Bundle, Error> {
        let manifest = files.verify()?;
        let mut bundle = Bundle::new(manifest.name.clone());
        bundle.set_source(&manifest);
        for listed in &manifest.policies {
            let origin = format!("{}/{}", files.origin(), listed.path);
            let bytes = files
                .files()
                .get(&listed.path)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let policy = match listed.kind {
                ManifestPolicyKind::Wasm => engine.load_wasm_policy(&origin, bytes)?,
                ManifestPolicyKind::Cel => {
                    let text = std::str::from_utf8(bytes).map_err(|e| Error::CelFile {
                        origin: origin.clone(),
                        reason: format!("the file is not UTF-8 text: {e}"),
                    })?;
                    engine.load_cel_policy(&origin, text)?
                }
            };
            let name = policy.name().to_owned();
            bundle.add(policy)?;
            for (param, value) in &listed.params {
                bundle
                    .set_param(&format!("{name}.{param}"), &value.as_param_text())
                    .map_err(|e| Error::Manifest {
                        origin: format!("{}/{MANIFEST_FILE}", files.origin()),
                        reason: format!("{}: {e}", listed.path),
                    })?;
            }
            bundle.set_enforcement(&name, listed.enforcement)?;
        }
        Ok(bundle)
    }
}
