//! The Kubernetes validating admission webhook: an AdmissionReview v1 for a
//! Pod or a pod-bearing workload is admitted only when every container image
//! is pinned by digest, the pipeline recorded complete and fresh facts for
//! that digest, and those facts with the workload's security context pass
//! the bundle. Anything else is denied with the reason in the message: a tag
//! without a digest, an unknown digest (an image that skipped the pipeline),
//! facts without a vulnerability scan or older than `stale_after_days`, a
//! store that does not answer, a review customs cannot read.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use customs_facts::import::{Format, Origin, import_as};
use customs_facts::{Facts, Workload};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::api::{ApiError, Lane, check_digest, decide};
use crate::config::StaleFacts;
use crate::metrics::DecisionLabels;

/// The admission "policy" whose rules the webhook applies before the bundle.
pub const POLICY: &str = "admission";
/// Kubernetes shows the message to the user; keep it readable.
const MAX_MESSAGE: usize = 4096;
const MAX_WARNINGS: usize = 20;

#[derive(Deserialize)]
struct Review {
    request: Option<ReviewRequest>,
}

#[derive(Deserialize)]
struct ReviewRequest {
    uid: String,
}

pub async fn review(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let body = match axum::body::to_bytes(request.into_body(), state.config.max_body_bytes).await {
        Ok(body) => body,
        Err(_) => {
            return ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the AdmissionReview is larger than {} bytes (max_body_bytes)",
                    state.config.max_body_bytes
                ),
            )
            .into_response();
        }
    };
    // Without a uid there is nobody to answer: a 400, which the API server
    // treats as a failure (failurePolicy: Fail denies).
    let uid = match serde_json::from_slice::<Review>(&body) {
        Ok(Review {
            request: Some(ReviewRequest { uid }),
        }) => uid,
        Ok(_) => {
            return ApiError::bad_request("the AdmissionReview has no request.uid").into_response();
        }
        Err(e) => {
            return ApiError::bad_request(format!("not an AdmissionReview: {e}")).into_response();
        }
    };
    let verdict = judge(&state, &body).await;
    let outcome = if verdict.denials.is_empty() {
        "allow"
    } else {
        "deny"
    };
    state
        .metrics
        .decisions
        .get_or_create(&DecisionLabels {
            endpoint: "admission",
            decision: outcome,
        })
        .inc();
    Json(answer(&uid, &verdict)).into_response()
}

#[derive(Default)]
struct Verdict {
    denials: Vec<String>,
    warnings: Vec<String>,
}

async fn judge(state: &Arc<AppState>, body: &[u8]) -> Verdict {
    let mut verdict = Verdict::default();
    let review = match import_as(
        &Origin::named("AdmissionReview"),
        body,
        Format::AdmissionReview,
    ) {
        Ok(facts) => facts,
        Err(e) => {
            verdict.denials.push(format!("{POLICY}: {e}"));
            return verdict;
        }
    };
    let Some(workload) = review.workload else {
        verdict
            .denials
            .push(format!("{POLICY}: the review carries no workload"));
        return verdict;
    };
    // Each image once, in the order the containers name them.
    let mut images: Vec<&str> = Vec::new();
    for container in &workload.containers {
        if !images.contains(&container.image.as_str()) {
            images.push(&container.image);
        }
    }
    for image in images {
        judge_image(state, &workload, image, &mut verdict).await;
    }
    verdict
}

async fn judge_image(
    state: &Arc<AppState>,
    workload: &Workload,
    image: &str,
    verdict: &mut Verdict,
) {
    let Some(digest) = image.split_once('@').map(|(_, d)| d) else {
        verdict.denials.push(format!(
            "{image}: {POLICY}/digest-pinned: the image is not pinned by digest; \
             admission needs IMAGE@sha256:... so that the pipeline's facts apply"
        ));
        return;
    };
    if check_digest(digest).is_err() {
        verdict.denials.push(format!(
            "{image}: {POLICY}/digest-pinned: {digest:?} is not a sha256 manifest digest"
        ));
        return;
    }
    let record = match state.store.get(digest).await {
        Ok(Some(record)) => record,
        Ok(None) => {
            verdict.denials.push(format!(
                "{image}: {POLICY}/pipeline-facts: no facts were recorded for {digest}; \
                 the image did not go through the pipeline (POST /v1/images/{digest}/facts)"
            ));
            return;
        }
        Err(e) => {
            state.metrics.store_errors.inc();
            tracing::error!(error = %e, "facts store, at admission");
            verdict
                .denials
                .push(format!("{image}: {POLICY}/pipeline-facts: {e}"));
            return;
        }
    };
    let age_days = (chrono::Utc::now().timestamp() - record.recorded_at) / 86_400;
    let stale_after_days = state.config.stale_after_days;
    if age_days > stale_after_days {
        let line = format!(
            "{image}: {POLICY}/stale-facts: the facts for {digest} were recorded {age_days} days ago, \
             more than stale_after_days ({stale_after_days}); rescan the image"
        );
        match state.config.admission_stale {
            StaleFacts::Deny => {
                verdict.denials.push(line);
                return;
            }
            StaleFacts::Warn => verdict.warnings.push(line),
        }
    }
    let required = state.config.admission_requires.clone();
    // The containers that run this image, with their security contexts.
    let workload = Workload {
        containers: workload
            .containers
            .iter()
            .filter(|c| c.image == image)
            .cloned()
            .collect(),
        ..workload.clone()
    };
    let at_digest = digest.to_owned();
    // Reading the stored facts is CPU work too: inside the admission lane.
    let decided = decide(state, Lane::Admission, "admission-image", None, false, move || {
        let mut facts: Facts = serde_json::from_value(record.facts).map_err(|e| {
            ApiError::bad_request(format!(
                "{POLICY}/pipeline-facts: the stored facts for {at_digest} do not read as facts v1: {e}"
            ))
        })?;
        let missing: Vec<&str> = required
            .iter()
            .filter(|part| !part.is_in(&facts))
            .map(|part| part.name())
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::bad_request(format!(
                "{POLICY}/incomplete-facts: the facts recorded for {at_digest} lack {}; \
                 record the scanner's report for this digest",
                missing.join(", ")
            )));
        }
        facts.workload = Some(workload);
        Ok(facts)
    })
    .await;
    let decision = match decided {
        Ok(decided) => decided.decision,
        Err(e) => {
            verdict.denials.push(format!("{image}: {}", e.message));
            return;
        }
    };
    for (policy, finding) in decision.findings() {
        let line = format!("{image}: {policy}/{}: {}", finding.rule, finding.message);
        if finding.denies() {
            verdict.denials.push(line);
        } else if !finding.is_waived() {
            verdict.warnings.push(line);
        }
    }
    if !decision.is_allowed() && !verdict.denials.iter().any(|d| d.starts_with(image)) {
        // Denied without a denying finding cannot happen today; never admit on it.
        verdict
            .denials
            .push(format!("{image}: denied by the bundle"));
    }
}

fn answer(uid: &str, verdict: &Verdict) -> serde_json::Value {
    let allowed = verdict.denials.is_empty();
    let mut response = json!({ "uid": uid, "allowed": allowed });
    if !allowed {
        let mut message = verdict.denials.join("; ");
        if message.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str(" ...");
        }
        response["status"] = json!({ "code": 403, "reason": "Forbidden", "message": message });
    }
    if !verdict.warnings.is_empty() {
        response["warnings"] = json!(
            verdict
                .warnings
                .iter()
                .take(MAX_WARNINGS)
                .collect::<Vec<_>>()
        );
    }
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": response,
    })
}
