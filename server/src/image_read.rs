//! Images the server reads itself, for a facts write that asks with
//! `?read=REGISTRY/REPOSITORY`: the image at that repository and the URL's
//! digest is pulled and read (its files, executables and packages, and
//! what the registry stores beside it), then merged with the tool outputs
//! posted with the write, as `customs eval oci://...` does.
//!
//! Only registries the configuration lists are contacted, with the
//! server's credentials, for a repository the writer may record facts for;
//! reads run a few at a time, within their own time limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use customs_registry::{ReadImage, Registry};

use crate::AppState;
use crate::api::ApiError;
use crate::config::{ScopedToken, image_repository};

/// Reads image `digest` of `repository` for `writer`.
pub async fn read(
    state: &AppState,
    writer: &ScopedToken,
    repository: &str,
    digest: &str,
) -> Result<ReadImage, ApiError> {
    let Some(config) = &state.config.read_images else {
        return Err(ApiError::bad_request(
            "read=: this server reads no images (its configuration has no read_images section)",
        ));
    };
    let last = repository.rsplit('/').next().unwrap_or_default();
    if repository.contains('@') || last.contains(':') || !repository.contains('/') {
        return Err(ApiError::bad_request(format!(
            "read={repository:?}: name the repository as REGISTRY/PATH, without tag or digest (the digest is the URL's)"
        )));
    }
    let normalized = image_repository(repository);
    let registry = normalized.split('/').next().unwrap_or_default();
    if !config.allows(registry) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "read={repository}: this server reads images from {} only (read_images.registries)",
                config.registries.join(", ")
            ),
        ));
    }
    if !writer.may_record(Some(&normalized)) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "token {:?} may record facts for {}, not for {normalized}",
                writer.name,
                writer.facts.join(", ")
            ),
        ));
    }
    let limit = Duration::from_secs(config.timeout_secs);
    let reference = format!("{repository}@{digest}");
    let stop = Arc::new(AtomicBool::new(false));
    let options = customs_image::ReadOptions::default().cancel(stop.clone());
    let slots = state.image_reads.clone();
    let pinned = reference.clone();
    let timeout_secs = config.timeout_secs;
    // The deadline is the task's own, so a client that goes away does not
    // leave a read running without one. Past it, the pulls stop at their
    // next await and the layer read at its next read of the stream.
    let task = tokio::spawn(async move {
        let read = async {
            let _slot = slots
                .acquire_owned()
                .await
                .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down"))?;
            let read = Registry::new(None)
                .read_image(&pinned, &options)
                .await
                .map_err(|e| {
                    tracing::warn!(reference = pinned, error = %e, "image read failed");
                    ApiError::new(StatusCode::BAD_GATEWAY, e.to_string())
                })?;
            ReadImage::from_registry(format!("oci://{pinned}"), read)
                .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()))
        };
        match tokio::time::timeout(limit, read).await {
            Ok(read) => read,
            Err(_) => {
                stop.store(true, Ordering::Relaxed);
                Err(ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!(
                        "{pinned}: not read within {timeout_secs} s (read_images.timeout_secs)"
                    ),
                ))
            }
        }
    });
    let image = task.await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{reference}: the read stopped: {e}"),
        )
    })??;
    // An index stands for every platform: each is recorded by its own digest.
    if image.platforms.len() > 1 {
        let listed: Vec<String> = image
            .platforms
            .iter()
            .map(|facts| {
                format!(
                    "{} ({})",
                    facts.image.digest.as_deref().unwrap_or("?"),
                    customs_registry::platform_name(facts)
                )
            })
            .collect();
        return Err(ApiError::bad_request(format!(
            "{digest} is an image index (a multi-platform manifest list): read each platform manifest by its digest: {}",
            listed.join(", ")
        )));
    }
    Ok(image)
}
