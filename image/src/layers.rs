//! Layers, streamed: each layer's tar (plain, gzip or zstd, told apart by
//! its first bytes) is read once, its digest checked as it streams, and
//! applied over the layers before it (whiteouts and opaque directories as
//! the OCI image spec says), keeping only metadata, the first bytes of
//! executable files and the package databases.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};

use sha2::{Digest, Sha256};

use crate::{ImageError, ImageLimits};

/// rpm's sqlite database, where rpm 4.16+ keeps it, and where distributions
/// that kept the old path (RHEL 9, Amazon Linux 2023) keep it.
pub(crate) const RPM_SQLITE: &str = "usr/lib/sysimage/rpm/rpmdb.sqlite";
pub(crate) const RPM_SQLITE_LEGACY: &str = "var/lib/rpm/rpmdb.sqlite";

/// Files whose contents are kept: package databases and the OS release.
pub(crate) fn is_kept_file(path: &str) -> bool {
    matches!(
        path,
        "lib/apk/db/installed"
            | "var/lib/dpkg/status"
            | "etc/os-release"
            | "usr/lib/os-release"
            | RPM_SQLITE
            | RPM_SQLITE_LEGACY
    ) || path
        .strip_prefix("var/lib/dpkg/status.d/")
        .is_some_and(|name| !name.is_empty() && !name.contains('/') && !name.ends_with(".md5sums"))
}

/// What a file starts with, for the files that have an execute bit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Head {
    Elf,
    Script { interpreter: String },
    Other,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    File {
        size: u64,
        head: Option<Head>,
    },
    Dir,
    Symlink(String),
    /// A hard link to this (normalized) path.
    Hardlink(String),
    Other,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) kind: Kind,
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    /// Index of the layer it comes from.
    pub(crate) layer: usize,
}

/// The filesystem as the layers so far leave it.
#[derive(Default)]
pub(crate) struct Filesystem {
    pub(crate) entries: BTreeMap<String, Entry>,
    /// Contents of the kept files (see [`is_kept_file`]).
    pub(crate) kept: BTreeMap<String, Vec<u8>>,
    /// Entries read across all layers, and their bytes, against the limits.
    entries_read: u64,
    bytes_read: u64,
    /// Bytes of kept files read, against `max_kept_bytes`.
    kept_read: u64,
}

/// One layer's changes, applied once the layer has been read whole.
#[derive(Default)]
struct LayerChanges {
    /// In stream order, each with its contents when it is a kept file: the
    /// last entry for a path is what a runtime leaves there.
    entries: Vec<(String, Entry, Option<Vec<u8>>)>,
    /// `.wh.NAME`: this path (and what is under it) is deleted.
    whiteouts: Vec<String>,
    /// `.wh..wh..opq`: what lower layers put in this directory is deleted.
    opaque: Vec<String>,
}

/// Counts the compressed bytes and hashes them as they are read.
/// A layer's digests: of its bytes as stored, and uncompressed (the diff_id).
pub(crate) struct LayerDigests {
    pub(crate) digest: String,
    pub(crate) diff_id: String,
}

struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Stops a decompressed stream past the limit (a decompression bomb).
struct Bounded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(std::io::Error::other(BOMB));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

const BOMB: &str = "the layers decompress to more than the limit";

impl Filesystem {
    /// Reads one layer over the state so far. `name` (its digest, or its
    /// path in a legacy archive) names it in messages; its bytes must hash
    /// to `expected` when given. Returns the digest they hash to.
    pub(crate) fn apply_layer(
        &mut self,
        image: &str,
        name: &str,
        expected: Option<&str>,
        index: usize,
        blob: impl Read,
        limits: &ImageLimits,
    ) -> Result<LayerDigests, ImageError> {
        let layer_error = |entry: Option<&str>, message: String| ImageError::Layer {
            image: image.to_owned(),
            layer: name.to_owned(),
            entry: entry.map(str::to_owned),
            message,
        };
        let mut hashing = BufReader::new(Hashing {
            inner: blob,
            hasher: Sha256::new(),
            bytes: 0,
        });
        let magic = hashing
            .fill_buf()
            .map_err(|e| layer_error(None, format!("cannot read it: {e}")))?;
        let is_zstd = magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
        let decompressed: Box<dyn Read + '_> = if magic.starts_with(&[0x1f, 0x8b]) {
            // Every member: a container runtime extracts them all.
            Box::new(flate2::read::MultiGzDecoder::new(&mut hashing))
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Box::new(
                ruzstd::decoding::StreamingDecoder::new(&mut hashing)
                    .map_err(|e| layer_error(None, format!("not a zstd stream: {e}")))?,
            )
        } else if magic.len() >= 262 && &magic[257..262] == b"ustar" || magic.is_empty() {
            Box::new(&mut hashing)
        } else {
            return Err(layer_error(
                None,
                "not a tar stream, nor gzip- or zstd-compressed tar".to_owned(),
            ));
        };
        // The uncompressed stream's digest is the layer's diff_id in the config.
        let mut bounded = Bounded {
            inner: Hashing {
                inner: decompressed,
                hasher: Sha256::new(),
                bytes: 0,
            },
            left: limits
                .max_uncompressed_bytes
                .saturating_sub(self.bytes_read),
        };
        let changes = self.read_changes(&mut bounded, index, limits, &layer_error)?;
        // After the tar's end only zero padding may follow: anything else is
        // content a runtime might extract that was not read here.
        let mut rest = [0u8; 8192];
        loop {
            let n = bounded
                .read(&mut rest)
                .map_err(|e| layer_error(None, format!("cannot read it: {e}")))?;
            if n == 0 {
                break;
            }
            if rest[..n].iter().any(|&b| b != 0) {
                return Err(layer_error(
                    None,
                    "data follows the tar's end (a second tar, or a truncated one): refused rather than read in part".to_owned(),
                ));
            }
        }
        let uncompressed = bounded.inner.hasher.clone();
        drop(bounded);
        let diff_id = format!("sha256:{}", hex::encode(uncompressed.finalize()));
        // A zstd layer is read as one frame: more frames would go unread.
        let trailing = std::io::copy(&mut hashing, &mut std::io::sink())
            .map_err(|e| layer_error(None, format!("cannot read it: {e}")))?;
        if is_zstd && trailing > 0 {
            return Err(layer_error(
                None,
                format!(
                    "{trailing} bytes after the first zstd frame (several frames are not read): refused"
                ),
            ));
        }
        let actual = hashing.into_inner().hasher.finalize();
        if let Some(expected) = expected {
            crate::blobs::check_digest(image, expected, &actual)?;
        }
        self.apply(changes);
        Ok(LayerDigests {
            digest: format!("sha256:{}", hex::encode(actual)),
            diff_id,
        })
    }

    fn read_changes(
        &mut self,
        stream: impl Read,
        index: usize,
        limits: &ImageLimits,
        layer_error: &dyn Fn(Option<&str>, String) -> ImageError,
    ) -> Result<LayerChanges, ImageError> {
        let io_error = |entry: Option<&str>, e: std::io::Error| {
            if e.to_string().contains(BOMB) {
                layer_error(
                    entry,
                    format!("{BOMB} ({} bytes)", limits.max_uncompressed_bytes),
                )
            } else {
                layer_error(entry, format!("not a readable tar stream: {e}"))
            }
        };
        let mut changes = LayerChanges::default();
        let mut archive = tar::Archive::new(stream);
        for entry in archive.entries().map_err(|e| io_error(None, e))? {
            let mut entry = entry.map_err(|e| io_error(None, e))?;
            self.entries_read += 1;
            if self.entries_read > limits.max_entries {
                return Err(layer_error(
                    None,
                    format!(
                        "the layers hold more than {} entries (a limit)",
                        limits.max_entries
                    ),
                ));
            }
            // Two names that differ only in invalid bytes would be one here.
            let raw = String::from_utf8(entry.path_bytes().into_owned()).map_err(|e| {
                layer_error(
                    Some(&String::from_utf8_lossy(e.as_bytes())),
                    "the path is not UTF-8".to_owned(),
                )
            })?;
            let path = normalize(&raw).map_err(|m| layer_error(Some(&raw), m))?;
            let header = entry.header();
            let size = entry.size();
            self.bytes_read = self.bytes_read.saturating_add(size);
            if self.bytes_read > limits.max_uncompressed_bytes {
                return Err(layer_error(
                    Some(&raw),
                    format!("{BOMB} ({} bytes)", limits.max_uncompressed_bytes),
                ));
            }
            let Some(path) = path else { continue };
            let (dir, name) = match path.rsplit_once('/') {
                Some((dir, name)) => (dir, name),
                None => ("", path.as_str()),
            };
            if name == ".wh..wh..opq" {
                changes.opaque.push(dir.to_owned());
                continue;
            }
            if let Some(deleted) = name.strip_prefix(".wh.") {
                if deleted.is_empty() || deleted == "." || deleted == ".." {
                    return Err(layer_error(
                        Some(&raw),
                        "a whiteout that names no file".to_owned(),
                    ));
                }
                changes.whiteouts.push(join(dir, deleted));
                continue;
            }
            let mode = header.mode().map_err(|e| io_error(Some(&raw), e))?;
            let uid = header.uid().map_err(|e| io_error(Some(&raw), e))?;
            let gid = header.gid().map_err(|e| io_error(Some(&raw), e))?;
            let entry_type = header.entry_type();
            // Go's tar (containerd, Docker) reads no data after these headers
            // and would take such "data" for more entries; sparse files are
            // named and sized in ways this reader does not follow.
            if ((entry_type.is_dir() || entry_type.is_symlink() || entry_type.is_hard_link())
                && size != 0)
                || entry_type.is_gnu_sparse()
            {
                return Err(layer_error(
                    Some(&raw),
                    "a directory, link or sparse entry with data: read differently by container runtimes, refused".to_owned(),
                ));
            }
            let link = || {
                entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default()
            };
            let mut kept = None;
            let kind = if entry_type.is_dir() {
                Kind::Dir
            } else if entry_type.is_symlink() {
                Kind::Symlink(link())
            } else if entry_type.is_hard_link() {
                let target = link();
                match normalize(&target).map_err(|m| layer_error(Some(&raw), m))? {
                    Some(target) => Kind::Hardlink(target),
                    None => Kind::Other,
                }
            } else if entry_type.is_file() || entry_type == tar::EntryType::Continuous {
                let head = if is_kept_file(&path) {
                    if size > limits.max_database_bytes {
                        return Err(layer_error(
                            Some(&raw),
                            format!(
                                "{size} bytes, more than the {} a package database may have (a limit)",
                                limits.max_database_bytes
                            ),
                        ));
                    }
                    self.kept_read = self.kept_read.saturating_add(size);
                    if self.kept_read > limits.max_kept_bytes {
                        return Err(layer_error(
                            Some(&raw),
                            format!(
                                "the package databases read add up to more than {} bytes (a limit)",
                                limits.max_kept_bytes
                            ),
                        ));
                    }
                    let mut bytes = Vec::with_capacity(size as usize);
                    entry
                        .read_to_end(&mut bytes)
                        .map_err(|e| io_error(Some(&raw), e))?;
                    let head = (mode & 0o111 != 0).then(|| sniff(&bytes));
                    kept = Some(bytes);
                    head
                } else if mode & 0o111 != 0 {
                    let mut first = Vec::with_capacity(256);
                    (&mut entry)
                        .take(256)
                        .read_to_end(&mut first)
                        .map_err(|e| io_error(Some(&raw), e))?;
                    Some(sniff(&first))
                } else {
                    None
                };
                Kind::File { size, head }
            } else {
                Kind::Other
            };
            changes.entries.push((
                path,
                Entry {
                    kind,
                    mode,
                    uid,
                    gid,
                    layer: index,
                },
                kept,
            ));
        }
        Ok(changes)
    }

    fn apply(&mut self, changes: LayerChanges) {
        for dir in &changes.opaque {
            remove_under(&mut self.entries, dir, false);
            remove_under(&mut self.kept, dir, false);
        }
        for path in &changes.whiteouts {
            remove_under(&mut self.entries, path, true);
            remove_under(&mut self.kept, path, true);
        }
        for (path, entry, kept) in changes.entries {
            // A directory replaced by anything else takes what was under
            // it along, as a runtime's unpacking removes it; also one that
            // only existed implied by the paths under it.
            if !matches!(entry.kind, Kind::Dir) {
                remove_under(&mut self.entries, &path, false);
                remove_under(&mut self.kept, &path, false);
            }
            match kept {
                Some(bytes) => self.kept.insert(path.clone(), bytes),
                None => self.kept.remove(&path),
            };
            self.entries.insert(path, entry);
        }
    }
}

/// Removes what is under `dir` (and `dir` itself when `itself`).
fn remove_under<V>(map: &mut BTreeMap<String, V>, dir: &str, itself: bool) {
    if itself {
        map.remove(dir);
    }
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let doomed: Vec<String> = map
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for key in doomed {
        map.remove(&key);
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// `./usr/bin/x`, `/usr/bin/x/` → `usr/bin/x`; the root itself → `None`; a
/// `..` component is refused (it would write outside the image's root).
fn normalize(raw: &str) -> Result<Option<String>, String> {
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("the path has a \"..\" component".to_owned()),
            part => parts.push(part),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// ELF, a `#!` script (with its interpreter), or neither.
fn sniff(first: &[u8]) -> Head {
    if first.starts_with(b"\x7fELF") {
        return Head::Elf;
    }
    if let Some(rest) = first.strip_prefix(b"#!") {
        let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        return Head::Script {
            interpreter: line.trim().to_owned(),
        };
    }
    Head::Other
}

/// Resolves a path through symbolic and hard links to a regular file, or
/// `None` when it leads nowhere (dangling, a directory); a loop is an error.
pub(crate) fn resolve<'a>(
    entries: &'a BTreeMap<String, Entry>,
    path: &str,
) -> Result<Option<(String, &'a Entry)>, String> {
    let mut current = path.to_owned();
    let mut seen = BTreeSet::new();
    for _ in 0..64 {
        if !seen.insert(current.clone()) {
            return Err(format!("the link {path:?} loops through {current:?}"));
        }
        let Some(entry) = entries.get(&current) else {
            return Ok(None);
        };
        current = match &entry.kind {
            Kind::File { .. } => return Ok(Some((current, entry))),
            Kind::Hardlink(target) => target.clone(),
            Kind::Symlink(target) => {
                let dir = current.rsplit_once('/').map_or("", |(d, _)| d);
                let joined = if target.starts_with('/') {
                    target.clone()
                } else {
                    join(dir, target)
                };
                match resolve_dots(&joined) {
                    Some(p) => p,
                    None => return Ok(None),
                }
            }
            Kind::Dir | Kind::Other => return Ok(None),
        };
    }
    Err(format!("the link {path:?} goes through more than 64 links"))
}

/// A link target with `.` and `..` resolved within the root.
fn resolve_dots(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn paths_normalize_and_dot_dot_is_refused() {
        assert_eq!(normalize("./usr/bin/x").unwrap().unwrap(), "usr/bin/x");
        assert_eq!(normalize("/etc/").unwrap().unwrap(), "etc");
        assert_eq!(normalize("./").unwrap(), None);
        assert!(normalize("usr/../../etc/passwd").is_err());
    }

    #[test]
    fn scripts_name_their_interpreter() {
        assert_eq!(
            sniff(b"#!/bin/sh -e\necho"),
            Head::Script {
                interpreter: "/bin/sh -e".into()
            }
        );
        assert_eq!(sniff(b"\x7fELF\x02"), Head::Elf);
        assert_eq!(sniff(b"hello"), Head::Other);
    }
}
