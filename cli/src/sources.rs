//! Where bundles come from: a directory, an archive file, an OCI reference
//! or the embedded baseline; verified against a public key when one is given.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use customs::signing::VerifyingKey;
use customs::{AcceptedVersions, ArchiveLimits, Bundle, BundleFiles, Engine};
use customs_registry::{PullPolicy, Registry};

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
    /// Signature and rollback checks, as the library applies them.
    pub checks: customs::Trust,
    pub pull: Pull,
}

impl Trust {
    pub fn key(&self) -> Option<&VerifyingKey> {
        self.checks.key()
    }
}

impl TrustArgs {
    /// Reads the key; with a key, the rollback state is where
    /// --accepted-versions says or the default.
    pub fn resolve(&self) -> Result<Trust> {
        let checks = match self.verifying_key()? {
            None => customs::Trust::unsigned(),
            Some(key) => {
                let accepted = match &self.accepted_versions {
                    Some(path) => AcceptedVersions::at(path),
                    None => AcceptedVersions::at(AcceptedVersions::default_path().context(
                        "no state directory for the accepted bundle versions: pass --accepted-versions FILE",
                    )?),
                };
                customs::Trust::signed_by(key, accepted).allowing_rollback(self.allow_rollback)
            }
        };
        Ok(Trust {
            checks,
            pull: self.pull,
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
/// when there is a key; `None` for a directory without a manifest.
pub fn read_files(source: &Source, trust: &Trust) -> Result<Option<BundleFiles>> {
    match source {
        Source::Builtin(name) => bail!("builtin:{name} has no files; it is part of the binary"),
        Source::Dir(path) | Source::Archive(path) => Ok(trust.checks.read_files(path)?),
        Source::Oci(reference) => {
            let registry = Registry::with_default_cache();
            let runtime = runtime()?;
            let pull = trust.pull.into();
            let pulled = runtime.block_on(registry.pull(reference, pull))?;
            if let Some(key) = trust.key() {
                runtime.block_on(registry.verify(reference, &pulled.digest, key, pull))?;
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
    match source {
        Source::Builtin(name) => match name.as_str() {
            "baseline" => Ok(engine.baseline()?),
            "baseline-cel" => Ok(engine.cel_baseline()?),
            other => bail!("no builtin bundle {other:?} (builtin:baseline, builtin:baseline-cel)"),
        },
        Source::Dir(path) | Source::Archive(path) => {
            Ok(Bundle::load_verified(engine, path, &trust.checks)?)
        }
        Source::Oci(_) => {
            let files = read_files(source, trust)?
                .context("internal: an OCI bundle is an archive, so it has files")?;
            Ok(trust.checks.load_files(engine, &files)?)
        }
    }
}
