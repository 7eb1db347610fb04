//! The routes: health, metrics, the OpenAPI description, the decision API and
//! the facts store. Admission is in admission.rs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{
    DefaultBodyLimit, FromRequest, MatchedPath, Multipart, Path, Query, Request, State,
};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use customs::{Decision, EvalOptions, PreparedFacts, RequiredFact};
use customs_facts::Facts;
use customs_facts::import::{Format, Origin, detect, import_as};
use customs_verify::evidence::{Detached, SignedInput, TrustMaterial, is_signed_input};
use serde::Deserialize;
use serde_json::json;

use crate::config::{FactsWithoutDigest, Scope, ScopedToken};
use crate::metrics::RequestLabels;
use crate::reload::Active;
use crate::store::{ImageRecord, StoreError};
use crate::{AppState, OPENAPI, admission, events};

/// Every route and method, in the order of openapi.json (a test keeps the two equal).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("post", "/v1/evaluate"),
    ("post", "/v1/images/{digest}/facts"),
    ("get", "/v1/images/{digest}"),
    ("get", "/v1/decisions"),
    ("get", "/v1/decisions/{id}"),
    ("post", "/v1/admission"),
    ("post", "/v1/events/distribution"),
    ("post", "/v1/events/harbor"),
];

pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.max_body_bytes;
    let timeout = TimeLimits {
        request: Duration::from_millis(state.config.request_timeout_ms),
        // A second more than the read's own limit, which answers 504 itself.
        image_read: state
            .config
            .read_images
            .as_ref()
            .map(|read| Duration::from_secs(read.timeout_secs.saturating_add(1))),
    };
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .route("/v1/evaluate", post(evaluate))
        .route("/v1/images/{digest}/facts", post(put_facts))
        .route("/v1/images/{digest}", get(get_image))
        .route("/v1/decisions", get(list_decisions))
        .route("/v1/decisions/{id}", get(get_decision))
        .route("/v1/admission", post(admission::review))
        .route("/v1/events/distribution", post(events::distribution))
        .route("/v1/events/harbor", post(events::harbor))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(middleware::from_fn_with_state(timeout, time_limit))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// An error answer: a status and `{"error": "..."}` saying what and where.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn store(state: &AppState, error: StoreError) -> ApiError {
        state.metrics.store_errors.inc();
        tracing::error!(%error, "facts store");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

/// How long requests may take.
#[derive(Clone, Copy)]
struct TimeLimits {
    request: Duration,
    image_read: Option<Duration>,
}

/// Ends a request that runs past `request_timeout_ms` with a 503 that says
/// so. The API server counts it as a webhook failure: with failurePolicy
/// Fail, the admission is denied.
async fn time_limit(State(limits): State<TimeLimits>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    // A facts write that reads the image has the read's own limit (the
    // read itself stops within it; this only backs it).
    let reads_image = path.ends_with("/facts")
        && request
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|pair| pair.starts_with("read=")));
    let (limit, setting) = match limits.image_read {
        Some(read) if reads_image => (read, "read_images.timeout_secs"),
        _ => (limits.request, "request_timeout_ms"),
    };
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                path,
                limit_ms = limit.as_millis(),
                "request over its time limit"
            );
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "{path}: no answer within the server's limit of {} ms ({setting})",
                    limit.as_millis()
                ),
            )
            .into_response()
        }
    }
}

/// Counts and times every request by its route (not its path: digests
/// would make one series per image).
async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    tracing::debug!(
        route = %route,
        status = response.status().as_u16(),
        micros = elapsed.as_micros() as u64,
        "request"
    );
    let labels = RequestLabels {
        route,
        status: response.status().as_u16(),
    };
    state.metrics.requests.get_or_create(&labels).inc();
    state
        .metrics
        .request_seconds
        .get_or_create(&labels)
        .observe(elapsed.as_secs_f64());
    response
}

async fn readyz(State(state): State<Arc<AppState>>) -> Result<&'static str, ApiError> {
    state
        .store
        .ping()
        .await
        .map_err(|e| ApiError::store(&state, e))?;
    Ok("ready\n")
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    if let Ok(count) = state.store.count().await {
        state.metrics.store_images.set(count);
    }
    match state.metrics.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the metrics",
        )
        .into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalQuery {
    /// Read the inputs as this format instead of detecting it.
    format: Option<String>,
    /// The time the policies see (RFC 3339); now by default.
    now: Option<String>,
    /// Facts the image is denied without (`evidence/missing`), comma-separated:
    /// as `customs eval --require`.
    require: Option<String>,
    /// Facts writes only: also read the image itself from this repository
    /// (`REGISTRY/PATH`) at the URL's digest (the `read_images` section).
    read: Option<String>,
}

impl EvalQuery {
    fn format(&self) -> Result<Option<Format>, ApiError> {
        self.format
            .as_deref()
            .map(|name| {
                Format::from_name(name).ok_or_else(|| {
                    let known: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
                    ApiError::bad_request(format!(
                        "unknown format {name:?}; known formats: {}",
                        known.join(", ")
                    ))
                })
            })
            .transpose()
    }

    fn require(&self) -> Result<Vec<RequiredFact>, ApiError> {
        self.require
            .iter()
            .flat_map(|list| list.split(','))
            .filter(|name| !name.trim().is_empty())
            .map(|name| {
                name.parse()
                    .map_err(|e: String| ApiError::bad_request(format!("require: {e}")))
            })
            .collect()
    }

    /// The evaluation options the query asks for.
    fn options(&self) -> Result<EvalOptions, ApiError> {
        let mut options = EvalOptions::default();
        options.now = self.now()?;
        options.require = self.require()?;
        Ok(options)
    }

    fn now(&self) -> Result<Option<i64>, ApiError> {
        self.now
            .as_deref()
            .map(|text| {
                chrono::DateTime::parse_from_rfc3339(text)
                    .map(|t| t.timestamp())
                    .map_err(|_| {
                        ApiError::bad_request(format!("now={text:?} is not an RFC 3339 time"))
                    })
            })
            .transpose()
    }
}

/// The tool outputs of a request: the body (one document), or each part of
/// a multipart/form-data body (several documents about one image).
async fn read_inputs(
    state: &AppState,
    request: Request,
) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !is_multipart {
        let body = axum::body::to_bytes(request.into_body(), state.config.max_body_bytes)
            .await
            .map_err(|_| too_large(state))?;
        return Ok(vec![("body".to_owned(), body.to_vec())]);
    }
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|e| ApiError::bad_request(format!("invalid multipart body: {e}")))?;
    let mut inputs = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(state, &e.body_text(), e.status()))?
    {
        if inputs.len() == MAX_PARTS {
            return Err(ApiError::bad_request(format!(
                "the multipart body has more than {MAX_PARTS} parts; one image's tool outputs fit in fewer"
            )));
        }
        let name = field
            .file_name()
            .or(field.name())
            .map_or_else(|| format!("part {}", inputs.len() + 1), str::to_owned);
        let bytes = field
            .bytes()
            .await
            .map_err(|e| multipart_error(state, &e.body_text(), e.status()))?;
        inputs.push((name, bytes.to_vec()));
    }
    if inputs.is_empty() {
        return Err(ApiError::bad_request("the multipart body has no parts"));
    }
    Ok(inputs)
}

/// Most parts (tool outputs) one multipart request may carry.
const MAX_PARTS: usize = 64;

fn too_large(state: &AppState) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the request body is larger than {} bytes (max_body_bytes)",
            state.config.max_body_bytes
        ),
    )
}

fn multipart_error(state: &AppState, text: &str, status: StatusCode) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large(state);
    }
    ApiError::bad_request(format!("invalid multipart body: {text}"))
}

/// Imports and merges the inputs, as `customs eval` does with files; the
/// signed ones among them are returned for [`verify`].
pub fn import(
    inputs: Vec<(String, Vec<u8>)>,
    format: Option<Format>,
) -> Result<(Facts, Vec<SignedInput>), ApiError> {
    let mut all = Vec::with_capacity(inputs.len());
    let mut signed = Vec::new();
    for (name, bytes) in inputs {
        let origin = Origin::named(name);
        let format = match format {
            Some(format) => format,
            None => detect(&origin, &bytes).map_err(|e| ApiError::bad_request(e.to_string()))?,
        };
        let facts =
            import_as(&origin, &bytes, format).map_err(|e| ApiError::bad_request(e.to_string()))?;
        all.push(facts);
        if is_signed_input(format) {
            signed.push((origin, format, bytes));
        }
    }
    let facts = Facts::merge_all(all).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok((facts, signed))
}

/// Checks the signed inputs against the server's trust material (none
/// configured: nothing is checked, and what the inputs claim stays
/// `reported`), as `customs eval` does with its trust flags.
pub fn verify(
    trust: &TrustMaterial,
    signed: &[SignedInput],
    facts: &mut Facts,
) -> Result<(), ApiError> {
    if trust.is_empty() {
        return Ok(());
    }
    trust
        .check(signed, &Detached::default(), facts, chrono::Utc::now())
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Which share of the evaluation slots a request waits for: admission has
/// its own, so decision-API traffic cannot starve the webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Api,
    Admission,
}

/// What [`decide`] answers.
pub struct Decided {
    pub decision: Decision,
    /// The bundle that decided (a reload meanwhile does not change it).
    pub active: Arc<Active>,
    /// The importers' warnings ([`Facts::import_warnings`]).
    pub warnings: Vec<String>,
    /// The facts, as stored.
    pub facts: Option<serde_json::Value>,
}

/// Makes the facts (`facts`: import, merge, VEX matching, reading a stored
/// record) and evaluates them, all on a blocking thread inside an evaluation
/// slot of `lane`: CPU work never runs on the threads that answer other
/// requests (`/healthz`, admission), and at most the slots' count of it runs
/// at once. `keep_facts` also answers the facts as JSON, for the store.
pub async fn decide(
    state: &Arc<AppState>,
    lane: Lane,
    endpoint: &'static str,
    options: EvalOptions,
    keep_facts: bool,
    facts: impl FnOnce() -> Result<Facts, ApiError> + Send + 'static,
) -> Result<Decided, ApiError> {
    let worker = state.clone();
    let active = state.active.load_full();
    let bundle = active.clone();
    let (decision, warnings, facts, took) = in_lane(state, lane, move || {
        let facts = facts()?;
        let warnings = facts.import_warnings();
        let stored = keep_facts
            .then(|| serde_json::to_value(&facts))
            .transpose()
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let started = Instant::now();
        let decision = worker
            .engine
            .evaluate(&bundle.bundle, &PreparedFacts::new(facts), &options);
        Ok::<_, ApiError>((decision, warnings, stored, started.elapsed()))
    })
    .await??;
    state.metrics.evaluation_seconds.observe(took.as_secs_f64());
    state.metrics.record(endpoint, &decision);
    Ok(Decided {
        decision,
        active,
        warnings,
        facts,
    })
}

/// Runs CPU work on a blocking thread inside an evaluation slot of `lane`
/// (see [`decide`]).
pub async fn in_lane<T: Send + 'static>(
    state: &Arc<AppState>,
    lane: Lane,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let slots = match lane {
        Lane::Api => &state.evaluations,
        Lane::Admission => &state.admissions,
    };
    let _turn = slots.acquire().await.map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        )
    })?;
    tokio::task::spawn_blocking(work).await.map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the evaluation did not finish",
        )
    })
}

fn decision_json(decision: &Decision) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(decision).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the decision: {e}"),
        )
    })
}

async fn evaluate(
    State(state): State<Arc<AppState>>,
    Query(query): Query<EvalQuery>,
    request: Request,
) -> Result<(HeaderMap, Json<serde_json::Value>), ApiError> {
    let format = query.format()?;
    let options = query.options()?;
    if query.read.is_some() {
        return Err(ApiError::bad_request(
            "read= is for facts writes (POST /v1/images/{digest}/facts?read=REGISTRY/PATH), which name the digest to read",
        ));
    }
    let inputs = read_inputs(&state, request).await?;
    let shared = state.clone();
    let decided = decide(&state, Lane::Api, "evaluate", options, false, move || {
        let (mut facts, signed) = import(inputs, format)?;
        verify(&shared.config.trust_material, &signed, &mut facts)?;
        Ok(facts)
    })
    .await?;
    Ok((
        warning_headers(decided.warnings),
        Json(decision_json(&decided.decision)?),
    ))
}

/// The most importer warnings answered as headers; the rest are counted.
const MAX_WARNING_HEADERS: usize = 20;
/// Longer warning texts are cut (headers are not for essays).
const MAX_WARNING_TEXT: usize = 512;

/// What the importers skipped, as `Warning: 299 customs "INPUT: TEXT"`
/// headers (the form the Kubernetes API server uses), so a client learns
/// what `customs eval` prints on stderr while the body stays the same JSON.
pub fn warning_headers(all: Vec<String>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for warning in &all {
        tracing::info!("import: {warning}");
    }
    let extra = all.len().saturating_sub(MAX_WARNING_HEADERS);
    let shown = all.into_iter().take(MAX_WARNING_HEADERS);
    let more = (extra > 0).then(|| format!("{extra} more importer warnings not shown"));
    for text in shown.chain(more) {
        if let Ok(value) = header::HeaderValue::from_str(&warning_value(&text)) {
            headers.append(header::WARNING, value);
        }
    }
    headers
}

/// `299 customs "..."` with the text made a quoted-string of visible ASCII.
fn warning_value(text: &str) -> String {
    let mut value = String::from("299 customs \"");
    for c in text.chars().take(MAX_WARNING_TEXT) {
        match c {
            '"' | '\\' => {
                value.push('\\');
                value.push(c);
            }
            ' '..='~' => value.push(c),
            _ => value.push('?'),
        }
    }
    value.push('"');
    value
}

/// `sha256:` and 64 lowercase hex digits: the only digests the store keys by.
pub fn check_digest(digest: &str) -> Result<(), ApiError> {
    let hex = digest.strip_prefix("sha256:").unwrap_or("");
    if hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{digest:?} is not a manifest digest (sha256: and 64 lowercase hex digits)"
        )))
    }
}

/// The facts-store, events and read endpoints need `Authorization: Bearer
/// TOKEN` with a token that has `scope`; answers the token.
pub(crate) fn authorize<'s>(
    state: &'s AppState,
    headers: &HeaderMap,
    scope: Scope,
) -> Result<&'s ScopedToken, ApiError> {
    use subtle::ConstantTimeEq;
    if state.tokens.is_empty() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the facts store takes no requests: the server has no token configured (token_file, tokens)",
        ));
    }
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing bearer token (Authorization: Bearer TOKEN)",
        ));
    };
    // Every token is compared, in constant time each, as SHA-256 digests
    // so that not even the length shows.
    use sha2::{Digest, Sha256};
    let given = Sha256::digest(given.as_bytes());
    let mut found = None;
    for token in &state.tokens {
        if bool::from(given.ct_eq(&Sha256::digest(token.secret.as_bytes()))) {
            found = Some(token);
        }
    }
    let Some(token) = found else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong bearer token",
        ));
    };
    if !token.allows(scope) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "token {:?} may not {}",
                token.name,
                match scope {
                    Scope::Facts => "record facts",
                    Scope::Events => "post registry events",
                    Scope::Read => "read the store",
                }
            ),
        ));
    }
    Ok(token)
}

/// `registry/repository` of the image the facts are about, when they say.
fn repository_of(facts: &Facts) -> Option<String> {
    let image = &facts.image;
    match (&image.registry, &image.repository) {
        (Some(registry), Some(repository)) => Some(format!(
            "{}/{repository}",
            crate::config::normalize_registry(registry)
        )),
        (None, Some(repository)) => Some(repository.clone()),
        _ => None,
    }
}

async fn put_facts(
    State(state): State<Arc<AppState>>,
    Path(digest): Path<String>,
    Query(query): Query<EvalQuery>,
    request: Request,
) -> Result<(HeaderMap, Json<serde_json::Value>), ApiError> {
    let writer = authorize(&state, request.headers(), Scope::Facts)?.clone();
    check_digest(&digest)?;
    let format = query.format()?;
    let now = query.now()?;
    let mut inputs = read_inputs(&state, request).await?;
    let image = match &query.read {
        Some(repository) => {
            // With the image read, tool outputs are optional: no body, no input.
            inputs.retain(|(name, bytes)| !(name == "body" && bytes.is_empty()));
            Some(crate::image_read::read(&state, &writer, repository, &digest).await?)
        }
        None => None,
    };
    let named = digest.clone();
    let without_digest = state.config.facts_without_digest;
    let at = chrono::Utc::now().timestamp();
    let policy_time = now.unwrap_or(at);
    let writer_name = writer.name.clone();
    let shared = state.clone();
    let mut options = query.options()?;
    options.now = Some(policy_time);
    let decided = decide(&state, Lane::Api, "facts", options, true, move || {
        let (mut facts, signed) = match &image {
            // Merged and checked as `customs eval oci://...` does: the
            // image's facts name its digest, so the checks below hold.
            Some(image) => {
                let (posted, signed) = if inputs.is_empty() {
                    (None, Vec::new())
                } else {
                    let (posted, signed) = import(inputs, format)?;
                    (Some(posted), signed)
                };
                let mut all = image
                    .decide_inputs(
                        posted.as_slice(),
                        &signed,
                        &Detached::default(),
                        &shared.config.trust_material,
                        chrono::Utc::now(),
                    )
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                (all.pop().unwrap_or_default(), Vec::<SignedInput>::new())
            }
            None => import(inputs, format)?,
        };
        match (facts.image.digest.as_deref(), without_digest) {
            (Some(found), _) if found != named => {
                return Err(ApiError::bad_request(format!(
                    "the facts are about {found}, not {named}"
                )));
            }
            (Some(_), _) => {}
            (None, FactsWithoutDigest::Url) => facts.image.digest = Some(named.clone()),
            (None, FactsWithoutDigest::Refuse) => {
                return Err(ApiError::bad_request(format!(
                    "the facts name no image digest, so nothing ties them to {named}: scan the image \
                     by digest (trivy image REPO@{named}), or add a part naming it \
                     ({{\"schema_version\":\"1\",\"image\":{{\"digest\":\"{named}\"}}}}); \
                     facts_without_digest: url files them under the URL on the writer's word"
                )));
            }
        }
        // An index stands for every platform: the facts of one cannot admit it.
        if facts.image.index_digest.as_deref() == Some(named.as_str()) {
            return Err(ApiError::bad_request(format!(
                "{named} is an image index (a multi-platform manifest list) and these facts are of \
                 one of its platforms{}: record them under that platform manifest's digest, and \
                 deploy by it",
                facts
                    .image
                    .digest
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            )));
        }
        let repository = repository_of(&facts);
        if !writer.may_record(repository.as_deref()) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "token {:?} may record facts for {}, not for {}",
                    writer.name,
                    writer.facts.join(", "),
                    repository.as_deref().unwrap_or("facts that name no repository")
                ),
            ));
        }
        // Checked once the digest they are filed under is settled (an
        // image read's were, with what was found beside it).
        if image.is_none() {
            verify(&shared.config.trust_material, &signed, &mut facts)?;
        }
        Ok(facts)
    })
    .await?;
    let (decision, active) = (decided.decision, decided.active);
    let facts_json = decided.facts.unwrap_or_default();
    let mut warnings = warning_headers(decided.warnings);
    let mut record = ImageRecord {
        digest,
        facts: facts_json,
        recorded_at: at,
        decision: outcome(&decision).to_owned(),
        result: decision_json(&decision)?,
        evaluated_at: policy_time,
        bundle: active.id.clone(),
        facts_digest: None,
        writer: Some(writer_name.clone()),
    };
    let facts_digest = state
        .store
        .put(&record)
        .await
        .map_err(|e| ApiError::store(&state, e))?;
    let decided = crate::decisions::facts_record(
        &record.digest,
        &facts_digest,
        at,
        policy_time,
        &writer_name,
        &active.id,
        &decision,
    );
    let id = decided.id.clone();
    state.recorder.record(decided).await.map_err(|error| {
        state.metrics.store_errors.inc();
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the facts are stored but their decision could not be recorded: {error}"),
        )
    })?;
    if let Ok(value) = header::HeaderValue::from_str(&id) {
        warnings.insert(DECISION_HEADER, value);
    }
    record.facts_digest = Some(facts_digest);
    Ok((warnings, Json(record.result)))
}

/// The response header naming a facts write's decision record.
pub const DECISION_HEADER: &str = "customs-decision";

pub fn outcome(decision: &Decision) -> &'static str {
    crate::decisions::outcome(decision.is_allowed())
}

async fn get_image(
    State(state): State<Arc<AppState>>,
    Path(digest): Path<String>,
    headers: HeaderMap,
) -> Result<Json<ImageRecord>, ApiError> {
    authorize(&state, &headers, Scope::Read)?;
    check_digest(&digest)?;
    match state.store.get(&digest).await {
        Ok(Some(record)) => Ok(Json(record)),
        Ok(None) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no facts are recorded for {digest}"),
        )),
        Err(e) => Err(ApiError::store(&state, e)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionsQuery {
    /// Decisions made at or after this time (RFC 3339 or Unix seconds); all by default.
    since: Option<String>,
    /// Only decisions about this manifest digest.
    digest: Option<String>,
    /// Only decisions recorded after this one (the last id of the previous page).
    after: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<i64>,
}

/// The most decisions one `GET /v1/decisions` answers.
const MAX_DECISIONS: i64 = 1000;

async fn list_decisions(
    State(state): State<Arc<AppState>>,
    Query(query): Query<DecisionsQuery>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&state, &headers, Scope::Read)?;
    let since = match query.since.as_deref() {
        None => 0,
        Some(text) => parse_time(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "since={text:?} is neither an RFC 3339 time nor Unix seconds"
            ))
        })?,
    };
    if let Some(digest) = &query.digest {
        check_digest(digest)?;
    }
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_DECISIONS).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit={limit} is outside 1..={MAX_DECISIONS}"
        )));
    }
    let decisions = state
        .store
        .decisions(
            since,
            query.after.as_deref().unwrap_or(""),
            query.digest.as_deref(),
            limit,
        )
        .await
        .map_err(|e| ApiError::store(&state, e))?;
    Ok(Json(json!({ "decisions": decisions })))
}

async fn get_decision(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<crate::store::DecisionRecord>, ApiError> {
    authorize(&state, &headers, Scope::Read)?;
    match state.store.decision(&id).await {
        Ok(record) => Ok(Json(record)),
        Err(StoreError::NoDecision(_)) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no decision {id:?} is recorded"),
        )),
        Err(e) => Err(ApiError::store(&state, e)),
    }
}

/// RFC 3339, or Unix seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp())
        .ok()
        .or_else(|| text.parse().ok())
}
