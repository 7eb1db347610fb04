//! # customs-server
//!
//! `customs serve`: the decision API (`POST /v1/evaluate`), the facts store
//! pipelines write to (`POST /v1/images/{digest}/facts`), and the Kubernetes
//! admission webhook (`POST /v1/admission`) that admits only images whose
//! digest has facts from the pipeline and passes the bundle. Every decision
//! goes through the same library call as `customs eval`, and every failure on
//! the admission path denies.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use customs::{Engine, EngineConfig};
//! use customs_server::{Server, ServerConfig};
//!
//! let engine = Engine::new(EngineConfig::default())?;
//! let bundle = engine.baseline()?;
//! let config = ServerConfig::default();
//! let server = Server::start(engine, bundle, config).await?;
//! server.serve(async { tokio::signal::ctrl_c().await.ok(); }).await?;
//! # Ok(()) }
//! ```

mod admission;
mod api;
mod client_auth;
pub mod config;
pub mod decisions;
mod events;
mod image_read;
mod metrics;
mod reload;
pub mod store;
pub mod sweep;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use customs::{Bundle, Engine};

pub use api::{ROUTES, parse_time};
pub use config::ServerConfig;
pub use reload::{BundleLoader, ReloadHandle, Reloaded};
pub use store::{ImageRecord, Store, StoreError};

/// The OpenAPI description of the HTTP API, served at /openapi.json.
pub const OPENAPI: &str = include_str!("../openapi.json");

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot use the TLS certificate {cert} with key {key}: {source}")]
    Tls {
        cert: String,
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot use the client CA bundle {path} (tls.client_ca): {source}")]
    ClientCa {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the server stopped: {0}")]
    Serve(#[source] std::io::Error),
}

/// What every request handler shares.
pub(crate) struct AppState {
    pub engine: Engine,
    /// The bundle serving now; a reload swaps it whole.
    pub active: arc_swap::ArcSwap<reload::Active>,
    pub loader: std::sync::Mutex<Option<BundleLoader>>,
    pub reloading: tokio::sync::Mutex<()>,
    /// Evaluations running at once; more wait their turn (within the
    /// request timeout) rather than pile up threads and instances.
    pub evaluations: tokio::sync::Semaphore,
    /// Admission's own slots, so decision-API traffic cannot starve it.
    pub admissions: tokio::sync::Semaphore,
    /// Image reads at once (`read_images.max_concurrent`).
    pub image_reads: Arc<tokio::sync::Semaphore>,
    pub store: Store,
    /// Writes every admission and facts-store decision to the store.
    pub recorder: decisions::Recorder,
    pub metrics: metrics::Metrics,
    /// The bearer tokens in force, with their scopes.
    pub tokens: Vec<config::ScopedToken>,
    pub config: ServerConfig,
}

/// A server whose store is open and whose bundle is loaded, ready to serve.
pub struct Server {
    state: Arc<AppState>,
}

impl Server {
    /// Opens the store (applying migrations) and prepares the routes.
    pub async fn start(
        engine: Engine,
        bundle: Bundle,
        config: ServerConfig,
    ) -> Result<Server, ServerError> {
        let store = Store::open(&config.store).await?;
        let metrics = metrics::Metrics::new();
        if let Ok(count) = store.count().await {
            metrics.store_images.set(count);
        }
        let id = bundle_id(&bundle);
        Ok(Server {
            state: Arc::new(AppState {
                engine,
                active: arc_swap::ArcSwap::from_pointee(reload::Active { bundle, id }),
                loader: std::sync::Mutex::new(None),
                reloading: tokio::sync::Mutex::new(()),
                evaluations: tokio::sync::Semaphore::new(config.max_concurrent_evaluations.max(1)),
                admissions: tokio::sync::Semaphore::new(config.max_concurrent_evaluations.max(1)),
                image_reads: Arc::new(tokio::sync::Semaphore::new(
                    config
                        .read_images
                        .as_ref()
                        .map_or(1, |read| read.max_concurrent.max(1)),
                )),
                recorder: decisions::Recorder::start(store.clone()),
                store,
                metrics,
                tokens: config.all_tokens().collect(),
                config,
            }),
        })
    }

    /// Gives the server a way to load its bundle again: on
    /// [`ReloadHandle::reload`] (SIGHUP in `customs serve`) and, with
    /// `reload_interval_secs`, periodically (a changed file, a tag that moved).
    pub fn with_loader(self, loader: BundleLoader) -> Server {
        *self
            .state
            .loader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(loader);
        self
    }

    pub fn reload_handle(&self) -> ReloadHandle {
        ReloadHandle {
            state: self.state.clone(),
        }
    }

    /// The routes, for embedding in another axum application or for tests.
    pub fn router(&self) -> axum::Router {
        api::router(self.state.clone())
    }

    /// Serves on the configured address (TLS when a certificate is
    /// configured) until `shutdown` completes; requests in flight then get
    /// `shutdown_grace` to finish.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let addr = self.state.config.listen;
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|source| ServerError::Listen { addr, source })?;
        self.serve_on(listener, shutdown).await
    }

    /// As [`Server::serve`], on a listener the caller bound (port 0 in tests).
    pub async fn serve_on(
        self,
        listener: std::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let config = &self.state.config;
        let grace = Duration::from_millis(config.shutdown_grace_ms);
        // A client that opens connections and sends nothing, or a byte a
        // minute, loses them after this (see `with_timeouts`).
        let header_limit = Duration::from_millis(config.header_read_timeout_ms);
        let addr = listener
            .local_addr()
            .map_err(|source| ServerError::Listen {
                addr: config.listen,
                source,
            })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| ServerError::Listen { addr, source })?;
        // Certificates first: a bad one fails before any background task starts.
        let rustls = match &config.tls {
            Some(tls) => Some(axum_server::tls_rustls::RustlsConfig::from_config(
                Arc::new(tls_config(&tls.cert, &tls.key, tls.client_ca.as_deref())?),
            )),
            None => None,
        };
        let app = self.router().into_make_service();
        let handle = axum_server::Handle::new();
        let stopper = handle.clone();
        let store = self.state.store.clone();
        let sweeper = (config.sweep_interval_secs > 0).then(|| {
            tokio::spawn(sweep_periodically(
                self.state.clone(),
                Duration::from_secs(config.sweep_interval_secs),
            ))
        });
        let poller =
            (config.reload_interval_secs > 0 && self.reload_handle().has_loader()).then(|| {
                let handle = self.reload_handle();
                let every = Duration::from_secs(config.reload_interval_secs);
                tokio::spawn(async move {
                    let mut ticker = tokio::time::interval(every);
                    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    ticker.tick().await; // the first tick is now: the bundle was just loaded
                    loop {
                        ticker.tick().await;
                        let _ = handle.reload().await; // logged and counted inside
                    }
                })
            });
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing requests in flight");
            stopper.graceful_shutdown(Some(grace));
        });
        let result = match rustls {
            Some(rustls) => {
                tracing::info!(%addr, "serving HTTPS");
                // Requests on a connection whose client certificate rustls
                // verified (tls.client_ca) carry a `ClientCertificate`.
                let server = axum_server::from_tcp_rustls(listener, rustls)
                    .map_err(ServerError::Serve)?
                    .map(client_auth::ClientCertAcceptor::new)
                    .handle(handle);
                with_timeouts(server, header_limit).serve(app).await
            }
            None => {
                tracing::info!(%addr, "serving HTTP");
                let server = axum_server::from_tcp(listener)
                    .map_err(ServerError::Serve)?
                    .handle(handle);
                with_timeouts(server, header_limit).serve(app).await
            }
        };
        for task in [sweeper, poller].into_iter().flatten() {
            task.abort();
        }
        store.close().await;
        result.map_err(ServerError::Serve)
    }
}

/// A listener's connection timeouts: its first request, and every request's
/// headers, must arrive within `limit`.
fn with_timeouts<A: axum_server::Address, Acc>(
    mut server: axum_server::Server<A, Acc>,
    limit: Duration,
) -> axum_server::Server<A, Acc> {
    server.http_builder().http1().header_read_timeout(limit);
    server.first_request_timeout(limit)
}

/// The server's sweep: once per `interval` across every replica sharing the
/// store (see [`Store::begin_sweep`]), re-evaluate the store against the
/// bundle (writing the new decisions), publish the stale and unevaluated
/// counts as metrics, and forget decision records past their retention.
/// Replicas look every tenth of the interval (1 s to 60 s) whether a sweep is
/// due, so one that dies mid-sweep is taken over within that. A failed sweep
/// is logged and counted; the next look runs it again.
async fn sweep_periodically(state: Arc<AppState>, interval: Duration) {
    let look_every = (interval / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let period = i64::try_from(interval.as_secs()).unwrap_or(i64::MAX);
    let replica = format!(
        "{}/{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "customs".to_owned()),
        std::process::id()
    );
    let mut ticker = tokio::time::interval(look_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = chrono::Utc::now().timestamp();
        let lease = match state.store.begin_sweep(&replica, now, period).await {
            Ok(Some(lease)) => lease,
            Ok(None) => continue,
            Err(error) => {
                state.metrics.store_errors.inc();
                tracing::error!(%error, "cannot tell whether a sweep is due");
                continue;
            }
        };
        // A failed sweep counts as done (logged and counted): retrying a
        // whole re-evaluation every look would only add load to a failing store.
        sweep_once(&state, now).await;
        let finished = chrono::Utc::now().timestamp();
        if let Err(error) = state.store.end_sweep(lease, finished).await {
            state.metrics.store_errors.inc();
            tracing::error!(%error, "cannot record the sweep's end");
        }
    }
}

/// One sweep; logged and counted.
async fn sweep_once(state: &Arc<AppState>, now: i64) {
    let worker = state.clone();
    let handle = tokio::runtime::Handle::current();
    // Evaluation is CPU work: on a blocking thread, not a request worker.
    let outcome = tokio::task::spawn_blocking(move || {
        let options = sweep::SweepOptions {
            stale_after_secs: worker.config.stale_after_days.saturating_mul(86_400),
            now,
            update: true,
        };
        let active = worker.active.load_full();
        handle.block_on(sweep::sweep(
            &worker.engine,
            &active.bundle,
            &active.id,
            &worker.store,
            &options,
        ))
    })
    .await;
    let report = match outcome {
        Ok(Ok(report)) => report,
        Ok(Err(error)) => {
            state.metrics.store_errors.inc();
            tracing::error!(%error, "sweep failed");
            return;
        }
        Err(error) => {
            tracing::error!(%error, "sweep did not finish");
            return;
        }
    };
    state.metrics.stale_images.set(report.stale.len() as i64);
    state
        .metrics
        .unevaluated_images
        .set(report.unevaluated.len() as i64);
    tracing::info!(
        images = report.images.len(),
        stale = report.stale.len(),
        unevaluated = report.unevaluated.len(),
        "sweep done"
    );
    let retention = state.config.decision_retention_days;
    if retention > 0 {
        let before = now.saturating_sub(retention.saturating_mul(86_400));
        match state.store.prune_decisions(before).await {
            Ok(0) => {}
            Ok(gone) => tracing::info!(gone, "decision records past their retention forgotten"),
            Err(error) => {
                state.metrics.store_errors.inc();
                tracing::error!(%error, "cannot forget old decision records");
            }
        }
    }
}

/// A rustls server configuration from PEM files, with the aws-lc-rs provider
/// (chosen here rather than installed process-wide, so embedders keep theirs).
/// With `client_ca`, client certificates are asked for and verified against
/// it, but not required (see `client_auth`).
fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
    client_ca: Option<&std::path::Path>,
) -> Result<rustls::ServerConfig, ServerError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let error = |message: String| ServerError::Tls {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
        source: std::io::Error::other(message),
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| error(format!("certificate: {e}")))?;
    if chain.is_empty() {
        return Err(error(
            "the certificate file holds no certificate".to_owned(),
        ));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| error(format!("key: {e}")))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| error(e.to_string()))?;
    let builder = match client_ca {
        Some(path) => builder.with_client_cert_verifier(client_auth::verifier(path, provider)?),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key_der)
        .map_err(|e| error(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// "NAME VERSION sha256:..." over everything that changes a decision: each
/// policy's digest, parameters and enforcement, and the waivers. Two bundles
/// with the same name but other contents are told apart in the store, and a
/// reload that changed only a waiver or a parameter is not "unchanged".
pub fn bundle_id(bundle: &Bundle) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    // Every field is length-prefixed so no two contents hash alike.
    let mut field = |text: &str| {
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    };
    for entry in bundle.entries() {
        field(entry.policy().sha256());
        field(&format!("{:?}", entry.enforcement()));
        for (key, value) in entry.params() {
            field(key);
            field(value);
        }
        field("");
    }
    for waiver in bundle.waivers().into_iter().flat_map(|w| w.iter()) {
        for text in [
            &waiver.rule,
            &waiver.image,
            waiver.subject.as_deref().unwrap_or("\0"),
            &waiver.reason,
            &waiver.owner,
            &waiver.expires,
        ] {
            field(text);
        }
    }
    format!(
        "{} {} sha256:{}",
        bundle.name(),
        bundle.version().unwrap_or("-"),
        hex::encode(hasher.finalize())
    )
}
