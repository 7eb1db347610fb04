//! The local bundle cache, keyed by manifest digest, so a bundle pulled once
//! is evaluated again without the network. Entries are checked against their
//! digests every time they are read: a damaged entry is fetched again, never
//! used.
//!
//! Layout under the root: `sha256/<hex>/manifest.json`, `bundle.tar.gz`,
//! `signatures.json`; `tags/<registry>/<repository>/<tag>` holds the digest a
//! tag resolved to when last pulled.

use std::path::{Path, PathBuf};

use oci_client::Reference;

use crate::cosign::Signatures;
use crate::error::Error;
use crate::sha256_digest;

#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Cache {
        Cache { root: root.into() }
    }

    /// `$XDG_CACHE_HOME/customs/bundles` (or the platform's cache directory).
    pub fn default_location() -> Option<Cache> {
        crate::default_cache_dir().map(Cache::new)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn entry_dir(&self, digest: &str) -> Result<PathBuf, Error> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| Error::Cache {
                path: self.root.display().to_string(),
                reason: format!("{digest:?} is not a sha256 digest"),
            })?;
        Ok(self.root.join("sha256").join(hex))
    }

    fn tag_file(&self, target: &Reference) -> Option<PathBuf> {
        let tag = target.tag()?;
        Some(
            self.root
                .join("tags")
                .join(target.resolve_registry().replace(':', "_"))
                .join(target.repository())
                .join(tag),
        )
    }

    pub(crate) fn lookup_tag(&self, target: &Reference) -> Option<String> {
        let text = std::fs::read_to_string(self.tag_file(target)?).ok()?;
        let digest = text.trim().to_owned();
        self.entry_dir(&digest).ok().map(|_| digest)
    }

    fn remember_tag(&self, target: &Reference, digest: &str) -> Result<(), Error> {
        match self.tag_file(target) {
            Some(file) => self.write(&file, digest.as_bytes()),
            None => Ok(()),
        }
    }

    /// Records a bundle (and, for a tag reference, what the tag resolved to).
    pub(crate) fn store(
        &self,
        target: &Reference,
        digest: &str,
        manifest: &[u8],
        archive: &[u8],
    ) -> Result<(), Error> {
        let dir = self.entry_dir(digest)?;
        // The archive first: an entry is only complete once its manifest exists.
        self.write(&dir.join("bundle.tar.gz"), archive)?;
        self.write(&dir.join("manifest.json"), manifest)?;
        if target.digest().is_none() {
            self.remember_tag(target, digest)?;
        }
        Ok(())
    }

    /// The cached archive of `digest`, if present and intact.
    pub(crate) fn load(&self, digest: &str) -> Result<Option<Vec<u8>>, Error> {
        let dir = self.entry_dir(digest)?;
        let Ok(manifest) = std::fs::read(dir.join("manifest.json")) else {
            return Ok(None);
        };
        let Ok(archive) = std::fs::read(dir.join("bundle.tar.gz")) else {
            return Ok(None);
        };
        if sha256_digest(&manifest) != digest {
            tracing::warn!(dir = %dir.display(), "cached manifest does not match its digest; fetching again");
            return Ok(None);
        }
        let layer = crate::bundle_layer(digest, &manifest, &customs::ArchiveLimits::default())?;
        if sha256_digest(&archive) != layer.digest {
            tracing::warn!(dir = %dir.display(), "cached bundle does not match its digest; fetching again");
            return Ok(None);
        }
        Ok(Some(archive))
    }

    pub(crate) fn store_signatures(
        &self,
        digest: &str,
        signatures: &Signatures,
    ) -> Result<(), Error> {
        let path = self.entry_dir(digest)?.join("signatures.json");
        let bytes = serde_json::to_vec(signatures).map_err(|e| Error::Cache {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        self.write(&path, &bytes)
    }

    pub(crate) fn load_signatures(&self, digest: &str) -> Result<Option<Signatures>, Error> {
        let path = self.entry_dir(digest)?.join("signatures.json");
        let Ok(bytes) = std::fs::read(&path) else {
            return Ok(None);
        };
        // A damaged file is as good as none: the registry is asked again.
        Ok(serde_json::from_slice(&bytes).ok())
    }

    /// Writes a file whole or not at all (temporary file, then rename).
    fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), Error> {
        let error = |reason: String| Error::Cache {
            path: path.display().to_string(),
            reason,
        };
        let dir = path
            .parent()
            .ok_or_else(|| error("no parent directory".to_owned()))?;
        std::fs::create_dir_all(dir).map_err(|e| error(e.to_string()))?;
        let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| error(e.to_string()))?;
        std::io::Write::write_all(&mut file, bytes).map_err(|e| error(e.to_string()))?;
        file.persist(path).map_err(|e| error(e.to_string()))?;
        Ok(())
    }
}
