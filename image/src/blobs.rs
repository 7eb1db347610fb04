//! Blob stores: the blobs of an OCI layout directory, or the members of a
//! docker archive (a tar indexed once, then read member by member by
//! seeking, never unpacked).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::ImageError;

/// Where an image's files and blobs are.
pub(crate) trait Blobs {
    /// The image, for messages.
    fn image(&self) -> &str;
    /// A file by its path inside the layout (`index.json`, `manifest.json`,
    /// `blobs/sha256/HEX`), or `None` when there is none.
    fn open_path(&self, path: &str) -> Result<Option<Box<dyn Read + '_>>, ImageError>;

    /// A blob by its digest, as a stream.
    fn open_blob(&self, digest: &str) -> Result<Box<dyn Read + '_>, ImageError> {
        let path = blob_path(self.image(), digest)?;
        self.open_path(&path)?.ok_or_else(|| ImageError::Invalid {
            image: self.image().to_owned(),
            message: format!("blob {digest} is not in the layout ({path})"),
        })
    }

    /// A small file read whole, at most `max` bytes.
    fn read_path(&self, path: &str, max: u64) -> Result<Option<Vec<u8>>, ImageError> {
        let Some(reader) = self.open_path(path)? else {
            return Ok(None);
        };
        read_bounded(self.image(), path, reader, max).map(Some)
    }

    /// A small blob read whole (at most `max` bytes) and checked against its digest.
    fn read_blob(&self, digest: &str, max: u64) -> Result<Vec<u8>, ImageError> {
        let bytes = read_bounded(self.image(), digest, self.open_blob(digest)?, max)?;
        check_digest(self.image(), digest, &Sha256::digest(&bytes))?;
        Ok(bytes)
    }
}

fn read_bounded(
    image: &str,
    what: &str,
    reader: impl Read,
    max: u64,
) -> Result<Vec<u8>, ImageError> {
    let mut bytes = Vec::new();
    reader
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| ImageError::Io {
            image: image.to_owned(),
            what: what.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > max {
        return Err(ImageError::Limit {
            image: image.to_owned(),
            message: format!("{what} is larger than {max} bytes"),
        });
    }
    Ok(bytes)
}

/// `blobs/sha256/HEX` for `sha256:HEX`, relative to a layout's root; only
/// sha256 is read (what every builder writes), and the hex must be a real
/// digest, so a descriptor cannot name a path outside the layout.
pub fn layout_blob_path(digest: &str) -> Option<String> {
    match digest.split_once(':') {
        Some(("sha256", hex))
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) =>
        {
            Some(format!("blobs/sha256/{hex}"))
        }
        _ => None,
    }
}

fn blob_path(image: &str, digest: &str) -> Result<String, ImageError> {
    layout_blob_path(digest).ok_or_else(|| ImageError::Invalid {
        image: image.to_owned(),
        message: format!("{digest:?} is not a sha256 digest customs reads"),
    })
}

/// Compares a computed SHA-256 with a descriptor's digest.
pub(crate) fn check_digest(image: &str, digest: &str, actual: &[u8]) -> Result<(), ImageError> {
    let actual = format!("sha256:{}", hex::encode(actual));
    if actual == digest {
        Ok(())
    } else {
        Err(ImageError::DigestMismatch {
            image: image.to_owned(),
            digest: digest.to_owned(),
            actual,
        })
    }
}

/// An OCI image layout directory.
pub(crate) struct LayoutDir {
    image: String,
    dir: PathBuf,
}

impl LayoutDir {
    pub(crate) fn open(image: String, dir: &Path) -> Result<LayoutDir, ImageError> {
        if !dir.is_dir() {
            return Err(ImageError::Source(format!(
                "{image}: {} is not a directory",
                dir.display()
            )));
        }
        Ok(LayoutDir {
            image,
            dir: dir.to_owned(),
        })
    }
}

impl Blobs for LayoutDir {
    fn image(&self) -> &str {
        &self.image
    }

    fn open_path(&self, path: &str) -> Result<Option<Box<dyn Read + '_>>, ImageError> {
        match File::open(self.dir.join(path)) {
            Ok(file) => Ok(Some(Box::new(file))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ImageError::Io {
                image: self.image.clone(),
                what: path.to_owned(),
                source,
            }),
        }
    }
}

/// A tar archive of an image (`docker save`), indexed by member path.
pub(crate) struct TarArchive {
    image: String,
    file: PathBuf,
    /// Member path (without `./`) → (offset of its data, size).
    members: HashMap<String, (u64, u64)>,
}

/// Most members an image archive may hold (blobs, manifests, legacy
/// per-layer directories): far above real archives.
const MAX_ARCHIVE_MEMBERS: usize = 100_000;

impl TarArchive {
    pub(crate) fn open(image: String, path: &Path) -> Result<TarArchive, ImageError> {
        let io = |what: &str, source| ImageError::Io {
            image: image.clone(),
            what: what.to_owned(),
            source,
        };
        let file = File::open(path).map_err(|e| io("the archive", e))?;
        let mut archive = tar::Archive::new(file);
        let mut members = HashMap::new();
        for entry in archive
            .entries_with_seek()
            .map_err(|e| io("the archive", e))?
        {
            let entry = entry.map_err(|e| io("the archive's entries", e))?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry
                .path()
                .map_err(|e| io("an archive entry's path", e))?
                .to_string_lossy()
                .trim_start_matches("./")
                .to_owned();
            members.insert(name, (entry.raw_file_position(), entry.size()));
            if members.len() > MAX_ARCHIVE_MEMBERS {
                return Err(ImageError::Limit {
                    image,
                    message: format!("the archive has more than {MAX_ARCHIVE_MEMBERS} members"),
                });
            }
        }
        Ok(TarArchive {
            image,
            file: path.to_owned(),
            members,
        })
    }
}

impl Blobs for TarArchive {
    fn image(&self) -> &str {
        &self.image
    }

    fn open_path(&self, path: &str) -> Result<Option<Box<dyn Read + '_>>, ImageError> {
        let Some(&(offset, size)) = self.members.get(path) else {
            return Ok(None);
        };
        let io = |source| ImageError::Io {
            image: self.image.clone(),
            what: path.to_owned(),
            source,
        };
        let mut file = File::open(&self.file).map_err(io)?;
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        Ok(Some(Box::new(file.take(size))))
    }
}
