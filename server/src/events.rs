//! Registry notifications: the Distribution registry's webhook
//! (`notifications.endpoints` in its configuration; Debian's docker-registry)
//! and Harbor's `PUSH_ARTIFACT` webhook. Every pushed manifest is recorded,
//! so that a digest pushed without facts from the pipeline shows up as
//! unevaluated in sweeps. Blob pushes, pulls and deletes are counted and
//! otherwise ignored.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::api::{ApiError, authorize, check_digest};
use crate::store::Push;

/// The events are read one by one: one the server cannot read is skipped
/// and reported, not allowed to reject the batch (which the registry would
/// send again, forever).
#[derive(Deserialize)]
struct Envelope {
    events: Vec<Value>,
}

/// Most skipped events described in an answer; the rest are counted.
const MAX_PROBLEMS_SHOWN: usize = 10;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DistributionEvent {
    action: String,
    #[serde(default)]
    timestamp: Option<String>,
    target: Target,
    #[serde(default)]
    request: Option<EventRequest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    #[serde(default)]
    media_type: String,
    #[serde(default)]
    digest: Option<String>,
    repository: String,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
struct EventRequest {
    #[serde(default)]
    host: Option<String>,
}

#[derive(Deserialize)]
struct HarborEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    occur_at: Option<i64>,
    event_data: HarborData,
}

#[derive(Deserialize)]
struct HarborData {
    #[serde(default)]
    resources: Vec<HarborResource>,
    repository: HarborRepository,
}

#[derive(Deserialize)]
struct HarborResource {
    digest: String,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    resource_url: Option<String>,
}

#[derive(Deserialize)]
struct HarborRepository {
    repo_full_name: String,
}

/// Manifests and indexes (OCI and Docker), not blobs.
fn is_manifest(media_type: &str) -> bool {
    media_type.contains("manifest") || media_type.contains("image.index")
}

/// `host[:port]` of a URL or reference.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split('/').next()?;
    (!host.is_empty()).then(|| host.to_owned())
}

async fn body_json<T: serde::de::DeserializeOwned>(
    state: &AppState,
    request: Request,
    what: &str,
) -> Result<T, ApiError> {
    authorize(state, request.headers(), crate::config::Scope::Events)?;
    let body = axum::body::to_bytes(request.into_body(), state.config.max_body_bytes)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the {what} is larger than {} bytes",
                    state.config.max_body_bytes
                ),
            )
        })?;
    serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("not a {what}: {e}")))
}

async fn record(
    state: &AppState,
    pushes: Vec<Push>,
    ignored: usize,
    problems: Vec<String>,
) -> Result<Json<Value>, ApiError> {
    let recorded = pushes.len();
    for problem in &problems {
        tracing::warn!(problem = %problem, "registry event skipped");
    }
    for push in &pushes {
        state
            .store
            .put_push(push)
            .await
            .map_err(|e| ApiError::store(state, e))?;
        tracing::info!(repository = %push.repository, digest = %push.digest, source = push.source, "push recorded");
    }
    let skipped = problems.len();
    let shown: Vec<&String> = problems.iter().take(MAX_PROBLEMS_SHOWN).collect();
    Ok(Json(json!({
        "recorded": recorded,
        "ignored": ignored,
        "skipped": skipped,
        "problems": shown,
    })))
}

pub async fn distribution(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let envelope: Envelope = body_json(&state, request, "Distribution notification").await?;
    let now = chrono::Utc::now().timestamp();
    let mut pushes = Vec::new();
    let mut ignored = 0;
    let mut problems = Vec::new();
    for (i, event) in envelope.events.into_iter().enumerate() {
        let event: DistributionEvent = match serde_json::from_value(event) {
            Ok(event) => event,
            Err(e) => {
                problems.push(format!("events[{i}]: not a Distribution event: {e}"));
                continue;
            }
        };
        let target = event.target;
        let digest = match target.digest {
            Some(digest) if event.action == "push" && is_manifest(&target.media_type) => digest,
            _ => {
                ignored += 1;
                continue;
            }
        };
        if let Err(e) = check_digest(&digest) {
            problems.push(format!("events[{i}]: {}", e.message));
            continue;
        }
        let registry = event
            .request
            .and_then(|r| r.host)
            .or_else(|| target.url.as_deref().and_then(host_of))
            .unwrap_or_default();
        let pushed_at = event
            .timestamp
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or(now, |t| t.timestamp());
        pushes.push(Push {
            repository: target.repository,
            digest,
            tag: target.tag.filter(|t| !t.is_empty()),
            registry,
            source: "distribution".to_owned(),
            pushed_at,
        });
    }
    record(&state, pushes, ignored, problems).await
}

pub async fn harbor(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let event: HarborEvent = body_json(&state, request, "Harbor webhook event").await?;
    if event.kind != "PUSH_ARTIFACT" {
        return record(&state, Vec::new(), 1, Vec::new()).await;
    }
    let pushed_at = event
        .occur_at
        .unwrap_or_else(|| chrono::Utc::now().timestamp());
    let repository = event.event_data.repository.repo_full_name;
    let mut pushes = Vec::new();
    let mut problems = Vec::new();
    for (i, resource) in event.event_data.resources.into_iter().enumerate() {
        if let Err(e) = check_digest(&resource.digest) {
            problems.push(format!("event_data.resources[{i}]: {}", e.message));
            continue;
        }
        pushes.push(Push {
            repository: repository.clone(),
            digest: resource.digest,
            tag: resource.tag.filter(|t| !t.is_empty()),
            registry: resource
                .resource_url
                .as_deref()
                .and_then(host_of)
                .unwrap_or_default(),
            source: "harbor".to_owned(),
            pushed_at,
        });
    }
    record(&state, pushes, 0, problems).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_media_types() {
        assert_eq!(
            host_of("http://127.0.0.1:5000/v2/app/manifests/sha256:x").as_deref(),
            Some("127.0.0.1:5000")
        );
        assert_eq!(
            host_of("harbor.example.com/library/app:v1").as_deref(),
            Some("harbor.example.com")
        );
        assert!(is_manifest("application/vnd.oci.image.manifest.v1+json"));
        assert!(is_manifest("application/vnd.oci.image.index.v1+json"));
        assert!(is_manifest(
            "application/vnd.docker.distribution.manifest.list.v2+json"
        ));
        assert!(!is_manifest("application/vnd.oci.image.layer.v1.tar+gzip"));
        assert!(!is_manifest("application/octet-stream"));
    }
}
