//! Hot reload of the bundle. A new bundle is loaded and verified in full
//! (by the loader the embedder gives: files read, digests and signatures
//! checked, policies compiled) before it replaces the old one in a single
//! atomic swap; requests in flight finish on the bundle they started with. A
//! loader that fails leaves the old bundle serving, and says so in the log
//! and the metrics.

use std::sync::Arc;

use customs::Bundle;

use crate::AppState;

/// Loads the bundle again from wherever it came from. It runs on a thread of
/// its own, outside the server's runtime (a registry pull may start its own).
pub type BundleLoader = Arc<dyn Fn() -> Result<Bundle, String> + Send + Sync>;

/// The bundle serving now, with its identity.
pub(crate) struct Active {
    pub bundle: Bundle,
    /// "NAME VERSION sha256:..." (see [`crate::bundle_id`]).
    pub id: String,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    /// The loader gave a different bundle, now serving.
    Replaced { from: String, to: String },
    /// The same policies as before: nothing changed.
    Unchanged,
}

/// Reloads the bundle of a running server (SIGHUP, a timer, a test).
#[derive(Clone)]
pub struct ReloadHandle {
    pub(crate) state: Arc<AppState>,
}

impl ReloadHandle {
    /// Loads a new bundle and swaps it in; concurrent calls run one at a time.
    pub async fn reload(&self) -> Result<Reloaded, String> {
        let state = &self.state;
        let Some(loader) = self.loader() else {
            return Err("this server has no bundle loader: nothing to reload from".to_owned());
        };
        let _one_at_a_time = state.reloading.lock().await;
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = tx.send(loader());
        });
        let loaded = rx
            .await
            .map_err(|_| "the bundle loader panicked".to_owned())
            .and_then(|result| result);
        let outcome = match loaded {
            Ok(bundle) => {
                let id = crate::bundle_id(&bundle);
                let from = state.active.load().id.clone();
                if id == from {
                    Ok(Reloaded::Unchanged)
                } else {
                    state.active.store(Arc::new(Active {
                        bundle,
                        id: id.clone(),
                    }));
                    tracing::info!(%from, to = %id, "bundle reloaded");
                    Ok(Reloaded::Replaced { from, to: id })
                }
            }
            Err(error) => {
                tracing::error!(%error, "the new bundle does not load; the old one keeps serving");
                Err(error)
            }
        };
        let label = match &outcome {
            Ok(Reloaded::Replaced { .. }) => "replaced",
            Ok(Reloaded::Unchanged) => "unchanged",
            Err(_) => "failed",
        };
        state
            .metrics
            .reloads
            .get_or_create(&crate::metrics::ReloadLabels { result: label })
            .inc();
        outcome
    }

    fn loader(&self) -> Option<BundleLoader> {
        self.state
            .loader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn has_loader(&self) -> bool {
        self.loader().is_some()
    }

    /// The identity of the bundle serving now.
    pub fn bundle_id(&self) -> String {
        self.state.active.load().id.clone()
    }
}
