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
use customs_facts::Facts;
use customs_facts::import::{Format, ImportError, Origin, import_as};
use serde::Deserialize;
use serde_json::json;

use crate::api::{ApiError, Lane, in_lane};
use crate::config::image_repository;
use crate::decisions::{Found, Lines, judge_image, new_id, outcome, pinned};
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
/// Reviews up to this size are read on the thread that received them.
const READ_INLINE_BYTES: usize = 64 * 1024;

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
    let inline = body.len() <= READ_INLINE_BYTES;
    let read = move || {
        let uid = serde_json::from_slice::<Review>(&body);
        let review = import_as(
            &Origin::named("AdmissionReview"),
            &body,
            Format::AdmissionReview,
        );
        (uid, review)
    };
    // A Pod's review (a few KiB) reads in microseconds, less than a hand-off
    // to a blocking thread costs; a large one (up to max_body_bytes of JSON)
    // is CPU work for the admission lane, off the threads that answer others.
    let (uid, review) = if inline {
        read()
    } else {
        match in_lane(&state, Lane::Admission, read).await {
            Ok(read) => read,
            Err(error) => return error.into_response(),
        }
    };
    // Without a uid there is nobody to answer: a 400, which the API server
    // treats as a failure (failurePolicy: Fail denies).
    let uid = match uid {
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
    let (mut record, mut shown) = judge(&state, uid.clone(), review).await;
    record.context.caller = caller.clone();
    let id = record.id.clone();
    let mut reasons = record.reasons.clone();
    if let Err(error) = state.recorder.record(record).await {
        state.metrics.store_errors.inc();
        let line = format!(
            "{POLICY}/decision-record: the decision could not be recorded, so none is given"
        );
        reasons.denials.push(format!("{line}: {error}"));
        shown.denials.push(line); // the store's error is for the API server and the logs
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
    // Only the API server (a verified client certificate) sees the findings.
    let answered = if caller.is_some() { &reasons } else { &shown };
    Json(answer(&uid, &id, answered)).into_response()
}

/// Judges a review: every image it runs, from the facts the store holds.
/// Answers the record (with the reasons in full) and the reasons as shown
/// to a caller not known to be the API server.
async fn judge(
    state: &Arc<AppState>,
    uid: String,
    review: Result<Facts, ImportError>,
) -> (DecisionRecord, Reasons) {
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
            admission: Some(settings.clone()),
            ..DecisionContext::default()
        },
    };
    let mut lines = Lines::default();
    let workload = match review {
        Ok(facts) => facts.workload,
        Err(e) => {
            lines.deny(format!("{POLICY}: {e}"));
            None
        }
    };
    let Some(workload) = workload else {
        if lines.full.denials.is_empty() {
            lines.deny(format!("{POLICY}: the review carries no workload"));
        }
        record.decision = outcome(false).to_owned();
        record.reasons = lines.full;
        return (record, lines.shown);
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
        let mut decisions = Vec::new();
        for (image, found) in lookups {
            let Some((digest, found)) = found else {
                if let Err(line) = pinned(&image) {
                    lines.deny(line);
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
                &mut lines,
            ) {
                decisions.push((decision, started.elapsed()));
            }
        }
        (lines, decisions)
    })
    .await;
    let lines = match judged {
        Ok((lines, decisions)) => {
            for (decision, took) in &decisions {
                state.metrics.evaluation_seconds.observe(took.as_secs_f64());
                state.metrics.record("admission-image", decision);
            }
            lines
        }
        Err(error) => {
            let mut lines = Lines::default();
            lines.deny(format!("{POLICY}: {}", error.message));
            lines
        }
    };
    record.context.workload = Some(context_workload);
    record.decision = outcome(lines.full.denials.is_empty()).to_owned();
    record.reasons = lines.full;
    (record, lines.shown)
}

/// What the store holds for an image: `None` when it is not pinned by a
/// digest (nothing to look up), else the digest and the facts.
async fn look_up(state: &AppState, image: &str) -> (DecidedImage, Option<(String, Found)>) {
    let mut decided = DecidedImage {
        image: image.to_owned(),
        digest: None,
        facts_digest: None,
        recorded_at: None,
        refused: None,
    };
    let Ok(digest) = pinned(image) else {
        return (decided, None);
    };
    decided.digest = Some(digest.to_owned());
    let found = match state.store.facts_of(digest).await {
        Ok(Some(stored)) => match vouches(state, stored.writer.as_deref(), image) {
            Ok(()) => {
                decided.recorded_at = Some(stored.recorded_at);
                decided.facts_digest = Some(stored.facts_digest);
                Found::Facts {
                    facts: stored.text,
                    recorded_at: stored.recorded_at,
                }
            }
            Err(reason) => {
                decided.refused = Some(reason.clone());
                Found::Refused(reason)
            }
        },
        Ok(None) => Found::Missing,
        Err(e) => {
            state.metrics.store_errors.inc();
            tracing::error!(error = %e, "facts store, at admission");
            decided.refused = Some(e.to_string());
            Found::Refused(e.to_string())
        }
    };
    (decided, Some((digest.to_owned(), found)))
}

/// Whether the token that recorded an image's facts may vouch for `image`:
/// a pipeline token scoped to some repositories admits only images of
/// those, whatever repository its facts claim. Records from before tokens
/// had names were written with the one token, which has every scope.
fn vouches(state: &AppState, writer: Option<&str>, image: &str) -> Result<(), String> {
    let Some(writer) = writer else {
        return Ok(());
    };
    let repository = image_repository(image);
    match state.tokens.iter().find(|token| token.name == writer) {
        Some(token) if token.may_vouch_for(&repository) => Ok(()),
        Some(token) => Err(format!(
            "the facts were recorded with token {writer:?}, which may record facts for {}, not for {repository}",
            token.facts.join(", ")
        )),
        None => Err(format!(
            "the facts were recorded with token {writer:?}, which is no longer configured"
        )),
    }
}

/// The AdmissionReview answer: `reasons` as given (in full for the API
/// server, without findings for anyone else); the decision record's id in
/// the audit annotations and the message.
fn answer(uid: &str, id: &str, reasons: &Reasons) -> serde_json::Value {
    let allowed = reasons.denials.is_empty();
    let mut response = json!({
        "uid": uid,
        "allowed": allowed,
        "auditAnnotations": { "decision": id },
    });
    if !allowed {
        let mut message = reasons.denials.join("; ");
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
                .collect::<Vec<_>>()
        );
    }
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": response,
    })
}
