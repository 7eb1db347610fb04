//! `customs serve` reloads the bundle when its local files change: bundle
//! directories and archives, `--policy` files, the waivers file, signatures.
//!
//! Directories are watched rather than files, because files are often
//! replaced by a rename (editors; Kubernetes swaps a mounted ConfigMap's
//! `..data` link), which a watch on the old file would never see.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};

use customs_server::ReloadHandle;

/// Changes closer together than this make one reload (a copy of several
/// files, an editor's write-then-rename).
const SETTLE: Duration = Duration::from_millis(300);

/// What to watch for one local source.
struct Watched {
    /// The directory the watch is on.
    dir: PathBuf,
    recursive: bool,
    /// A change to one of these names (or to anything, when empty) counts.
    names: Vec<std::ffi::OsString>,
}

/// The local files among the policy flags: bundle directories (their
/// policies, manifest and signature) and archives with their `.sig`,
/// `--policy` files, `--waivers`.
pub fn local_sources(policy: &crate::PolicyArgs) -> Vec<PathBuf> {
    let bundles = policy
        .bundles
        .iter()
        .filter(|text| !text.starts_with("oci://") && !text.starts_with("builtin:"))
        .map(PathBuf::from);
    bundles
        .chain(policy.policies.iter().cloned())
        .chain(policy.waivers.iter().cloned())
        .collect()
}

/// Starts watching `paths`; every settled burst of changes reloads through
/// `handle` (which loads in full before swapping, and keeps the old bundle
/// when the new one does not load). The watch lasts as long as the
/// returned watcher.
pub fn reload_on_change(
    handle: ReloadHandle,
    paths: &[PathBuf],
) -> Result<Option<RecommendedWatcher>> {
    if paths.is_empty() {
        return Ok(None);
    }
    let watched = paths
        .iter()
        .map(|path| what_to_watch(path))
        .collect::<Result<Vec<_>>>()?;
    let changed = Arc::new(tokio::sync::Notify::new());
    let filters: Vec<(PathBuf, Vec<std::ffi::OsString>)> = watched
        .iter()
        .map(|w| (w.dir.clone(), w.names.clone()))
        .collect();
    let signal = changed.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        match event {
            Ok(event) if is_change(&event.kind) && touches(&event.paths, &filters) => {
                // Many events before the reloader wakes leave one permit.
                signal.notify_one();
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "watching the bundle files"),
        }
    })
    .context("cannot watch the bundle files")?;
    for w in &watched {
        let mode = if w.recursive {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        watcher
            .watch(&w.dir, mode)
            .with_context(|| format!("cannot watch {}", w.dir.display()))?;
    }
    tokio::spawn(async move {
        loop {
            changed.notified().await;
            tokio::time::sleep(SETTLE).await;
            tracing::info!("bundle files changed: reloading");
            // The outcome is logged and counted by the server.
            let _ = handle.reload().await;
        }
    });
    Ok(Some(watcher))
}

fn what_to_watch(path: &Path) -> Result<Watched> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot watch {}", path.display()))?;
    // Events name absolute paths; links are not resolved (a mounted
    // ConfigMap's files are links that change).
    let path =
        &std::path::absolute(path).with_context(|| format!("cannot watch {}", path.display()))?;
    if meta.is_dir() {
        return Ok(Watched {
            dir: path.to_owned(),
            recursive: true,
            names: Vec::new(),
        });
    }
    let name = path
        .file_name()
        .with_context(|| format!("cannot watch {}: no file name", path.display()))?;
    let mut signature = name.to_owned();
    signature.push(".sig");
    let dir = path
        .parent()
        .with_context(|| format!("cannot watch {}: no directory", path.display()))?
        .to_owned();
    Ok(Watched {
        dir,
        recursive: false,
        names: vec![name.to_owned(), signature],
    })
}

/// Content, names and existence; not reads (the reload itself reads every
/// file) and not metadata (access times).
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Any | EventKind::Other => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
    }
}

/// Whether an event is about a watched file: a policy, manifest or
/// signature under a watched directory bundle (not, say, a SQLite store kept
/// beside them); a watched file's name (or its signature) in its directory;
/// and Kubernetes' `..data` swaps, which replace every file of a mounted
/// volume at once.
fn touches(paths: &[PathBuf], filters: &[(PathBuf, Vec<std::ffi::OsString>)]) -> bool {
    paths.iter().any(|path| {
        let name = path.file_name().unwrap_or_default();
        name.to_string_lossy().starts_with("..")
            || filters.iter().any(|(dir, names)| {
                if names.is_empty() {
                    let extension = path.extension().and_then(|e| e.to_str());
                    path.starts_with(dir)
                        && matches!(extension, Some("wasm" | "yaml" | "yml" | "sig"))
                } else {
                    path.parent() == Some(dir.as_path()) && names.iter().any(|n| n == name)
                }
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_to_watched_files_count() {
        let filters = vec![
            (PathBuf::from("/b/dir"), Vec::new()),
            (
                PathBuf::from("/etc/customs"),
                vec!["team.tar.gz".into(), "team.tar.gz.sig".into()],
            ),
        ];
        let counts = |path: &str| touches(&[PathBuf::from(path)], &filters);
        assert!(counts("/b/dir/policy.yaml"));
        assert!(counts("/b/dir/sub/x.wasm"));
        assert!(counts("/b/dir/customs-bundle.yaml.sig"));
        assert!(!counts("/b/dir/customs-facts.db-wal"));
        assert!(counts("/etc/customs/team.tar.gz"));
        assert!(counts("/etc/customs/team.tar.gz.sig"));
        assert!(counts("/etc/customs/..data"));
        assert!(!counts("/etc/customs/customs-facts.db"));
        assert!(!counts("/b/other.yaml"));

        assert!(is_change(&EventKind::Modify(ModifyKind::Data(
            notify::event::DataChange::Content
        ))));
        assert!(!is_change(&EventKind::Access(AccessKind::Open(
            AccessMode::Read
        ))));
        assert!(!is_change(&EventKind::Modify(ModifyKind::Metadata(
            notify::event::MetadataKind::AccessTime
        ))));
    }
}
