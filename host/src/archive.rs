//! The single-file form of a bundle: a gzip-compressed tar of the manifest and
//! the files it lists. Built reproducibly (sorted, zeroed times and owners), so
//! the same files always give the same bytes and the same digest.
//!
//! Reading never touches the disk: entries are unpacked into memory, so a
//! hostile path cannot write anywhere; such paths, links and special files are
//! refused anyway, and the sizes and counts are bounded (archive bombs).

use std::collections::BTreeMap;
use std::io::{Read, Write};

use crate::error::Error;
use crate::manifest::{BundleFiles, MANIFEST_FILE, check_relative_path};

/// Media type of the archive, also used for its OCI layer.
pub const MEDIA_TYPE: &str = "application/vnd.customs.bundle.v1.tar+gzip";

/// Largest file inside a bundle.
pub(crate) const MAX_ENTRY_BYTES: u64 = 32 << 20;

/// Bounds on reading an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArchiveLimits {
    /// Largest compressed archive.
    pub max_archive_bytes: u64,
    /// Largest total of the unpacked files.
    pub max_unpacked_bytes: u64,
    /// Most entries (files and directories).
    pub max_entries: usize,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_archive_bytes: 64 << 20,
            max_unpacked_bytes: 128 << 20,
            max_entries: 1_000,
        }
    }
}

impl ArchiveLimits {
    pub fn with_max_archive_bytes(mut self, bytes: u64) -> Self {
        self.max_archive_bytes = bytes;
        self
    }

    pub fn with_max_unpacked_bytes(mut self, bytes: u64) -> Self {
        self.max_unpacked_bytes = bytes;
        self
    }

    pub fn with_max_entries(mut self, entries: usize) -> Self {
        self.max_entries = entries;
        self
    }
}

impl BundleFiles {
    /// The archive of these files: what `customs bundle build` writes.
    pub fn to_archive(&self) -> Result<Vec<u8>, Error> {
        let error = |e: std::io::Error| Error::Archive {
            origin: self.origin().to_owned(),
            reason: format!("cannot write the archive: {e}"),
        };
        let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let mut builder = tar::Builder::new(encoder);
        builder.mode(tar::HeaderMode::Deterministic);
        // The manifest first, so a reader sees what to expect before the rest.
        let ordered = self
            .files()
            .get_key_value(MANIFEST_FILE)
            .into_iter()
            .chain(self.files().iter().filter(|(p, _)| *p != MANIFEST_FILE));
        for (path, bytes) in ordered {
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            builder
                .append_data(&mut header, path, bytes.as_slice())
                .map_err(error)?;
        }
        let encoder = builder.into_inner().map_err(error)?;
        let mut bytes = encoder.finish().map_err(error)?;
        bytes.flush().map_err(error)?;
        Ok(bytes)
    }

    /// Unpacks an archive into memory, within `limits`. Only regular files
    /// (and directories, ignored) with safe relative paths are accepted.
    pub fn read_archive(
        origin: &str,
        bytes: &[u8],
        limits: &ArchiveLimits,
    ) -> Result<BundleFiles, Error> {
        let error = |reason: String| Error::Archive {
            origin: origin.to_owned(),
            reason,
        };
        if bytes.len() as u64 > limits.max_archive_bytes {
            return Err(error(format!(
                "the archive is {} bytes, more than the limit of {}",
                bytes.len(),
                limits.max_archive_bytes
            )));
        }
        if !bytes.starts_with(&[0x1f, 0x8b]) {
            return Err(error(
                "not a bundle archive (expected a gzip-compressed tar, as `customs bundle build` writes)"
                    .to_owned(),
            ));
        }
        // The decoder is bounded too, so a bomb stops at the limit instead of
        // filling memory before the per-entry checks see it.
        let decoder = flate2::read::GzDecoder::new(bytes).take(limits.max_unpacked_bytes + 1);
        let mut archive = tar::Archive::new(decoder);
        let entries = archive
            .entries()
            .map_err(|e| error(format!("cannot read the archive: {e}")))?;
        let mut files = BTreeMap::new();
        let mut unpacked: u64 = 0;
        for (index, entry) in entries.enumerate() {
            if index >= limits.max_entries {
                return Err(error(format!(
                    "the archive has more than {} entries",
                    limits.max_entries
                )));
            }
            let mut entry = entry.map_err(|e| error(format!("entry {index}: {e}")))?;
            let path = entry
                .path()
                .map_err(|e| error(format!("entry {index}: bad path: {e}")))?
                .to_str()
                .ok_or_else(|| error(format!("entry {index}: the path is not UTF-8")))?
                .trim_end_matches('/')
                .to_owned();
            let kind = entry.header().entry_type();
            if kind.is_dir() {
                check_relative_path(&path)
                    .map_err(|reason| error(format!("{path:?}: {reason}")))?;
                continue;
            }
            if !kind.is_file() {
                return Err(error(format!(
                    "{path:?} is a {}; a bundle holds regular files only",
                    describe_entry_type(kind)
                )));
            }
            check_relative_path(&path).map_err(|reason| error(format!("{path:?}: {reason}")))?;
            // The size the reader will read: a PAX `size` record overrides
            // the header's, so the header alone would let a larger file by.
            let size = entry.size();
            if size > MAX_ENTRY_BYTES {
                return Err(error(format!(
                    "{path} is {size} bytes, more than the limit of {MAX_ENTRY_BYTES}"
                )));
            }
            unpacked = unpacked.saturating_add(size);
            if unpacked > limits.max_unpacked_bytes {
                return Err(error(format!(
                    "the unpacked files exceed the limit of {} bytes",
                    limits.max_unpacked_bytes
                )));
            }
            let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            (&mut entry)
                .take(MAX_ENTRY_BYTES + 1)
                .read_to_end(&mut data)
                .map_err(|e| error(format!("{path}: {e}")))?;
            if data.len() as u64 > MAX_ENTRY_BYTES {
                return Err(error(format!(
                    "{path} is more than the limit of {MAX_ENTRY_BYTES} bytes"
                )));
            }
            if files.insert(path.clone(), data).is_some() {
                return Err(error(format!("{path} appears twice")));
            }
        }
        if !files.contains_key(MANIFEST_FILE) {
            return Err(error(format!("the archive holds no {MANIFEST_FILE}")));
        }
        Ok(BundleFiles::new(origin.to_owned(), files))
    }
}

fn describe_entry_type(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Symlink => "symbolic link",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char | tar::EntryType::Block => "device",
        tar::EntryType::Fifo => "FIFO",
        _ => "special entry",
    }
}
