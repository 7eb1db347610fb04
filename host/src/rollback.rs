//! Rollback protection for signed bundles.
//!
//! A signature says who made a bundle, not that it is the newest one: an old,
//! validly signed bundle (say, one that still waived a CVE) can be brought
//! back by moving a registry tag or swapping a file. So the newest version of
//! each bundle name accepted so far is kept in a small JSON file, and an older
//! version is refused unless the operator allows it explicitly.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use semver::Version;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::manifest::{BundleFiles, MANIFEST_FILE};

/// The state file's name in its directory.
pub const ACCEPTED_VERSIONS_FILE: &str = "accepted-bundles.json";

/// The file that remembers the newest accepted version of each bundle name.
#[derive(Debug, Clone)]
pub struct AcceptedVersions {
    path: PathBuf,
}

/// What is remembered of a bundle name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcceptedVersion {
    pub version: String,
    /// sha256 of the bundle's manifest, which pins every file.
    pub manifest_sha256: String,
    /// When this version was first accepted (RFC 3339).
    pub accepted_at: String,
}

/// How a bundle compared with what was accepted before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acceptance {
    /// No version of this name was accepted before; this one now is.
    First,
    /// The version accepted before, with the same manifest.
    Same,
    /// Newer than the version accepted before, which it replaces.
    Upgrade { from: String },
    /// The version accepted before, but other content: the publisher signed
    /// two different bundles under one version. Accepted (the signature is
    /// valid), reported so someone looks.
    Republished,
    /// Older than the accepted version and allowed by the caller. The record
    /// keeps the newer version, so the next load without the allowance
    /// refuses it again.
    AllowedRollback { accepted: String },
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    bundles: BTreeMap<String, AcceptedVersion>,
}

impl AcceptedVersions {
    /// The state kept at `path` (created on first acceptance).
    pub fn at(path: impl Into<PathBuf>) -> AcceptedVersions {
        AcceptedVersions { path: path.into() }
    }

    /// `$XDG_STATE_HOME/customs/accepted-bundles.json` (`~/.local/state/...`),
    /// or the platform's local data directory where there is no state
    /// directory.
    pub fn default_path() -> Option<PathBuf> {
        dirs::state_dir()
            .or_else(dirs::data_local_dir)
            .map(|dir| dir.join("customs").join(ACCEPTED_VERSIONS_FILE))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The accepted version of `name`, if any.
    pub fn get(&self, name: &str) -> Result<Option<AcceptedVersion>, Error> {
        Ok(self.read()?.bundles.remove(name))
    }

    /// Checks a verified bundle against the version accepted before and
    /// records it when it is the first or a newer one. An older version is
    /// [`Error::Rollback`] unless `allow_rollback`. Holds a lock on the state
    /// while it reads and writes, so concurrent loads cannot lose a record.
    pub fn accept(&self, files: &BundleFiles, allow_rollback: bool) -> Result<Acceptance, Error> {
        let manifest = files.manifest()?;
        let offered = parse_version(&self.path, &manifest.name, &manifest.version)?;
        let manifest_sha256 = hex::encode(Sha256::digest(
            files
                .files()
                .get(MANIFEST_FILE)
                .map(Vec::as_slice)
                .unwrap_or_default(),
        ));

        let _lock = self.lock()?;
        let mut state = self.read()?;
        let acceptance = match state.bundles.get(&manifest.name) {
            None => Acceptance::First,
            Some(accepted) => {
                let known = parse_version(&self.path, &manifest.name, &accepted.version)?;
                match offered.cmp_precedence(&known) {
                    std::cmp::Ordering::Greater => Acceptance::Upgrade {
                        from: accepted.version.clone(),
                    },
                    std::cmp::Ordering::Equal if accepted.manifest_sha256 == manifest_sha256 => {
                        Acceptance::Same
                    }
                    std::cmp::Ordering::Equal => Acceptance::Republished,
                    std::cmp::Ordering::Less if allow_rollback => Acceptance::AllowedRollback {
                        accepted: accepted.version.clone(),
                    },
                    std::cmp::Ordering::Less => {
                        return Err(Error::Rollback {
                            origin: files.origin().to_owned(),
                            name: manifest.name,
                            offered: manifest.version,
                            accepted: accepted.version.clone(),
                            state: self.path.display().to_string(),
                        });
                    }
                }
            }
        };
        if matches!(acceptance, Acceptance::First | Acceptance::Upgrade { .. }) {
            state.bundles.insert(
                manifest.name,
                AcceptedVersion {
                    version: manifest.version,
                    manifest_sha256,
                    accepted_at: chrono::Utc::now()
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                },
            );
            self.write(&state)?;
        }
        Ok(acceptance)
    }

    fn error(&self, reason: impl Into<String>) -> Error {
        Error::AcceptedVersions {
            path: self.path.display().to_string(),
            reason: reason.into(),
        }
    }

    /// A missing file is an empty state; an unreadable or damaged one is an
    /// error (forgetting what was accepted would re-open rollbacks).
    fn read(&self) -> Result<State, Error> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => return Err(self.error(e.to_string())),
        };
        serde_json::from_slice(&bytes).map_err(|e| {
            self.error(format!(
                "{e}; it records the bundle versions accepted so far: repair it, or remove it to trust the next bundle of each name as new"
            ))
        })
    }

    /// Whole or not at all: a temporary file in the same directory, renamed.
    fn write(&self, state: &State) -> Result<(), Error> {
        let dir = self.directory()?;
        let mut bytes = serde_json::to_vec_pretty(state).map_err(|e| self.error(e.to_string()))?;
        bytes.push(b'\n');
        let mut file =
            tempfile::NamedTempFile::new_in(dir).map_err(|e| self.error(e.to_string()))?;
        std::io::Write::write_all(&mut file, &bytes).map_err(|e| self.error(e.to_string()))?;
        file.persist(&self.path)
            .map_err(|e| self.error(e.error.to_string()))?;
        Ok(())
    }

    /// An exclusive lock on a file beside the state (not the state itself,
    /// which is replaced by a rename); released when dropped.
    fn lock(&self) -> Result<File, Error> {
        let dir = self.directory()?;
        let mut name = self.path.file_name().unwrap_or_default().to_owned();
        name.push(".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(name))
            .map_err(|e| self.error(format!("cannot open its lock file: {e}")))?;
        file.lock()
            .map_err(|e| self.error(format!("cannot lock it: {e}")))?;
        Ok(file)
    }

    fn directory(&self) -> Result<&Path, Error> {
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir).map_err(|e| self.error(e.to_string()))?;
        Ok(dir)
    }
}

fn parse_version(state: &Path, name: &str, version: &str) -> Result<Version, Error> {
    Version::parse(version).map_err(|e| Error::AcceptedVersions {
        path: state.display().to_string(),
        reason: format!("bundle {name}: version {version:?} is not a semantic version: {e}"),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn bundle(name: &str, version: &str, description: &str) -> BundleFiles {
        let manifest = format!(
            "name: {name}\nversion: {version}\ndescription: {description:?}\npolicies:\n  - {{path: p.yaml, kind: cel, sha256: {}}}\n",
            "0".repeat(64)
        );
        BundleFiles::new(
            format!("{name}-{version}.tar.gz"),
            BTreeMap::from([(MANIFEST_FILE.to_owned(), manifest.into_bytes())]),
        )
    }

    #[test]
    fn newer_versions_replace_older_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let state = AcceptedVersions::at(dir.path().join("state/accepted.json"));
        let v1 = bundle("team", "1.2.0", "");
        assert_eq!(state.accept(&v1, false).unwrap(), Acceptance::First);
        assert_eq!(state.accept(&v1, false).unwrap(), Acceptance::Same);
        assert_eq!(
            state.accept(&bundle("team", "1.10.0", ""), false).unwrap(),
            Acceptance::Upgrade {
                from: "1.2.0".to_owned()
            }
        );

        let error = state.accept(&v1, false).unwrap_err().to_string();
        assert!(
            error.contains("team-1.2.0.tar.gz: bundle team 1.2.0 is older than 1.10.0"),
            "{error}"
        );
        assert!(error.contains("accepted.json"), "{error}");

        // Allowed once, but the record keeps 1.10.0.
        assert_eq!(
            state.accept(&v1, true).unwrap(),
            Acceptance::AllowedRollback {
                accepted: "1.10.0".to_owned()
            }
        );
        assert_eq!(state.get("team").unwrap().unwrap().version, "1.10.0");
        assert!(state.accept(&v1, false).is_err());

        // A pre-release sorts before its release; other names are separate.
        assert!(
            state
                .accept(&bundle("team", "1.10.0-rc.1", ""), false)
                .is_err()
        );
        assert_eq!(
            state.accept(&bundle("other", "0.1.0", ""), false).unwrap(),
            Acceptance::First
        );
    }

    #[test]
    fn same_version_with_other_content_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let state = AcceptedVersions::at(dir.path().join("accepted.json"));
        state.accept(&bundle("team", "1.0.0", "a"), false).unwrap();
        assert_eq!(
            state.accept(&bundle("team", "1.0.0", "b"), false).unwrap(),
            Acceptance::Republished
        );
        // The first content stays on record.
        let recorded = state.get("team").unwrap().unwrap();
        let first = bundle("team", "1.0.0", "a");
        assert_eq!(
            recorded.manifest_sha256,
            hex::encode(Sha256::digest(&first.files()[MANIFEST_FILE]))
        );
    }

    #[test]
    fn a_damaged_state_file_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accepted.json");
        std::fs::write(&path, "{\"bundles\": {\"team\": 3}}").unwrap();
        let error = AcceptedVersions::at(&path)
            .accept(&bundle("team", "0.1.0", ""), false)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with(&path.display().to_string()), "{error}");
        assert!(error.contains("remove it"), "{error}");
    }

    #[test]
    fn concurrent_acceptances_keep_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accepted.json");
        std::thread::scope(|scope| {
            for minor in 0..8 {
                let path = &path;
                scope.spawn(move || {
                    AcceptedVersions::at(path)
                        .accept(&bundle("team", &format!("1.{minor}.0"), ""), true)
                        .unwrap();
                });
            }
        });
        let recorded = AcceptedVersions::at(&path).get("team").unwrap().unwrap();
        assert_eq!(recorded.version, "1.7.0");
    }
}
