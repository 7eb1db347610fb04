//! Helpers for the cross-crate tests: where the shared corpus of real tool outputs is.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::OnceLock;

use customs::{Bundle, Engine, EngineConfig};
use customs_facts::{Signature, SignatureKind, Trust};

/// One engine for a test binary (compiling the baseline once).
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(EngineConfig::default()).expect("the engine starts"))
}

/// The embedded baseline bundle, loaded once per test binary.
pub fn baseline() -> Bundle {
    static BASELINE: OnceLock<Bundle> = OnceLock::new();
    BASELINE
        .get_or_init(|| engine().baseline().expect("the baseline loads"))
        .clone()
}

/// `../shared/corpus` beside the repository (override with `CUSTOMS_CORPUS`).
pub fn corpus_dir() -> PathBuf {
    std::env::var_os("CUSTOMS_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"))
}

/// Every `.json` file of one corpus kind (a subdirectory), sorted.
pub fn corpus_files(kind: &str) -> Vec<PathBuf> {
    let dir = corpus_dir().join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus directory {} is missing: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    files
}

/// A cosign keyless signature by `subject`, as customs records one it
/// checked itself (`trust: verified`).
pub fn signature(verified: bool, subject: &str) -> Signature {
    Signature {
        kind: SignatureKind::Cosign,
        verified,
        trust: Trust::Verified,
        verified_by: Some("customs".into()),
        key_id: None,
        issuer: Some("https://token.actions.githubusercontent.com".into()),
        subject: Some(subject.into()),
        rekor_log_index: Some(1),
    }
}

/// A real OCI registry (Debian's `docker-registry`, the Distribution
/// registry) on a free loopback port, with its storage in a temporary
/// directory; stopped when dropped. `.ci/run` installs the package.
pub struct TestRegistry {
    child: std::process::Child,
    /// `127.0.0.1:PORT`
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl TestRegistry {
    /// Starts a registry; with `htpasswd` (the file's contents, bcrypt
    /// hashes), every request needs those credentials.
    pub fn start(htpasswd: Option<&str>) -> TestRegistry {
        TestRegistry::start_with(htpasswd, None)
    }

    /// Starts a registry that sends its notifications (pushes, pulls) to
    /// `url` with `Authorization: Bearer token`.
    pub fn start_notifying(url: &str, token: &str) -> TestRegistry {
        TestRegistry::start_with(None, Some((url, token)))
    }

    fn start_with(htpasswd: Option<&str>, notify: Option<(&str, &str)>) -> TestRegistry {
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let auth = match htpasswd {
            Some(contents) => {
                let path = dir.path().join("htpasswd");
                std::fs::write(&path, contents).expect("write htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: customs-test\n    path: {}\n",
                    path.display()
                )
            }
            None => String::new(),
        };
        let notifications = match notify {
            Some((url, token)) => format!(
                "notifications:\n  endpoints:\n    - name: test\n      url: {url}\n      headers:\n        Authorization: [\"Bearer {token}\"]\n      timeout: 2s\n      threshold: 10\n      backoff: 200ms\n"
            ),
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n{auth}{notifications}http:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write registry config");
        let child = std::process::Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect(
                "cannot start docker-registry: install Debian's docker-registry package (.ci/run does)",
            );
        let registry = TestRegistry {
            child,
            addr,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while std::net::TcpStream::connect(&registry.addr).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "docker-registry did not listen on {} within 15 s",
                registry.addr
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        registry
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real PostgreSQL server (Debian's postgresql package) with a fresh
/// cluster in a temporary directory, on a free loopback port, trusting local
/// connections; stopped when dropped (or by [`TestPostgres::stop`]). Run as
/// the `postgres` user when the tests run as root (initdb refuses root).
/// `.ci/run` installs the package.
pub struct TestPostgres {
    child: Option<std::process::Child>,
    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    pub url: String,
    _dir: tempfile::TempDir,
}

impl TestPostgres {
    pub fn start() -> TestPostgres {
        use std::process::{Command, Stdio};
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is not installed: apt-get install postgresql (.ci/run does)")
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .find(|bin| bin.join("initdb").exists())
            .expect("no initdb under /usr/lib/postgresql/*/bin");
        let dir = tempfile::tempdir().expect("temporary directory");
        let data = dir.path().join("data");
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let as_owner = |program: &str| {
            let path = bin.join(program);
            if is_root {
                let mut command = Command::new("runuser");
                command.args(["-u", "postgres", "--"]).arg(path);
                command
            } else {
                Command::new(path)
            }
        };
        if is_root {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(
                status.success(),
                "cannot hand the data directory to postgres"
            );
        }
        let status = as_owner("initdb")
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("cannot run initdb");
        assert!(status.success(), "initdb failed");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = as_owner("postgres")
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args(["-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start postgres");
        let server = TestPostgres {
            child: Some(child),
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let ready = Command::new(bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "postgres did not accept connections on port {port} within 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        server
    }

    /// Stops the server at once (an outage, for fail-closed tests).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // runuser passes SIGKILL's effect on: the server goes with it.
            let _ = std::process::Command::new("pkill")
                .args(["-KILL", "-P", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes a bundle directory holding the given baseline components (by rule
/// id) and CEL files, with no manifest yet.
pub fn bundle_dir(rules: &[&str], cel: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    for rule in rules {
        let (_, bytes) = customs::baseline::POLICIES
            .iter()
            .find(|(id, _)| id == rule)
            .unwrap_or_else(|| panic!("no baseline policy {rule}"));
        std::fs::write(dir.path().join(format!("{rule}.wasm")), bytes).expect("write policy");
    }
    for (name, text) in cel {
        std::fs::write(dir.path().join(name), text).expect("write policy");
    }
    dir
}

/// The subjects (`vulnerabilities`, `config`, ...) of the `evidence/missing`
/// findings of a decision document (`customs eval --format json`, the
/// decision API), in order.
pub fn missing_evidence(decision: &serde_json::Value) -> Vec<String> {
    decision["policies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == customs::EVIDENCE_POLICY)
        .flat_map(|p| p["findings"].as_array().unwrap())
        .map(|f| {
            assert_eq!(f["rule"], customs::EVIDENCE_MISSING_RULE);
            f["subject"].as_str().unwrap().to_owned()
        })
        .collect()
}
