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
    /// A hard link to this (normalized) path, as read from a layer; applied,
    /// it becomes a copy of what that path held (see [`Filesystem::apply`]).
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
    /// The file it is, shared by its hard links (0: not a regular file).
    pub(crate) inode: u64,
}

/// What hard links share: the mode and owner of one file.
#[derive(Debug, Clone, Copy)]
struct FileMeta {
    mode: u32,
    uid: u64,
    gid: u64,
}

/// The filesystem as the layers so far leave it.
#[derive(Default)]
pub(crate) struct Filesystem {
    pub(crate) entries: BTreeMap<String, Entry>,
    /// Contents of the kept files (see [`is_kept_file`]).
    pub(crate) kept: BTreeMap<String, Vec<u8>>,
    /// The paths of `entries` that are symbolic links: most paths have no
    /// link among their directories, which this tells cheaply.
    symlinks: BTreeSet<String>,
    /// The caller's stop flag ([`crate::ReadOptions::cancel`]).
    pub(crate) cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Each regular file's mode and owner, by inode: a hard link changes
    /// them for every name of the file.
    inodes: BTreeMap<u64, FileMeta>,
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

/// Stops a decompressed stream past the limit (a decompression bomb), and
/// past the end of the [`HeaderWindow`] while the tar reader looks for the
/// next entry.
struct Bounded<'w, R> {
    inner: R,
    left: u64,
    window: &'w HeaderWindow,
    /// The caller's stop flag, seen at every read (an entry can be large).
    stop: Option<&'w std::sync::atomic::AtomicBool>,
}

impl<R: Read> Read for Bounded<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self
            .stop
            .is_some_and(|stop| stop.load(std::sync::atomic::Ordering::Relaxed))
        {
            return Err(std::io::Error::other(STOPPED));
        }
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(std::io::Error::other(BOMB));
        }
        self.left -= n as u64;
        let position = self.window.position.get() + n as u64;
        self.window.position.set(position);
        if self.window.end.get().is_some_and(|end| position > end) {
            return Err(std::io::Error::other(HEADERS_TOO_LARGE));
        }
        Ok(n)
    }
}

/// The tar reader reads a PAX or GNU long-name header's contents whole into
/// memory before it yields the entry they describe; only the size in the
/// header bounds them. While it looks for the next entry, the stream may go
/// no further than the previous entry's data plus [`MAX_HEADER_BYTES`].
#[derive(Default)]
struct HeaderWindow {
    /// Bytes of the uncompressed tar read so far.
    position: std::cell::Cell<u64>,
    /// How far the stream may go, while an entry's headers are read.
    end: std::cell::Cell<Option<u64>>,
}

/// Headers of one entry, extensions included: a path of 4,096 bytes and a
/// few PAX records fit many times over.
const MAX_HEADER_BYTES: u64 = 1 << 20;

const BOMB: &str = "the layers decompress to more than the limit";
const STOPPED: &str = "the read was stopped (its deadline passed)";
const HEADERS_TOO_LARGE: &str =
    "an entry's headers (PAX or GNU long-name extensions) are larger than 1 MiB";

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
        let window = HeaderWindow::default();
        let stop = self.cancel.clone();
        let mut bounded = Bounded {
            inner: Hashing {
                inner: decompressed,
                hasher: Sha256::new(),
                bytes: 0,
            },
            left: limits
                .max_uncompressed_bytes
                .saturating_sub(self.bytes_read),
            window: &window,
            stop: stop.as_deref(),
        };
        let changes = self.read_changes(&mut bounded, &window, index, limits, &layer_error)?;
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
        self.apply(changes, index)
            .map_err(|(entry, message)| layer_error(Some(&format!("/{entry}")), message))?;
        Ok(LayerDigests {
            digest: format!("sha256:{}", hex::encode(actual)),
            diff_id,
        })
    }

    fn read_changes(
        &mut self,
        stream: impl Read,
        window: &HeaderWindow,
        index: usize,
        limits: &ImageLimits,
        layer_error: &dyn Fn(Option<&str>, String) -> ImageError,
    ) -> Result<LayerChanges, ImageError> {
        let io_error = |entry: Option<&str>, e: std::io::Error| {
            let text = e.to_string();
            if text.contains(STOPPED) {
                layer_error(entry, STOPPED.to_owned())
            } else if text.contains(HEADERS_TOO_LARGE) {
                layer_error(entry, format!("{HEADERS_TOO_LARGE}: refused"))
            } else if text.contains(BOMB) {
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
        let mut entries = archive.entries().map_err(|e| io_error(None, e))?;
        // Where the previous entry's data ends (padded to 512-byte blocks).
        let mut data_end = 0u64;
        loop {
            window
                .end
                .set(Some(data_end.saturating_add(MAX_HEADER_BYTES)));
            let next = entries.next();
            window.end.set(None);
            let Some(entry) = next else { break };
            let mut entry = entry.map_err(|e| io_error(None, e))?;
            data_end = entry
                .raw_file_position()
                .saturating_add(entry.size().div_ceil(512).saturating_mul(512));
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
            // No runtime can create a longer path, and resolving links
            // costs in their length.
            if raw.len() > MAX_PATH_BYTES {
                return Err(layer_error(
                    Some(&format!("{}...", raw.chars().take(64).collect::<String>())),
                    format!("a path of {} bytes, more than {MAX_PATH_BYTES}", raw.len()),
                ));
            }
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
            let link_name = entry
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            if link_name.len() > MAX_PATH_BYTES {
                return Err(layer_error(
                    Some(&raw),
                    format!(
                        "a link target of {} bytes, more than {MAX_PATH_BYTES}",
                        link_name.len()
                    ),
                ));
            }
            let mut kept = None;
            // Where a link would take it is settled when the layer is
            // applied, which refuses a database written where it was not read.
            let is_kept = is_kept_file(&path);
            let kind = if entry_type.is_dir() {
                Kind::Dir
            } else if entry_type.is_symlink() {
                Kind::Symlink(link_name)
            } else if entry_type.is_hard_link() {
                match normalize(&link_name).map_err(|m| layer_error(Some(&raw), m))? {
                    Some(target) => Kind::Hardlink(target),
                    None => Kind::Other,
                }
            } else if entry_type.is_file() || entry_type == tar::EntryType::Continuous {
                let head = if is_kept {
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
                    let head = sniff(&bytes);
                    kept = Some(bytes);
                    Some(head)
                } else {
                    // Every file, whatever its mode: a later hard link can
                    // give it execute bits (the tar reader reads the data
                    // to skip it anyway).
                    let mut first = Vec::with_capacity(256);
                    (&mut entry)
                        .take(256)
                        .read_to_end(&mut first)
                        .map_err(|e| io_error(Some(&raw), e))?;
                    Some(sniff(&first))
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
                    inode: 0,
                },
                kept,
            ));
        }
        Ok(changes)
    }

    /// Applies one layer's changes as a runtime extracts them.
    ///
    /// A path is resolved through the links this layer itself created (as
    /// every runtime does), but never through a link a lower layer left:
    /// there runtimes disagree (overlayfs, their default, extracts each
    /// layer into a directory of its own, where the link is not, so
    /// `bin/sh` stays `/bin/sh`; a native snapshotter follows it into
    /// `/usr/bin/sh`), and either reading could hide a file the other keeps.
    /// Such a layer is refused. A hard link becomes a copy of the file it
    /// links to, which later layers deleting or replacing that name leave
    /// alone. A package database written where its bytes were not read
    /// (through a link, as a hard link to another file) is refused rather
    /// than left unread. Errors name the entry and why.
    fn apply(&mut self, changes: LayerChanges, layer: usize) -> Result<(), (String, String)> {
        let resolve = |fs: &Filesystem, path: &str, follow_last: bool| {
            fs.real_path_in_layer(path, follow_last, layer)
                .map_err(|why| (path.to_owned(), why))
        };
        // Links of lower layers this layer deletes: its whiteouts apply
        // first here, but a runtime extracting in stream order could write
        // through such a link before deleting it.
        let mut deleted_links: BTreeSet<String> = BTreeSet::new();
        for dir in &changes.opaque {
            let dir = resolve(self, dir, true)?;
            deleted_links.extend(self.links_under(&dir, false));
            self.remove_under(&dir, false);
        }
        for path in &changes.whiteouts {
            let path = resolve(self, path, false)?;
            deleted_links.extend(self.links_under(&path, true));
            self.remove_under(&path, true);
        }
        let mut made_here: BTreeSet<String> = BTreeSet::new();
        for (raw, mut entry, mut kept) in changes.entries {
            // Reading checks the flag at every read of the stream; applying
            // reads none, so it checks between entries.
            if self
                .cancel
                .as_deref()
                .is_some_and(|stop| stop.load(std::sync::atomic::Ordering::Relaxed))
            {
                return Err((raw, STOPPED.to_owned()));
            }
            let path = resolve(self, &raw, false)?;
            let crossed = path
                .match_indices('/')
                .map(|(i, _)| &path[..i])
                .find(|dir| deleted_links.contains(*dir) && !made_here.contains(*dir));
            if let Some(link) = crossed {
                return Err((
                    raw,
                    format!(
                        "it goes through /{link}, a link a lower layer left and this layer deletes, where runtimes disagree: refused"
                    ),
                ));
            }
            if !deleted_links.is_empty() {
                made_here.insert(path.clone());
            }
            if let Kind::Hardlink(target) = &entry.kind {
                let target = self
                    .real_path_in_layer(target, false, layer)
                    .map_err(|why| (raw.clone(), format!("its target /{target}: {why}")))?;
                let linked = match self.entries.get(&target) {
                    Some(linked) if !matches!(linked.kind, Kind::Dir) => linked,
                    found => {
                        let why = if found.is_some() {
                            "a directory"
                        } else {
                            "nothing in this or an earlier layer"
                        };
                        return Err((
                            raw,
                            format!(
                                "a hard link to /{target}, which is {why}: a runtime cannot extract it"
                            ),
                        ));
                    }
                };
                // One file under two names (every name is the file: none
                // is "the target"). Runtimes set the link header's owner
                // and mode on it (how containerd finds the file for the
                // mode has varied): the bits either may leave are kept, for
                // every name of the file.
                let kind = linked.kind.clone();
                let inode = linked.inode;
                let mode = linked.mode | (entry.mode & 0o7777);
                if let Some(meta) = self.inodes.get_mut(&inode) {
                    meta.mode |= entry.mode & 0o7777;
                    meta.uid = entry.uid;
                    meta.gid = entry.gid;
                }
                entry = Entry {
                    kind,
                    mode,
                    inode,
                    ..entry
                };
                // Its contents are not copied (each copy would be memory no
                // limit counted): a hard link at a package database's path
                // is refused just below.
                kept = None;
            }
            // A regular file of its own (not a hard link): a new inode.
            if matches!(entry.kind, Kind::File { .. }) && entry.inode == 0 {
                entry.inode = self.inodes.len() as u64 + 1;
                self.inodes.insert(
                    entry.inode,
                    FileMeta {
                        mode: entry.mode,
                        uid: entry.uid,
                        gid: entry.gid,
                    },
                );
            }
            if matches!(entry.kind, Kind::File { .. }) && kept.is_none() && is_kept_file(&path) {
                return Err((
                    raw,
                    format!(
                        "the package database /{path} is written where its contents were not read (through a link, or as a link to another file): refused rather than left unread"
                    ),
                ));
            }
            // A directory replaced by anything else takes what was under
            // it along, as a runtime's unpacking removes it; also one that
            // only existed implied by the paths under it.
            if !matches!(entry.kind, Kind::Dir) {
                self.remove_under(&path, false);
            }
            match kept {
                Some(bytes) => self.kept.insert(path.clone(), bytes),
                None => self.kept.remove(&path),
            };
            if matches!(entry.kind, Kind::Symlink(_)) {
                self.symlinks.insert(path.clone());
            } else {
                self.symlinks.remove(&path);
            }
            self.entries.insert(path, entry);
        }
        Ok(())
    }

    /// Gives every name of a file the mode and owner its hard links left it
    /// with; called once, after the last layer.
    pub(crate) fn settle_hard_links(&mut self) {
        for entry in self.entries.values_mut() {
            if let Some(meta) = self.inodes.get(&entry.inode) {
                entry.mode = meta.mode;
                entry.uid = meta.uid;
                entry.gid = meta.gid;
            }
        }
    }

    /// The links at `dir` (when `itself`) and under it.
    fn links_under(&self, dir: &str, itself: bool) -> Vec<String> {
        let mut found: Vec<String> = Vec::new();
        if itself && self.symlinks.contains(dir) {
            found.push(dir.to_owned());
        }
        let prefix = dir_prefix(dir);
        found.extend(
            self.symlinks
                .keys_from(&prefix)
                .take_while(|link| link.starts_with(&prefix))
                .cloned(),
        );
        found
    }

    /// Removes what is under `dir` (and `dir` itself when `itself`).
    fn remove_under(&mut self, dir: &str, itself: bool) {
        remove_under(&mut self.entries, dir, itself);
        remove_under(&mut self.kept, dir, itself);
        remove_under(&mut self.symlinks, dir, itself);
    }

    /// Whether a path may go through a symbolic link: most have none among
    /// their directories, which this tells without resolving.
    fn may_cross_link(&self, path: &str, follow_last: bool) -> bool {
        let through_link = |end: usize| self.symlinks.contains(&path[..end]);
        path.match_indices('/').any(|(i, _)| through_link(i))
            || (follow_last && through_link(path.len()))
    }

    /// `path` as the final filesystem resolves it, through its symbolic
    /// links (the last component too when `follow_last`); a path whose
    /// links loop or chain too far is left as written (it leads nowhere).
    pub(crate) fn real_path(&self, path: &str, follow_last: bool) -> String {
        if !self.may_cross_link(path, follow_last) {
            return path.to_owned();
        }
        resolve_links(&self.entries, path, follow_last, None).unwrap_or_else(|_| path.to_owned())
    }

    /// `path` of an entry of layer `layer`, resolved as [`Filesystem::apply`]
    /// says; the error says why it cannot be.
    fn real_path_in_layer(
        &self,
        path: &str,
        follow_last: bool,
        layer: usize,
    ) -> Result<String, String> {
        if !self.may_cross_link(path, follow_last) {
            return Ok(path.to_owned());
        }
        resolve_links(&self.entries, path, follow_last, Some(layer)).map_err(|e| e.to_string())
    }
}

/// Why a path cannot be resolved.
#[derive(Debug)]
enum LinkError {
    /// The links loop, or chain past [`MAX_LINKS`].
    TooManyLinks,
    /// The resolved path is longer than [`MAX_PATH_BYTES`].
    TooLong,
    /// It goes through this link, which a lower layer left.
    LowerLink(String),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::TooManyLinks => write!(f, "its links loop or chain past {MAX_LINKS}"),
            LinkError::TooLong => write!(f, "it resolves to more than {MAX_PATH_BYTES} bytes"),
            LinkError::LowerLink(link) => write!(
                f,
                "it goes through /{link}, a link a lower layer left, where runtimes disagree (overlayfs writes beside the link, a native snapshotter through it): refused"
            ),
        }
    }
}

/// The most links one path goes through (as containerd's `fs.RootPath`).
const MAX_LINKS: usize = 255;
/// The longest path or link target read (Linux's PATH_MAX).
pub(crate) const MAX_PATH_BYTES: usize = 4096;

/// Resolves `path` through the symbolic links among `entries`, within the
/// root (as containerd's `fs.RootPath`): the last component is followed
/// only when `follow_last`. With `layer`, following a link an earlier layer
/// left is an error.
fn resolve_links(
    entries: &BTreeMap<String, Entry>,
    path: &str,
    follow_last: bool,
    layer: Option<usize>,
) -> Result<String, LinkError> {
    fn parts(text: &str) -> impl Iterator<Item = &str> {
        text.rsplit('/').filter(|p| !p.is_empty() && *p != ".")
    }
    // The components still to walk, the next one last.
    let mut pending: Vec<&str> = parts(path).collect();
    let mut resolved = String::with_capacity(path.len());
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.truncate(resolved.rfind('/').unwrap_or(0));
            continue;
        }
        let before = resolved.len();
        if !resolved.is_empty() {
            resolved.push('/');
        }
        resolved.push_str(part);
        if resolved.len() > MAX_PATH_BYTES {
            return Err(LinkError::TooLong);
        }
        // The last component is the entry itself, followed only when asked.
        if pending.is_empty() && !follow_last {
            continue;
        }
        if let Some(Entry {
            kind: Kind::Symlink(target),
            layer: made_by,
            ..
        }) = entries.get(resolved.as_str())
        {
            if layer.is_some_and(|current| *made_by < current) {
                return Err(LinkError::LowerLink(resolved));
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(LinkError::TooManyLinks);
            }
            resolved.truncate(before);
            if target.starts_with('/') {
                resolved.clear();
            }
            pending.extend(parts(target));
        }
    }
    Ok(resolved)
}

/// A sorted collection of paths to remove from: the filesystem's maps and
/// its set of links.
trait PathKeyed {
    /// The keys from `from` on, in order.
    fn keys_from<'a>(&'a self, from: &str) -> Box<dyn Iterator<Item = &'a String> + 'a>;
    fn remove_key(&mut self, key: &str);
}

impl<V> PathKeyed for BTreeMap<String, V> {
    fn keys_from<'a>(&'a self, from: &str) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(
            self.range::<str, _>((std::ops::Bound::Included(from), std::ops::Bound::Unbounded))
                .map(|(k, _)| k),
        )
    }

    fn remove_key(&mut self, key: &str) {
        self.remove(key);
    }
}

impl PathKeyed for BTreeSet<String> {
    fn keys_from<'a>(&'a self, from: &str) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(
            self.range::<str, _>((std::ops::Bound::Included(from), std::ops::Bound::Unbounded)),
        )
    }

    fn remove_key(&mut self, key: &str) {
        self.remove(key);
    }
}

/// Removes what is under `dir` (and `dir` itself when `itself`).
fn remove_under(keyed: &mut impl PathKeyed, dir: &str, itself: bool) {
    if itself {
        keyed.remove_key(dir);
    }
    let prefix = dir_prefix(dir);
    let doomed: Vec<String> = keyed
        .keys_from(&prefix)
        .take_while(|k| k.starts_with(&prefix))
        .cloned()
        .collect();
    for key in doomed {
        keyed.remove_key(&key);
    }
}

/// What the paths under `dir` start with (every path, under the root).
pub(crate) fn dir_prefix(dir: &str) -> String {
    if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
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

/// Follows a path through symbolic links to a regular file, or `None` when
/// it leads nowhere (dangling, a directory, a loop).
pub(crate) fn resolve<'a>(
    entries: &'a BTreeMap<String, Entry>,
    path: &str,
) -> Option<(String, &'a Entry)> {
    let real = resolve_links(entries, path, true, None).ok()?;
    let entry = entries.get(&real)?;
    matches!(entry.kind, Kind::File { .. }).then_some((real, entry))
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
