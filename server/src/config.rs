//! The server's configuration: a YAML file (`customs serve --config FILE`),
//! every field optional, overridden by command-line flags.
//!
//! ```yaml
//! listen: 127.0.0.1:8443
//! store: sqlite:/var/lib/customs/facts.db   # or postgres://user@host/db
//! token_file: /etc/customs/token            # bearer token for the facts store
//! tls:
//!   cert: /etc/customs/tls.crt
//!   key: /etc/customs/tls.key
//! max_body_bytes: 16777216
//! request_timeout_ms: 10000
//! shutdown_grace_ms: 10000
//! header_read_timeout_ms: 10000             # a connection's first request and every header block
//! sweep_interval_secs: 3600                 # 0: no periodic sweep
//! stale_after_days: 7
//! reload_interval_secs: 30                  # also reloads on SIGHUP
//! admission_requires: [vulnerabilities, config]   # facts an admitted image needs
//! admission_stale: deny                     # or warn: facts older than stale_after_days
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration {path}: {message}")]
    Invalid { path: String, message: String },
    #[error("cannot read the token file {path}: {source}")]
    Token {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the token in {path} is shorter than 16 characters")]
    WeakToken { path: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// The facts store: `sqlite:PATH` (created if missing) or `postgres://...`.
    pub store: String,
    /// The bearer token the facts-store endpoints require. Without one they
    /// answer 503 ("no token configured"): writes are never open.
    #[serde(skip)]
    pub token: Option<String>,
    /// A file holding the token (first line), so it stays out of the config
    /// and of process listings.
    pub token_file: Option<PathBuf>,
    /// HTTPS with a certificate and key from PEM files.
    pub tls: Option<TlsConfig>,
    /// Requests with a larger body are refused with 413.
    pub max_body_bytes: usize,
    /// A request that takes longer is answered 503 (admission: denied).
    pub request_timeout_ms: u64,
    /// How long requests in flight may finish after a shutdown signal.
    pub shutdown_grace_ms: u64,
    /// How long a connection may take to send its first request, and any
    /// request its headers; then it is closed.
    pub header_read_timeout_ms: u64,
    /// Seconds between the server's sweeps (0: none).
    pub sweep_interval_secs: u64,
    /// Facts recorded longer ago than this are stale: the image needs a rescan.
    pub stale_after_days: i64,
    /// Seconds between attempts to reload the bundle (0: only on SIGHUP).
    pub reload_interval_secs: u64,
    /// Evaluations at once; further requests wait (default: twice the cores).
    pub max_concurrent_evaluations: usize,
    /// The facts an image's record must hold to be admitted: a record
    /// without one (an SBOM alone, a bare digest) is denied by
    /// `admission/incomplete-facts`, since every policy that reads a
    /// missing fact could only warn.
    pub admission_requires: Vec<RequiredFact>,
    /// What facts older than `stale_after_days` do at admission.
    pub admission_stale: StaleFacts,
}

/// A part of the facts admission can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequiredFact {
    /// A vulnerability scan (an empty list counts: a clean scan).
    Vulnerabilities,
    /// The image config (user, entrypoint, labels).
    Config,
    /// A secret scan.
    Secrets,
    /// A package list (an SBOM or a scanner's package list).
    Packages,
    /// Signature checks.
    Signatures,
    /// Attestation checks.
    Attestations,
}

impl RequiredFact {
    pub fn name(self) -> &'static str {
        match self {
            RequiredFact::Vulnerabilities => "a vulnerability scan",
            RequiredFact::Config => "the image config",
            RequiredFact::Secrets => "a secret scan",
            RequiredFact::Packages => "a package list",
            RequiredFact::Signatures => "signature checks",
            RequiredFact::Attestations => "attestation checks",
        }
    }

    /// Whether `facts` hold this part.
    pub fn is_in(self, facts: &customs_facts::Facts) -> bool {
        match self {
            RequiredFact::Vulnerabilities => facts.vulnerabilities.is_some(),
            RequiredFact::Config => facts.config.is_some(),
            RequiredFact::Secrets => facts.secrets.is_some(),
            RequiredFact::Packages => facts.packages.is_some(),
            RequiredFact::Signatures => facts.signatures.is_some(),
            RequiredFact::Attestations => facts.attestations.is_some(),
        }
    }
}

/// What stale facts do at admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaleFacts {
    /// Deny by `admission/stale-facts`: the image needs a rescan.
    #[default]
    Deny,
    /// Admit with an `admission/stale-facts` warning.
    Warn,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            store: "sqlite:customs-facts.db".to_owned(),
            token: None,
            token_file: None,
            tls: None,
            // Scanner reports of large images reach a few MiB.
            max_body_bytes: 16 << 20,
            // The admission webhook's own default timeout is 10 s.
            request_timeout_ms: 10_000,
            shutdown_grace_ms: 10_000,
            header_read_timeout_ms: 10_000,
            sweep_interval_secs: 3_600,
            // Scanner databases change daily; a week-old scan misses a week of CVEs.
            stale_after_days: 7,
            reload_interval_secs: 0,
            max_concurrent_evaluations: 2 * std::thread::available_parallelism()
                .map_or(1, std::num::NonZeroUsize::get),
            admission_requires: vec![RequiredFact::Vulnerabilities, RequiredFact::Config],
            admission_stale: StaleFacts::Deny,
        }
    }
}

impl ServerConfig {
    /// Reads a configuration file; fields it lacks keep their defaults.
    pub fn from_file(path: &Path) -> Result<ServerConfig, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        serde_saphyr::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: shown,
            message: e.to_string(),
        })
    }

    /// Reads `token_file` into `token` when a file is named.
    pub fn load_token(&mut self) -> Result<(), ConfigError> {
        let Some(path) = &self.token_file else {
            return Ok(());
        };
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Token {
            path: shown.clone(),
            source,
        })?;
        let token = text.lines().next().unwrap_or("").trim().to_owned();
        if token.len() < 16 {
            return Err(ConfigError::WeakToken { path: shown });
        }
        self.token = Some(token);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_sets_what_it_names_and_unknown_fields_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.yaml");
        std::fs::write(&path, "listen: 0.0.0.0:9000\nstore: sqlite:/tmp/x.db\n").unwrap();
        let config = ServerConfig::from_file(&path).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.store, "sqlite:/tmp/x.db");
        assert_eq!(config.max_body_bytes, 16 << 20);

        std::fs::write(&path, "listen: 0.0.0.0:9000\nstroe: x\n").unwrap();
        let error = ServerConfig::from_file(&path).unwrap_err().to_string();
        assert!(error.contains("stroe"), "{error}");
    }

    #[test]
    fn a_short_token_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "short\n").unwrap();
        let mut config = ServerConfig {
            token_file: Some(path.clone()),
            ..ServerConfig::default()
        };
        assert!(matches!(
            config.load_token(),
            Err(ConfigError::WeakToken { .. })
        ));
        std::fs::write(&path, "0123456789abcdef0123\n").unwrap();
        config.load_token().unwrap();
        assert_eq!(config.token.as_deref(), Some("0123456789abcdef0123"));
    }
}
