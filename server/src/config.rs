//! The server's configuration: a YAML file (`customs serve --config FILE`),
//! every field optional, overridden by command-line flags.
//!
//! ```yaml
//! listen: 127.0.0.1:8443
//! store: sqlite:/var/lib/customs/facts.db   # or postgres://user@host/db
//! token_file: /etc/customs/token            # bearer token with every scope below
//! tokens:                                   # named tokens, each with its scopes
//!   - name: ci-acme
//!     file: /etc/customs/tokens/ci-acme
//!     facts: ["ghcr.io/acme/*"]             # may record facts for these repositories
//!   - name: registry
//!     file: /etc/customs/tokens/registry
//!     events: true                          # may post registry notifications
//!   - name: audit
//!     file: /etc/customs/tokens/audit
//!     read: true                            # may read images and decision records
//! facts_without_digest: refuse              # or url: file them under the URL's digest
//! tls:
//!   cert: /etc/customs/tls.crt
//!   key: /etc/customs/tls.key
//!   client_ca: /etc/customs/client-ca.crt   # CAs of the client certificates (the API server's)
//! max_body_bytes: 16777216
//! request_timeout_ms: 10000
//! shutdown_grace_ms: 10000
//! header_read_timeout_ms: 10000             # a connection's first request and every header block
//! sweep_interval_secs: 3600                 # 0: no periodic sweep; once per period across replicas
//! decision_retention_days: 365              # 0: keep decision records forever
//! stale_after_days: 7
//! reload_interval_secs: 30                  # also reloads on SIGHUP
//! admission_requires: [vulnerabilities, config]   # facts an admitted image needs
//! admission_stale: deny                     # or warn: facts older than stale_after_days
//! read_images:                              # the server reads images itself (?read= on facts writes)
//!   registries: [registry.example.com]      # the only registries it contacts
//!   timeout_secs: 300                       # one read, pull and layers included
//!   max_concurrent: 1                       # reads at once; more wait
//! trust:                                    # signatures the server checks itself
//!   trusted_keys: [/etc/customs/cosign.pub] # cosign keys (payloads, DSSE, key-signed bundles)
//!   trusted_root: /etc/customs/trusted_root.json   # Sigstore trust root (bundles)
//!   certificate_identity: https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main
//!   certificate_oidc_issuer: https://token.actions.githubusercontent.com
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use customs_verify::evidence::TrustMaterial;
use customs_verify::{Identity, PublicKey, TrustedRoot};
use serde::{Deserialize, Serialize};

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
    /// and of process listings. It has every scope.
    pub token_file: Option<PathBuf>,
    /// Named tokens, each limited to what it is for: a pipeline records facts
    /// for its repositories, a registry posts events, an auditor reads.
    pub tokens: Vec<TokenConfig>,
    /// The tokens in force (`token_file`'s and `tokens`'), read at start-up.
    #[serde(skip)]
    pub scoped_tokens: Vec<ScopedToken>,
    /// Facts that name no image digest, posted to /v1/images/{digest}/facts:
    /// refused (default), or filed under the URL's digest on the writer's word.
    pub facts_without_digest: FactsWithoutDigest,
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
    /// Seconds between sweeps (0: none); replicas sharing a store sweep
    /// once per period between them.
    pub sweep_interval_secs: u64,
    /// Decision records older than this many days are forgotten by the
    /// sweep (0: kept forever).
    pub decision_retention_days: i64,
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
    /// Trust material for the signatures, attestations and Sigstore bundles
    /// among posted tool outputs: what verifies is stored with `trust:
    /// verified`, which the baseline's `signed` and `provenance` rules count.
    pub trust: TrustConfig,
    /// `trust` read from its files at start-up.
    #[serde(skip)]
    pub trust_material: TrustMaterial,
    /// The server reading images from registries itself, for facts writes
    /// that ask (`?read=REGISTRY/REPOSITORY`); without it, none is read.
    pub read_images: Option<ReadImagesConfig>,
}

/// The `read_images` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadImagesConfig {
    /// The registries (`host[:port]`) images may be read from: a writer
    /// names the repository, and no other host is ever contacted. The
    /// server's own credentials are used (Docker's config, podman's
    /// auth.json, `CUSTOMS_REGISTRY_*`).
    pub registries: Vec<String>,
    /// How long one read may take, pulling the layers included; then the
    /// write fails with 504.
    #[serde(default = "ReadImagesConfig::default_timeout_secs")]
    pub timeout_secs: u64,
    /// Reads at once (each pulls and decompresses whole layers); more wait.
    #[serde(default = "ReadImagesConfig::default_max_concurrent")]
    pub max_concurrent: usize,
}

impl ReadImagesConfig {
    fn default_timeout_secs() -> u64 {
        300
    }

    fn default_max_concurrent() -> usize {
        1
    }

    /// Whether images of `registry` may be read.
    pub fn allows(&self, registry: &str) -> bool {
        let registry = normalize_registry(registry);
        self.registries
            .iter()
            .any(|allowed| normalize_registry(allowed) == registry)
    }
}

/// The `trust` section: files of trust material, read at start-up.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrustConfig {
    /// PEM public keys (cosign key signatures, DSSE attestations,
    /// key-signed Sigstore bundles).
    pub trusted_keys: Vec<PathBuf>,
    /// Sigstore's trusted_root.json (Sigstore bundles).
    pub trusted_root: Option<PathBuf>,
    /// The signer a keyless certificate must name, exactly.
    pub certificate_identity: Option<String>,
    /// The OIDC issuer a keyless certificate must name, exactly.
    pub certificate_oidc_issuer: Option<String>,
}

/// One named token in the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Shown in logs and decision records, never the token.
    pub name: String,
    /// The file holding the token (first line, 16 characters or more).
    pub file: PathBuf,
    /// Repository globs (`ghcr.io/acme/*`) this token may record facts for.
    #[serde(default)]
    pub facts: Vec<String>,
    /// May post registry notifications.
    #[serde(default)]
    pub events: bool,
    /// May read stored images and decision records.
    #[serde(default)]
    pub read: bool,
}

/// A token read from its file, with its scopes.
#[derive(Clone)]
pub struct ScopedToken {
    pub name: String,
    pub secret: String,
    /// Repository globs for facts writes; `*` matches every repository and
    /// facts that name none.
    pub facts: Vec<String>,
    pub events: bool,
    pub read: bool,
}

impl std::fmt::Debug for ScopedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedToken")
            .field("name", &self.name)
            .field("facts", &self.facts)
            .field("events", &self.events)
            .field("read", &self.read)
            .finish_non_exhaustive()
    }
}

/// What a token is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Facts,
    Events,
    Read,
}

impl ScopedToken {
    pub fn allows(&self, scope: Scope) -> bool {
        match scope {
            Scope::Facts => !self.facts.is_empty(),
            Scope::Events => self.events,
            Scope::Read => self.read,
        }
    }

    /// Whether facts this token recorded may admit an image of `repository`
    /// (`registry/path`, as [`image_repository`] gives it).
    pub fn may_vouch_for(&self, repository: &str) -> bool {
        self.facts
            .iter()
            .any(|glob| glob == "*" || wildmatch::WildMatch::new(glob).matches(repository))
    }

    /// Whether this token may record facts about `repository`
    /// (`registry/path`; `None` when the facts name none).
    pub fn may_record(&self, repository: Option<&str>) -> bool {
        self.facts.iter().any(|glob| {
            glob == "*" || repository.is_some_and(|r| wildmatch::WildMatch::new(glob).matches(r))
        })
    }
}

/// `registry/path` of an image reference, the way repository globs name
/// it: `nginx@sha256:...` is `docker.io/library/nginx`, a tag or digest is
/// dropped, `index.docker.io` is `docker.io`.
pub fn image_repository(image: &str) -> String {
    let name = image.split('@').next().unwrap_or(image);
    let name = match (name.rfind(':'), name.rfind('/')) {
        (Some(colon), slash) if slash.is_none_or(|slash| colon > slash) => &name[..colon],
        _ => name,
    };
    match name.split_once('/') {
        None => format!("docker.io/library/{name}"),
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            format!("{}/{rest}", normalize_registry(first))
        }
        Some(_) => format!("docker.io/{name}"),
    }
}

/// Docker Hub's other names are `docker.io`.
pub fn normalize_registry(registry: &str) -> &str {
    match registry {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        other => other,
    }
}

/// See [`ServerConfig::facts_without_digest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactsWithoutDigest {
    #[default]
    Refuse,
    Url,
}

/// A part of the facts admission can require (shared with `customs eval --require`).
pub use customs_facts::RequiredFact;

/// What stale facts do at admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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
    /// CA certificates (a PEM bundle) that sign the client certificates the
    /// server accepts, typically the one the Kubernetes API server presents
    /// to the admission webhook. A client that presents a certificate must
    /// present one these signed, or its handshake fails; clients without one
    /// still connect (probes, pipelines with a bearer token), but the
    /// admission webhook does not take them for the API server.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            store: "sqlite:customs-facts.db".to_owned(),
            token: None,
            token_file: None,
            tokens: Vec::new(),
            scoped_tokens: Vec::new(),
            facts_without_digest: FactsWithoutDigest::Refuse,
            tls: None,
            // Scanner reports of large images reach a few MiB.
            max_body_bytes: 16 << 20,
            // The admission webhook's own default timeout is 10 s.
            request_timeout_ms: 10_000,
            shutdown_grace_ms: 10_000,
            header_read_timeout_ms: 10_000,
            sweep_interval_secs: 3_600,
            // A year: audits ask about the last one.
            decision_retention_days: 365,
            // Scanner databases change daily; a week-old scan misses a week of CVEs.
            stale_after_days: 7,
            reload_interval_secs: 0,
            max_concurrent_evaluations: 2 * std::thread::available_parallelism()
                .map_or(1, std::num::NonZeroUsize::get),
            admission_requires: vec![RequiredFact::Vulnerabilities, RequiredFact::Config],
            admission_stale: StaleFacts::Deny,
            trust: TrustConfig::default(),
            trust_material: TrustMaterial::default(),
            read_images: None,
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

    /// Reads `token_file` into `token` when a file is named, and every named
    /// token's file; then makes the list of tokens in force.
    pub fn load_token(&mut self) -> Result<(), ConfigError> {
        if let Some(path) = &self.token_file {
            self.token = Some(read_token(path)?);
        }
        self.scoped_tokens.clear();
        for named in &self.tokens {
            let secret = read_token(&named.file)?;
            if named.name == "token_file" || self.scoped_tokens.iter().any(|t| t.name == named.name)
            {
                return Err(ConfigError::Invalid {
                    path: named.file.display().to_string(),
                    message: format!(
                        "token name {:?} is taken: records name the token that wrote them, so each name is one token",
                        named.name
                    ),
                });
            }
            if self.token.as_ref() == Some(&secret)
                || self.scoped_tokens.iter().any(|t| t.secret == secret)
            {
                return Err(ConfigError::Invalid {
                    path: named.file.display().to_string(),
                    message: format!(
                        "token {:?} is the same secret as another token: each needs its own",
                        named.name
                    ),
                });
            }
            if !named.facts.is_empty() || named.events || named.read {
                self.scoped_tokens.push(ScopedToken {
                    name: named.name.clone(),
                    secret,
                    facts: named.facts.clone(),
                    events: named.events,
                    read: named.read,
                });
            } else {
                return Err(ConfigError::Invalid {
                    path: named.file.display().to_string(),
                    message: format!("token {:?} has no scope (facts, events, read)", named.name),
                });
            }
        }
        Ok(())
    }

    /// Reads the `trust` section's files into `trust_material`.
    pub fn load_trust(&mut self) -> Result<(), ConfigError> {
        let trust = &self.trust;
        let invalid = |path: &Path, message: String| ConfigError::Invalid {
            path: path.display().to_string(),
            message,
        };
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| ConfigError::Read {
                path: path.display().to_string(),
                source,
            })
        };
        let mut material = TrustMaterial::default();
        for path in &trust.trusted_keys {
            material.keys.push(
                PublicKey::from_pem(&path.display().to_string(), &read(path)?)
                    .map_err(|e| invalid(path, format!("trust.trusted_keys: {e}")))?,
            );
        }
        if let Some(path) = &trust.trusted_root {
            material.trusted_root = Some(
                TrustedRoot::from_json(&path.display().to_string(), &read(path)?)
                    .map_err(|e| invalid(path, format!("trust.trusted_root: {e}")))?,
            );
        }
        material.identity = match (&trust.certificate_identity, &trust.certificate_oidc_issuer) {
            (Some(identity), Some(issuer)) if material.trusted_root.is_some() => Some(Identity {
                identity: identity.clone(),
                issuer: issuer.clone(),
            }),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid {
                    path: "trust".to_owned(),
                    message: "certificate_identity and certificate_oidc_issuer go together, with trusted_root".to_owned(),
                });
            }
        };
        self.trust_material = material;
        Ok(())
    }

    /// The tokens in force: the named ones and `token` (every scope).
    pub fn all_tokens(&self) -> impl Iterator<Item = ScopedToken> + '_ {
        self.token
            .iter()
            .map(|secret| ScopedToken {
                name: "token_file".to_owned(),
                secret: secret.clone(),
                facts: vec!["*".to_owned()],
                events: true,
                read: true,
            })
            .chain(self.scoped_tokens.iter().cloned())
    }
}

fn read_token(path: &Path) -> Result<String, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Token {
        path: shown.clone(),
        source,
    })?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.len() < 16 {
        return Err(ConfigError::WeakToken { path: shown });
    }
    Ok(token)
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
    fn image_repositories_as_globs_name_them() {
        for (image, repository) in [
            ("nginx@sha256:00", "docker.io/library/nginx"),
            ("nginx:1.27", "docker.io/library/nginx"),
            ("acme/app:1", "docker.io/acme/app"),
            ("index.docker.io/acme/app", "docker.io/acme/app"),
            ("ghcr.io/acme/api@sha256:00", "ghcr.io/acme/api"),
            ("localhost:5000/app:2@sha256:00", "localhost:5000/app"),
            (
                "registry.local:5000/team/app",
                "registry.local:5000/team/app",
            ),
        ] {
            assert_eq!(image_repository(image), repository, "{image}");
        }
    }

    #[test]
    fn tokens_need_their_own_names_and_secrets() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a", "b"] {
            std::fs::write(dir.path().join(name), format!("{name}-0123456789abcdef\n")).unwrap();
        }
        let token = |name: &str, file: &str| TokenConfig {
            name: name.to_owned(),
            file: dir.path().join(file),
            facts: vec!["*".to_owned()],
            events: false,
            read: false,
        };
        let mut config = ServerConfig {
            tokens: vec![token("ci", "a"), token("ci", "b")],
            ..ServerConfig::default()
        };
        let error = config.load_token().unwrap_err().to_string();
        assert!(error.contains("token name \"ci\" is taken"), "{error}");
        config.tokens = vec![token("ci", "a"), token("audit", "a")];
        let error = config.load_token().unwrap_err().to_string();
        assert!(error.contains("same secret"), "{error}");
        config.tokens = vec![token("ci", "a"), token("audit", "b")];
        config.load_token().unwrap();
        assert_eq!(config.scoped_tokens.len(), 2);
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
