//! rpm's sqlite database (`rpmdb.sqlite`, rpm 4.16+: Fedora, RHEL/UBI 9,
//! Rocky, Alma, Amazon Linux 2023): each row of its `Packages` table is a
//! package's header blob. SQLite (rusqlite) reads the database; the header
//! blob is parsed here because no maintained crate exposes it (the `rpm`
//! crate parses whole package files only). The format is the LSB header
//! structure without its magic: a count of index entries, the size of the
//! data store, the entries (tag, type, offset, count), then the store.

use customs_facts::Package;
use rusqlite::{Connection, OpenFlags};

use crate::packages::{OsRelease, purl_with};

/// Most packages read from one database: far above any real image.
const MAX_PACKAGES: usize = 100_000;
/// The progress handler is called every this many SQLite VM steps; after
/// this many calls the query is stopped (far beyond reading 100,000 rows).
const PROGRESS_EVERY: i32 = 10_000;
const MAX_PROGRESS_CALLS: u64 = 100_000;

/// A path as a `file:` URI path: `%`, `?` and `#` percent-encoded.
fn uri_path(path: &std::path::Path) -> String {
    let mut out = String::new();
    for c in path.display().to_string().chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3F"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out
}

/// Most index entries one header may declare (rpm's own limit is 0xffff).
const MAX_ENTRIES: usize = 0xffff;

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_LICENSE: u32 = 1014;
const TAG_ARCH: u32 = 1022;
const TAG_SOURCERPM: u32 = 1044;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_I18NSTRING: u32 = 9;

/// The packages of an `rpmdb.sqlite`'s bytes. The bytes are written to a
/// private temporary file that SQLite opens read-only and immutable (no
/// journal, no WAL, no locks), the database itself never touched.
pub(crate) fn sqlite(db: &[u8], os: &OsRelease) -> Result<Vec<Package>, String> {
    let mut file = tempfile::NamedTempFile::new().map_err(|e| format!("a temporary file: {e}"))?;
    std::io::Write::write_all(&mut file, db).map_err(|e| format!("a temporary file: {e}"))?;
    // immutable: rpm keeps its database in WAL mode, which a read-only
    // open would otherwise need a writable -shm file for.
    let uri = format!("file:{}?immutable=1", uri_path(file.path()));
    let connection = Connection::open_with_flags(
        uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("not an sqlite database: {e}"))?;
    // A hostile schema gets no functions with side effects, and a query
    // that runs away (a view over an endless recursive query) is stopped.
    connection
        .pragma_update(None, "trusted_schema", "OFF")
        .map_err(|e| e.to_string())?;
    let steps = std::cell::Cell::new(0u64);
    connection.progress_handler(
        PROGRESS_EVERY,
        Some(move || {
            steps.set(steps.get() + 1);
            steps.get() > MAX_PROGRESS_CALLS
        }),
    );
    // `Packages` must be rpm's table, not a view or anything else.
    let kind: Option<String> = connection
        .query_row(
            "SELECT type FROM sqlite_master WHERE name = 'Packages'",
            [],
            |row| row.get(0),
        )
        .ok();
    if kind.as_deref() != Some("table") {
        return Err(format!(
            "its Packages is {}, not rpm's table",
            kind.map_or("missing".to_owned(), |k| format!("a {k}"))
        ));
    }
    let mut statement = connection
        .prepare("SELECT blob FROM Packages ORDER BY hnum")
        .map_err(|e| format!("no Packages table: {e}"))?;
    let mut rows = statement.query([]).map_err(|e| e.to_string())?;
    let mut packages = Vec::new();
    let mut index = 0usize;
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        index += 1;
        if index > MAX_PACKAGES {
            return Err(format!("more than {MAX_PACKAGES} packages"));
        }
        let blob: Vec<u8> = row.get(0).map_err(|e| format!("package {index}: {e}"))?;
        let header = Header::parse(&blob).map_err(|e| format!("package {index}: {e}"))?;
        if let Some(package) = header.package(os)? {
            packages.push(package);
        }
    }
    Ok(packages)
}

/// One package header: its index entries and data store.
#[derive(Debug)]
struct Header<'a> {
    entries: Vec<Entry>,
    store: &'a [u8],
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    tag: u32,
    kind: u32,
    offset: usize,
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
}

impl<'a> Header<'a> {
    fn parse(blob: &'a [u8]) -> Result<Header<'a>, String> {
        let short = || "the header is shorter than it declares".to_owned();
        let count = be32(blob, 0).ok_or_else(short)? as usize;
        let size = be32(blob, 4).ok_or_else(short)? as usize;
        if count > MAX_ENTRIES {
            return Err(format!("the header declares {count} entries"));
        }
        let store_at = 8 + count * 16;
        let store = blob
            .get(store_at..store_at.checked_add(size).ok_or_else(short)?)
            .ok_or_else(short)?;
        let mut entries = Vec::with_capacity(count);
        for i in 0..count {
            let at = 8 + i * 16;
            let (Some(tag), Some(kind), Some(offset)) =
                (be32(blob, at), be32(blob, at + 4), be32(blob, at + 8))
            else {
                return Err(short());
            };
            entries.push(Entry {
                tag,
                kind,
                offset: offset as usize,
            });
        }
        Ok(Header { entries, store })
    }

    fn entry(&self, tag: u32) -> Option<Entry> {
        self.entries.iter().copied().find(|e| e.tag == tag)
    }

    /// A string tag (or the first of an i18n string), NUL-terminated.
    fn string(&self, tag: u32) -> Result<Option<String>, String> {
        let Some(entry) = self.entry(tag) else {
            return Ok(None);
        };
        if entry.kind != TYPE_STRING && entry.kind != TYPE_I18NSTRING {
            return Err(format!("tag {tag} is of type {}, not a string", entry.kind));
        }
        let rest = self
            .store
            .get(entry.offset..)
            .ok_or_else(|| format!("tag {tag} points outside the header"))?;
        let end = rest
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| format!("tag {tag}'s string has no end"))?;
        String::from_utf8(rest[..end].to_vec())
            .map(Some)
            .map_err(|_| format!("tag {tag} is not UTF-8"))
    }

    fn int32(&self, tag: u32) -> Result<Option<u32>, String> {
        let Some(entry) = self.entry(tag) else {
            return Ok(None);
        };
        if entry.kind != TYPE_INT32 {
            return Err(format!("tag {tag} is of type {}, not an int32", entry.kind));
        }
        be32(self.store, entry.offset)
            .map(Some)
            .ok_or_else(|| format!("tag {tag} points outside the header"))
    }

    /// The package it describes; `None` for rpm's imported signing keys
    /// (`gpg-pubkey`), which are headers but not installed software.
    fn package(&self, os: &OsRelease) -> Result<Option<Package>, String> {
        let name = self.string(TAG_NAME)?.ok_or("the header has no name")?;
        if name == "gpg-pubkey" {
            return Ok(None);
        }
        let version = self
            .string(TAG_VERSION)?
            .ok_or_else(|| format!("{name} has no version"))?;
        let release = self.string(TAG_RELEASE)?;
        let epoch = self.int32(TAG_EPOCH)?.filter(|e| *e > 0);
        let arch = self.string(TAG_ARCH)?;
        // `NAME-VERSION-RELEASE.src.rpm`: the source package's name.
        let source_name = self.string(TAG_SOURCERPM)?.and_then(|rpm| {
            let stem = rpm
                .strip_suffix(".src.rpm")
                .or(rpm.strip_suffix(".nosrc.rpm"))?;
            let mut parts = stem.rsplitn(3, '-');
            parts.next()?;
            parts.next()?;
            parts.next().map(str::to_owned)
        });
        let mut full_version = String::new();
        if let Some(epoch) = epoch {
            full_version.push_str(&format!("{epoch}:"));
        }
        full_version.push_str(&version);
        let mut purl_version = version.clone();
        if let Some(release) = &release {
            full_version.push('-');
            full_version.push_str(release);
            purl_version.push('-');
            purl_version.push_str(release);
        }
        let namespace = match os.id.as_deref() {
            Some("rhel") | None => "redhat",
            Some(id) => id,
        };
        let mut qualifiers = Vec::new();
        if let Some(arch) = &arch {
            qualifiers.push(("arch", arch.clone()));
        }
        if let Some(epoch) = epoch {
            qualifiers.push(("epoch", epoch.to_string()));
        }
        Ok(Some(Package {
            purl: Some(purl_with(
                "rpm",
                namespace,
                &name,
                &purl_version,
                &qualifiers,
            )),
            licenses: self.string(TAG_LICENSE)?.into_iter().collect(),
            source_name: source_name.filter(|s| *s != name),
            name,
            version: full_version,
            package_type: "rpm".to_owned(),
            ..Package::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_database_whose_packages_is_a_view_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rpmdb.sqlite");
        let db = Connection::open(&path).unwrap();
        // An endless recursive query: sorting it would never finish.
        db.execute_batch(
            "CREATE VIEW Packages AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
             SELECT x AS hnum, x AS blob FROM c;",
        )
        .unwrap();
        drop(db);
        let error = sqlite(&std::fs::read(&path).unwrap(), &OsRelease::default()).unwrap_err();
        assert!(error.contains("a view, not rpm's table"), "{error}");
    }

    #[test]
    fn headers_that_lie_about_their_size_are_refused() {
        let mut blob = Vec::new();
        blob.extend_from_slice(&1u32.to_be_bytes());
        blob.extend_from_slice(&100u32.to_be_bytes());
        blob.extend_from_slice(&[0; 16]);
        assert!(Header::parse(&blob).is_err());
        let mut huge = Vec::new();
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        huge.extend_from_slice(&0u32.to_be_bytes());
        assert!(Header::parse(&huge).unwrap_err().contains("entries"));
    }

    #[test]
    fn a_string_tag_pointing_outside_the_store_is_an_error() {
        let mut blob = Vec::new();
        blob.extend_from_slice(&1u32.to_be_bytes());
        blob.extend_from_slice(&4u32.to_be_bytes());
        for word in [TAG_NAME, TYPE_STRING, 9, 1] {
            blob.extend_from_slice(&word.to_be_bytes());
        }
        blob.extend_from_slice(b"abc\0");
        let header = Header::parse(&blob).unwrap();
        assert!(header.string(TAG_NAME).is_err());
    }
}
