//! Where bundles come from: a directory, an archive file, an OCI reference
//! or the embedded baseline; verified against a public key when one is given.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use customs::signing::VerifyingKey;
use customs::{
    Acceptance, AcceptedVersions, ArchiveLimits, Bundle, BundleFiles, Engine, MANIFEST_FILE,
};
use customs_registry::{PullPolicy, Registry};

/// The signature file of a directory bundle: a cosign blob signature of its
/// manifest (which pins every file by sha256).
pub const DIR_SIGNATURE_FILE: &str = "customs-bundle.yaml.sig";

#[derive(Args, Clone)]
pub struct TrustArgs {
    /// Refuse bundles that are not signed by --key (a directory, archive or
    /// OCI bundle; the embedded baseline is part of the binary).
    #[arg(long, requires = "key")]
    pub require_signed: bool,
    /// Cosign public key (PEM) that bundles must be signed with. Giving it
    /// checks every bundle's signature.
    #[arg(long, value_name = "PUB")]
    pub key: Option<PathBuf>,
    /// When an oci:// bundle is fetched: always, missing (use the cache when
    /// it has the reference; a tag as last resolved), never (cache only).
    #[arg(long, value_enum, default_value_t = Pull::Missing)]
    pub pull: Pull,
    /// Accept a signed bundle older than the newest version of its name
    /// accepted before. Refused by default: an old bundle with a valid
    /// signature is how a rollback attack looks.
    #[arg(long)]
    pub allow_rollback: bool,
    /// Where the newest accepted version of each signed bundle name is kept
    /// [default: $XDG_STATE_HOME/customs/accepted-bundles.json].
    #[arg(long, value_name = "FILE")]
    pub accepted_versions: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Pull {
    Always,
    Missing,
    Never,
}

impl From<Pull> for PullPolicy {
    fn from(pull: Pull) -> PullPolicy {
        match pull {
            Pull::Always => PullPolicy::Always,
            Pull::Missing => PullPolicy::Missing,
            Pull::Never => PullPolicy::Never,
        }
    }
}

/// What a bundle must satisfy to be used: [`TrustArgs`] with the key read.
pub struct Trust {
    pub key: Option<VerifyingKey>,
    pub pull: Pull,
    /// Signed bundles are checked against (and recorded in) this state.
    accepted: Option<AcceptedVersions>,
    allow_rollback: bool,
}

impl Trust {
    /// After a signature check: refuses a version older than one accepted
    /// before, records newer ones.
    fn accept(&self, files: &BundleFiles) -> Result<()> {
        let Some(accepted) = &self.accepted else {
            return Ok(());
        };
        let manifest = files.manifest()?;
        match accepted.accept(files, self.allow_rollback)? {
            Acceptance::First | Acceptance::Same => {}
            Acceptance::Upgrade { from } => tracing::info!(
                bundle = manifest.name,
                from,
                to = manifest.version,
                "newer signed bundle accepted"
            ),
            Acceptance::Republished => tracing::warn!(
                bundle = manifest.name,
                version = manifest.version,
                state = %accepted.path().display(),
                "this signed bundle has other content than the one accepted before under the same version; versions should not be reused"
            ),
            Acceptance::AllowedRollback { accepted } => tracing::warn!(
                bundle = manifest.name,
                version = manifest.version,
                accepted,
                "older signed bundle used because --allow-rollback was given"
            ),
        }
        Ok(())
    }
}

impl TrustArgs {
    /// Reads the key; with a key, the rollback state is where
    /// --accepted-versions says or the default.
    pub fn resolve(&self) -> Result<Trust> {
        let key = self.verifying_key()?;
        let accepted = match (&key, &self.accepted_versions) {
            (None, _) => None,
            (Some(_), Some(path)) => Some(AcceptedVersions::at(path)),
            (Some(_), None) => Some(AcceptedVersions::at(
                AcceptedVersions::default_path().context(
                    "no state directory for the accepted bundle versions: pass --accepted-versions FILE",
                )?,
            )),
        };
        Ok(Trust {
            key,
            pull: self.pull,
            accepted,
            allow_rollback: self.allow_rollback,
        })
    }

    pub fn verifying_key(&self) -> Result<Option<VerifyingKey>> {
        self.key
            .as_deref()
            .map(|path| {
                let pem = std::fs::read(path)
                    .with_context(|| format!("cannot read the key {}", path.display()))?;
                Ok(VerifyingKey::from_pem(&path.display().to_string(), &pem)?)
            })
            .transpose()
    }
}

/// A bundle source as the user wrote it.
pub enum Source {
    Builtin(String),
    Oci(String),
    Dir(PathBuf),
    Archive(PathBuf),
}

impl Source {
    pub fn parse(text: &str) -> Result<Source> {
        if text.starts_with("oci://") {
            return Ok(Source::Oci(text.to_owned()));
        }
        if let Some(name) = text.strip_prefix("builtin:") {
            return Ok(Source::Builtin(name.to_owned()));
        }
        let path = PathBuf::from(text);
        let meta = std::fs::metadata(&path)
            .with_context(|| format!("bundle {text}: cannot read it (a directory, an archive file, builtin:baseline or oci://HOST/REPO:TAG)"))?;
        Ok(if meta.is_dir() {
            Source::Dir(path)
        } else {
            Source::Archive(path)
        })
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The files of a directory, archive or OCI bundle, their signature checked
/// when `key` is given; `None` for a directory without a manifest.
pub fn read_files(source: &Source, trust: &Trust) -> Result<Option<BundleFiles>> {
    let key = trust.key.as_ref();
    let pull = trust.pull;
    match source {
        Source::Builtin(name) => bail!("builtin:{name} has no files; it is part of the binary"),
        Source::Dir(dir) => {
            if !dir.join(MANIFEST_FILE).exists() {
                if key.is_some() {
                    bail!(
                        "bundle {}: has no {MANIFEST_FILE}, so it cannot be signed or verified (run `customs bundle init`)",
                        dir.display()
                    );
                }
                return Ok(None);
            }
            let files = BundleFiles::read_dir(dir)?;
            if let Some(key) = key {
                let signature_path = dir.join(DIR_SIGNATURE_FILE);
                let signature = read_signature(&signature_path)?;
                let manifest = files
                    .files()
                    .get(MANIFEST_FILE)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                key.verify(
                    &dir.join(MANIFEST_FILE).display().to_string(),
                    manifest,
                    &signature,
                )?;
            }
            Ok(Some(files))
        }
        Source::Archive(path) => {
            let bytes = read_archive_file(path)?;
            if let Some(key) = key {
                let signature = read_signature(&signature_path_of(path))?;
                key.verify(&path.display().to_string(), &bytes, &signature)?;
            }
            Ok(Some(BundleFiles::read_archive(
                &path.display().to_string(),
                &bytes,
                &ArchiveLimits::default(),
            )?))
        }
        Source::Oci(reference) => {
            let registry = Registry::with_default_cache();
            let runtime = runtime()?;
            let pulled = runtime.block_on(registry.pull(reference, pull.into()))?;
            if let Some(key) = key {
                runtime.block_on(registry.verify(reference, &pulled.digest, key, pull.into()))?;
            }
            tracing::info!(reference, digest = %pulled.digest, cached = pulled.from_cache, "bundle pulled");
            Ok(Some(BundleFiles::read_archive(
                &pulled.pinned,
                &pulled.archive,
                &ArchiveLimits::default(),
            )?))
        }
    }
}

/// Loads a bundle from any source; a signed one only when it is not older
/// than the version of its name accepted before.
pub fn load(engine: &Engine, source: &Source, trust: &Trust) -> Result<Bundle> {
    if let Source::Builtin(name) = source {
        return match name.as_str() {
            "baseline" => Ok(engine.baseline()?),
            "baseline-cel" => Ok(engine.cel_baseline()?),
            other => bail!("no builtin bundle {other:?} (builtin:baseline, builtin:baseline-cel)"),
        };
    }
    match read_files(source, trust)? {
        Some(files) => {
            // Checked before compiling: a refused bundle costs nothing more.
            if trust.key.is_some() {
                trust.accept(&files)?;
            }
            Ok(Bundle::load_files(engine, &files)?)
        }
        None => match source {
            Source::Dir(dir) => Ok(Bundle::load_dir(engine, dir)?),
            _ => bail!("internal: only directories may lack a manifest"),
        },
    }
}

/// `FILE.sig`, where `customs bundle sign FILE` writes the signature.
pub fn signature_path_of(archive: &Path) -> PathBuf {
    let mut name = archive.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

fn read_signature(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "the bundle is not signed: cannot read its signature {} (sign it with `customs bundle sign`)",
            path.display()
        )
    })?;
    if text.len() > 4096 {
        bail!("{}: not a signature (too long)", path.display());
    }
    Ok(text)
}

pub fn read_archive_file(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let limit = ArchiveLimits::default().max_archive_bytes;
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot read the bundle archive {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read the bundle archive {}", path.display()))?;
    if bytes.len() as u64 > limit {
        bail!(
            "{}: the archive is larger than the limit of {limit} bytes",
            path.display()
        );
    }
    Ok(bytes)
}
