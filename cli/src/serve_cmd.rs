//! `customs serve`: the decision API, the admission webhook and the facts
//! store (crate customs-server), with the bundle the policy flags name.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use std::sync::Arc;

use customs_server::{BundleLoader, ReloadHandle, Server, ServerConfig};

#[derive(Args)]
pub struct ServeArgs {
    /// Configuration file (YAML; see docs/server.md). Flags override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// The facts store: sqlite:PATH (created if missing) or postgres://...
    /// [default: sqlite:customs-facts.db].
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// File holding the bearer token of the facts-store endpoints (without
    /// one, they refuse every write).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// The bearer token itself, from the environment (never a flag: it would
    /// show in process listings).
    #[arg(skip = std::env::var("CUSTOMS_SERVER_TOKEN").ok())]
    token_env: Option<String>,
    /// Try to reload the bundle every SECS seconds (a changed directory or
    /// archive, an oci:// tag that moved with --pull always); SIGHUP reloads
    /// at once. A bundle that does not load leaves the old one serving.
    #[arg(long, value_name = "SECS")]
    reload_interval: Option<u64>,
    /// Do not reload when local bundle, policy or waivers files change (by
    /// default they are watched).
    #[arg(long)]
    no_watch: bool,
    /// TLS certificate chain (PEM); with --tls-key, serve HTTPS.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    #[command(flatten)]
    policy: crate::PolicyArgs,
}

pub fn run(args: ServeArgs) -> Result<u8> {
    let mut config = match &args.config {
        Some(path) => ServerConfig::from_file(path)?,
        None => ServerConfig::default(),
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(store) = args.store {
        config.store = store;
    }
    if let Some(path) = args.token_file {
        config.token_file = Some(path);
    }
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        // The flags name the certificate; a client_ca from the file stays.
        let client_ca = config.tls.take().and_then(|tls| tls.client_ca);
        config.tls = Some(customs_server::config::TlsConfig {
            cert,
            key,
            client_ca,
        });
    }
    if let Some(secs) = args.reload_interval {
        config.reload_interval_secs = secs;
    }
    config.load_token()?;
    config.load_trust()?;
    if config.token.is_none()
        && let Some(token) = args.token_env.filter(|t| !t.is_empty())
    {
        if token.len() < 16 {
            bail!("CUSTOMS_SERVER_TOKEN is shorter than 16 characters");
        }
        config.token = Some(token);
    }
    if config.token.is_none() && config.scoped_tokens.is_empty() {
        tracing::warn!(
            "no token: the facts store refuses writes (set token_file, tokens or CUSTOMS_SERVER_TOKEN)"
        );
    }
    // Loaded before the server's runtime starts: pulling an oci:// bundle
    // runs a runtime of its own.
    let (engine, bundle) = crate::load_bundle(&args.policy)?;
    let watched = crate::watch::local_sources(&args.policy);
    let loader: BundleLoader = {
        let engine = engine.clone();
        let policy = args.policy.clone();
        Arc::new(move || crate::bundle_from(&engine, &policy).map_err(|e| format!("{e:#}")))
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    runtime.block_on(async move {
        let server = Server::start(engine, bundle, config)
            .await?
            .with_loader(loader);
        reload_on_hangup(server.reload_handle());
        let _watcher = if args.no_watch {
            None
        } else {
            crate::watch::reload_on_change(server.reload_handle(), &watched)?
        };
        server.serve(shutdown_signal()).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(crate::EXIT_ALLOWED)
}

/// SIGHUP reloads the bundle (the outcome is logged and counted by the server).
fn reload_on_hangup(handle: ReloadHandle) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hangup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP: reload only by --reload-interval");
            return;
        };
        while hangup.recv().await.is_some() {
            let _ = handle.reload().await;
        }
    });
    #[cfg(not(unix))]
    let _ = handle;
}

/// Ctrl-C or SIGTERM (what Kubernetes sends before it kills a pod).
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
