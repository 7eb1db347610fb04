//! The one path from a bundle on disk to a loaded bundle: its signature
//! checked against a public key, its version against the versions accepted
//! before (rollback), then loaded. The CLI, the server's reload and the C
//! ABI all load local bundles through [`Bundle::load_verified`].

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::archive::ArchiveLimits;
use crate::bundle::Bundle;
use crate::engine::Engine;
use crate::error::Error;
use crate::manifest::{BundleFiles, MANIFEST_FILE};
use crate::rollback::{Acceptance, AcceptedVersions};
use crate::signing::VerifyingKey;

/// The signature file of a directory bundle: a cosign blob signature of its
/// manifest (which pins every file by sha256).
pub const DIR_SIGNATURE_FILE: &str = "customs-bundle.yaml.sig";

/// Longest signature file read: a base64 ECDSA signature is ~100 bytes.
const MAX_SIGNATURE_BYTES: u64 = 4096;

/// What a bundle must satisfy to be loaded.
///
/// Without a key nothing is checked (a bundle the caller built or trusts by
/// other means); with one, the bundle must carry a valid signature by it and
/// must not be older than the version of its name accepted before.
/// No `Default`: loading unchecked is said with [`Trust::unsigned`], never
/// fallen into.
#[derive(Debug, Clone)]
pub struct Trust {
    key: Option<VerifyingKey>,
    accepted: Option<AcceptedVersions>,
    allow_rollback: bool,
}

impl Trust {
    /// Loads bundles without checking a signature.
    pub fn unsigned() -> Trust {
        Trust {
            key: None,
            accepted: None,
            allow_rollback: false,
        }
    }

    /// Loads only bundles signed by `key`, refusing a version older than the
    /// one recorded in `accepted` (and recording newer ones there).
    pub fn signed_by(key: VerifyingKey, accepted: AcceptedVersions) -> Trust {
        Trust {
            key: Some(key),
            accepted: Some(accepted),
            allow_rollback: false,
        }
    }

    /// Accepts a signed bundle older than the version accepted before (the
    /// record keeps the newer one). Off by default: an old bundle with a
    /// valid signature is how a rollback attack looks.
    pub fn allowing_rollback(mut self, allow: bool) -> Trust {
        self.allow_rollback = allow;
        self
    }

    /// The key bundles must be signed with, if any.
    pub fn key(&self) -> Option<&VerifyingKey> {
        self.key.as_ref()
    }

    /// After a signature check: refuses a version older than one accepted
    /// before, records newer ones. Nothing to do without a key.
    fn accept(&self, files: &BundleFiles) -> Result<(), Error> {
        let (Some(_), Some(accepted)) = (&self.key, &self.accepted) else {
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
                "older signed bundle used because rollback was allowed"
            ),
        }
        Ok(())
    }

    /// Reads a bundle directory or archive file, checking its signature when
    /// there is a key: `None` for a directory without a manifest (which
    /// cannot be signed, so is refused when there is a key).
    pub fn read_files(&self, path: &Path) -> Result<Option<BundleFiles>, Error> {
        let origin = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|source| Error::BundleIo {
            origin: origin.clone(),
            source,
        })?;
        if meta.is_dir() {
            self.read_dir(path)
        } else {
            let bytes = read_archive_file(path)?;
            if let Some(key) = &self.key {
                let signature = read_signature(&signature_path_of(path))?;
                key.verify(&origin, &bytes, &signature)?;
            }
            BundleFiles::read_archive(&origin, &bytes, &ArchiveLimits::default()).map(Some)
        }
    }

    fn read_dir(&self, dir: &Path) -> Result<Option<BundleFiles>, Error> {
        let manifest_path = dir.join(MANIFEST_FILE);
        if !manifest_path.exists() {
            if self.key.is_some() {
                return Err(Error::Signature {
                    origin: dir.display().to_string(),
                    reason: format!(
                        "has no {MANIFEST_FILE}, so it cannot be signed or verified (run `customs bundle init`)"
                    ),
                });
            }
            return Ok(None);
        }
        let files = BundleFiles::read_dir(dir)?;
        if let Some(key) = &self.key {
            let signature = read_signature(&dir.join(DIR_SIGNATURE_FILE))?;
            let manifest = files
                .files()
                .get(MANIFEST_FILE)
                .map(Vec::as_slice)
                .unwrap_or_default();
            key.verify(&manifest_path.display().to_string(), manifest, &signature)?;
        }
        Ok(Some(files))
    }
}

impl Trust {
    /// Loads the files of a bundle whose signature the caller checked (as
    /// [`Trust::read_files`] does; this checks none): every file against the
    /// manifest's sha256, then compiled, then
    /// its version against the versions accepted before. The version is
    /// recorded only for a bundle that loaded, so a signed manifest beside
    /// broken files cannot raise the floor and lock out the bundle in use.
    pub fn load_files(&self, engine: &Engine, files: &BundleFiles) -> Result<Bundle, Error> {
        let bundle = Bundle::load_files(engine, files)?;
        self.accept(files)?;
        Ok(bundle)
    }
}

impl Bundle {
    /// Loads a bundle directory or archive file as `trust` allows: with a key,
    /// only when its signature is valid (checked before anything compiles;
    /// an archive's before it is unpacked) and it is not older than the
    /// version of its name accepted before.
    pub fn load_verified(engine: &Engine, path: &Path, trust: &Trust) -> Result<Bundle, Error> {
        match trust.read_files(path)? {
            Some(files) => trust.load_files(engine, &files),
            None => Bundle::load_dir(engine, path),
        }
    }
}

/// `FILE.sig`, where `customs bundle sign FILE` writes an archive's signature.
pub fn signature_path_of(archive: &Path) -> PathBuf {
    let mut name = archive.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

/// Reads a bundle archive file, refusing one larger than the archive limit
/// before reading all of it.
pub fn read_archive_file(path: &Path) -> Result<Vec<u8>, Error> {
    let origin = path.display().to_string();
    let limit = ArchiveLimits::default().max_archive_bytes;
    let io_error = |source| Error::BundleIo {
        origin: origin.clone(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io_error)?
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > limit {
        return Err(Error::Archive {
            origin,
            reason: format!("larger than the limit of {limit} bytes"),
        });
    }
    Ok(bytes)
}

fn read_signature(path: &Path) -> Result<String, Error> {
    let error = |reason: String| Error::Signature {
        origin: path.display().to_string(),
        reason,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_SIGNATURE_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| {
            error(format!(
                "the bundle is not signed: cannot read its signature ({e}); sign it with `customs bundle sign`"
            ))
        })?;
    if text.len() as u64 > MAX_SIGNATURE_BYTES {
        return Err(error("not a signature (too long)".to_owned()));
    }
    Ok(text)
}
