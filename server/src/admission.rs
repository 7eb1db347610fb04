//! The Kubernetes validating admission webhook: an AdmissionReview v1 for a
//! Pod or a pod-bearing workload is admitted only when every container image
//! is pinned by digest, the pipeline recorded complete and fresh facts for
//! that digest, and those facts with the workload's security context pass
//! the bundle. Anything else is denied with the reason in the message: a tag
//! without a digest, an unknown digest (an image that skipped the pipeline),
//! facts without a vulnerability scan or older than `stale_after_days`, a
//! store that does not answer, a review customs cannot read.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use customs_facts::import::{Format, Origin, import_as};
use serde::Deserialize;
use serde_json::json;

use crate::api::{ApiError, Lane, in_lane};
use crate::decisions::{Found, judge_image, new_id, outcome, pinned};
use crate::metrics::DecisionLabels;
use crate::store::{
    AdmissionSettings, DecidedImage, DecisionContext, DecisionKind, DecisionRecord, Reasons,
};
use crate::{AppState, client_auth};

/// The admission "policy" whose rules the webhook applies before the bundle.
pub const POLICY: &str = crate::decisions::ADMISSION;
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
    // With a client CA configured, only a caller with a certificate it
    // signed (the API server) gets an answer at all.
    let caller = match client_auth::require_client_certificate(&state.config, request.extensions())
    {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
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
    let record = judge(&state, uid.clone(), &body).await;
    let id = record.id.clone();
    let mut reasons = record.reasons.clone();
    if let Err(error) = state.recorder.record(record).await {
        state.metrics.store_errors.inc();
        reasons.denials.push(format!(
            "{POLICY}/decision-record: the decision could not be recorded, so none is given: {error}"
        ));
    }
    let outcome = outcome(reasons.denials.is_empty());
    state
        .metrics
        .decisions
        .get_or_create(&DecisionLabels {
            endpoint: "admission",
            decision: outcome,
        })
        .inc();
    Json(answer(&uid, &id, &reasons, caller.is_some())).into_response()
}

/// Judges a review: every image it runs, from the facts the store holds.
async fn judge(state: &Arc<AppState>, uid: String, body: &[u8]) -> DecisionRecord {
    let now = chrono::Utc::now().timestamp();
    let active = state.active.load_full();
    let settings = AdmissionSettings {
        requires: state.config.admission_requires.clone(),
        stale: state.config.admission_stale,
        stale_after_days: state.config.stale_after_days,
    };
    let mut record = DecisionRecord {
        id: new_id(),
        kind: DecisionKind::Admission,
        uid: Some(uid),
        namespace: None,
        workload: None,
        decision: String::new(),
        reasons: Reasons::default(),
        bundle: active.id.clone(),
        decided_at: now,
        images: Vec::new(),
        context: DecisionContext {
            workload: None,
            admission: Some(settings.clone()),
        },
    };
    let workload = match import_as(
        &Origin::named("AdmissionReview"),
        body,
        Format::AdmissionReview,
    ) {
        Ok(facts) => facts.workload,
        Err(e) => {
            record.reasons.denials.push(format!("{POLICY}: {e}"));
            None
        }
    };
    let Some(workload) = workload else {
        if record.reasons.denials.is_empty() {
            record
                .reasons
                .denials
                .push(format!("{POLICY}: the review carries no workload"));
        }
        record.decision = outcome(false).to_owned();
        return record;
    };
    record.namespace = workload.namespace.clone();
    record.workload = match (&workload.kind, &workload.name) {
        (Some(kind), Some(name)) => Some(format!("{kind}/{name}")),
        (None, Some(name)) => Some(name.clone()),
        _ => None,
    };
    // Each image once, in the order the containers name them; what the store
    // holds for it is read first (I/O), then all is judged in one slot (CPU).
    let mut images: Vec<String> = Vec::new();
    for container in &workload.containers {
        if !images.contains(&container.image) {
            images.push(container.image.clone());
        }
    }
    let mut lookups = Vec::with_capacity(images.len());
    for image in images {
        let (decided, found) = look_up(state, &image).await;
        record.images.push(decided);
        lookups.push((image, found));
    }
    let worker = state.clone();
    let context_workload = workload.clone();
    let judged = in_lane(state, Lane::Admission, move || {
        let mut reasons = Reasons::default();
        let mut decisions = Vec::new();
        for (image, found) in lookups {
            let Some((digest, found)) = found else {
                if let Err(line) = pinned(&image) {
                    reasons.denials.push(line);
                }
                continue;
            };
            let started = Instant::now();
            if let Some(decision) = judge_image(
                &worker.engine,
                &active.bundle,
                &settings,
                now,
                &workload,
                &image,
                &digest,
                found,
                &mut reasons,
            ) {
                decisions.push((decision, started.elapsed()));
            }
        }
        (reasons, decisions)
    })
    .await;
    match judged {
        Ok((reasons, decisions)) => {
            for (decision, took) in &decisions {
                state.metrics.evaluation_seconds.observe(took.as_secs_f64());
                state.metrics.record("admission-image", decision);
            }
            record.reasons = reasons;
        }
        Err(error) => record
            .reasons
            .denials
            .push(format!("{POLICY}: {}", error.message)),
    }
    record.context.workload = Some(context_workload);
    record.decision = outcome(record.reasons.denials.is_empty()).to_owned();
    record
}

/// What the store holds for an image: `None` when it is not pinned by a
/// digest (nothing to look up), else the digest and the facts.
async fn look_up(state: &AppState, image: &str) -> (DecidedImage, Option<(String, Found)>) {
    let mut decided = DecidedImage {
        image: image.to_owned(),
        digest: None,
        facts_digest: None,
        recorded_at: None,
    };
    let Ok(digest) = pinned(image) else {
        return (decided, None);
    };
    decided.digest = Some(digest.to_owned());
    let found = match state.store.facts_of(digest).await {
        Ok(Some(stored)) => {
            decided.recorded_at = Some(stored.recorded_at);
            decided.facts_digest = Some(stored.facts_digest);
            Found::Facts {
                facts: stored.text,
                recorded_at: stored.recorded_at,
            }
        }
        Ok(None) => Found::Missing,
        Err(e) => {
            state.metrics.store_errors.inc();
            tracing::error!(error = %e, "facts store, at admission");
            Found::Unavailable(e.to_string())
        }
    };
    (decided, Some((digest.to_owned(), found)))
}

/// The AdmissionReview answer. The decision record's id goes in the audit
/// annotations and the message. A caller that did not authenticate with a
/// client certificate learns which rules denied, not what they found (the
/// findings are in the record, behind a token).
fn answer(uid: &str, id: &str, reasons: &Reasons, authenticated: bool) -> serde_json::Value {
    let allowed = reasons.denials.is_empty();
    let shown = |line: &String| {
        if authenticated {
            line.clone()
        } else {
            withheld(line)
        }
    };
    let mut response = json!({
        "uid": uid,
        "allowed": allowed,
        "auditAnnotations": { "decision": id },
    });
    if !allowed {
        let lines: Vec<String> = reasons.denials.iter().map(shown).collect();
        let mut message = lines.join("; ");
        if message.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str(" ...");
        }
        message.push_str(&format!(" (customs decision {id})"));
        response["status"] = json!({ "code": 403, "reason": "Forbidden", "message": message });
    }
    if !reasons.warnings.is_empty() {
        response["warnings"] = json!(
            reasons
                .warnings
                .iter()
                .take(MAX_WARNINGS)
                .map(shown)
                .collect::<Vec<_>>()
        );
    }
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": response,
    })
}

/// `IMAGE: policy/rule: message` without the message; lines of another
/// shape stay (they carry no findings).
fn withheld(line: &str) -> String {
    let mut parts = line.splitn(3, ": ");
    match (parts.next(), parts.next(), parts.next()) {
        (Some(image), Some(rule), Some(_)) if rule.contains('/') && !rule.starts_with(POLICY) => {
            format!("{image}: {rule} (details in the decision record)")
        }
        _ => line.to_owned(),
    }
}
