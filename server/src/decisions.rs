//! Decision records: every admission and facts-store decision is written to
//! the store (who asked, which images and facts, which bundle and settings,
//! what was answered and why) before it is answered, and `customs replay`
//! evaluates a recorded decision again from the facts it names.
//!
//! Records are written by one task that commits whatever has queued while
//! the previous batch committed (group commit): one transaction per batch,
//! not per decision, and a decision is answered only once its record is
//! durable. A record that cannot be written turns an admission into a denial.

use customs::{Bundle, Decision, Engine, EvalOptions, PreparedFacts};
use customs_facts::{Facts, Workload};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::store::{
    AdmissionSettings, DecidedImage, DecisionContext, DecisionKind, DecisionRecord, Reasons, Store,
    StoreError,
};

/// The admission "policy" whose rules the webhook applies before the bundle.
pub const ADMISSION: &str = "admission";

/// Records waiting for the writer; a full queue makes deciders wait.
const QUEUE: usize = 4096;
/// Most records in one transaction.
const BATCH: usize = 512;

type Waiter = oneshot::Sender<Result<(), String>>;

/// Writes decision records to the store in batches (see the module docs).
#[derive(Clone)]
pub(crate) struct Recorder {
    queue: mpsc::Sender<(DecisionRecord, Waiter)>,
}

impl Recorder {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Store) -> Recorder {
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store, pending));
        Recorder { queue }
    }

    /// Records one decision; returns once it is committed.
    pub async fn record(&self, mut record: DecisionRecord) -> Result<(), String> {
        // PostgreSQL's TEXT takes no NUL, and these come from the caller.
        for text in [&mut record.uid, &mut record.namespace, &mut record.workload]
            .into_iter()
            .flatten()
            .chain(record.images.iter_mut().map(|image| &mut image.image))
        {
            if text.contains('\0') {
                *text = text.replace('\0', "\u{fffd}");
            }
        }
        let (done, committed) = oneshot::channel();
        self.queue
            .send((record, done))
            .await
            .map_err(|_| "the decision recorder has stopped".to_owned())?;
        committed
            .await
            .map_err(|_| "the decision recorder has stopped".to_owned())?
    }
}

async fn write_batches(store: Store, mut pending: mpsc::Receiver<(DecisionRecord, Waiter)>) {
    let mut records = Vec::with_capacity(BATCH);
    let mut waiters = Vec::with_capacity(BATCH);
    while let Some((record, waiter)) = pending.recv().await {
        records.push(record);
        waiters.push(waiter);
        while records.len() < BATCH {
            match pending.try_recv() {
                Ok((record, waiter)) => {
                    records.push(record);
                    waiters.push(waiter);
                }
                Err(_) => break,
            }
        }
        let result = store
            .put_decisions(&records)
            .await
            .map_err(|e| e.to_string());
        if result.is_ok() || records.len() == 1 {
            if let Err(error) = &result {
                tracing::error!(%error, "decision record not written");
            }
            for waiter in waiters.drain(..) {
                let _ = waiter.send(result.clone());
            }
        } else {
            // One bad record must not sink the others batched with it.
            for (record, waiter) in records.iter().zip(waiters.drain(..)) {
                let one = store
                    .put_decisions(std::slice::from_ref(record))
                    .await
                    .map_err(|e| e.to_string());
                if let Err(error) = &one {
                    tracing::error!(%error, id = %record.id, "decision record not written");
                }
                let _ = waiter.send(one);
            }
        }
        records.clear();
    }
}

/// A new record id: a UUID v7, so ids sort by time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The reasons of a decision in full (recorded, and answered to the API
/// server) and as answered to a caller not known to be the API server: the
/// same lines without what findings and store errors say.
#[derive(Debug, Default)]
pub struct Lines {
    pub full: Reasons,
    pub shown: Reasons,
}

impl Lines {
    /// A denial that says nothing about an image's findings: shown as is.
    pub fn deny(&mut self, line: String) {
        self.shown.denials.push(line.clone());
        self.full.denials.push(line);
    }

    fn warn(&mut self, line: String) {
        self.shown.warnings.push(line.clone());
        self.full.warnings.push(line);
    }
}

/// "allow" or "deny".
pub fn outcome(allowed: bool) -> &'static str {
    if allowed { "allow" } else { "deny" }
}

/// The lines a decision answers with, each `PREFIXpolicy/rule: message`
/// (shown without the message): denying findings are denials, the others
/// (not waived) warnings.
pub fn finding_lines(prefix: &str, decision: &Decision, lines: &mut Lines) {
    let before = lines.full.denials.len();
    for (policy, finding) in decision.findings() {
        let full = format!("{prefix}{policy}/{}: {}", finding.rule, finding.message);
        let shown = format!(
            "{prefix}{policy}/{} (details in the decision record)",
            finding.rule
        );
        if finding.denies() {
            lines.full.denials.push(full);
            lines.shown.denials.push(shown);
        } else if !finding.is_waived() {
            lines.full.warnings.push(full);
            lines.shown.warnings.push(shown);
        }
    }
    if !decision.is_allowed() && lines.full.denials.len() == before {
        // Denied without a denying finding cannot happen today; never admit on it.
        lines.deny(format!("{prefix}denied by the bundle"));
    }
}

/// What the store had for one image at admission.
pub(crate) enum Found {
    /// No facts are recorded for the digest.
    Missing,
    /// No facts were read: the store did not answer, or the facts' writer
    /// may not vouch for this image (the reason).
    Refused(String),
    /// The recorded facts as stored (read as facts v1 by the judge, in
    /// the evaluation slot: parsing is CPU work).
    Facts { facts: String, recorded_at: i64 },
}

/// The digest an admitted image must be pinned by, or the denial that says
/// why it is not.
pub fn pinned(image: &str) -> Result<&str, String> {
    let Some(digest) = image.split_once('@').map(|(_, d)| d) else {
        return Err(format!(
            "{image}: {ADMISSION}/digest-pinned: the image is not pinned by digest; \
             admission needs IMAGE@sha256:... so that the pipeline's facts apply"
        ));
    };
    crate::api::check_digest(digest).map_err(|_| {
        format!("{image}: {ADMISSION}/digest-pinned: {digest:?} is not a sha256 manifest digest")
    })?;
    Ok(digest)
}

/// Judges one pinned image of a workload from what the store had: the
/// admission rules (complete, fresh facts) and then the bundle on the facts
/// with the containers that run the image. The webhook and `customs replay`
/// both call it, so a replay decides exactly as admission did.
#[allow(clippy::too_many_arguments)] // each is one input of the decision
pub(crate) fn judge_image(
    engine: &Engine,
    bundle: &Bundle,
    settings: &AdmissionSettings,
    now: i64,
    workload: &Workload,
    image: &str,
    digest: &str,
    found: Found,
    lines: &mut Lines,
) -> Option<Decision> {
    let (facts, recorded_at) = match found {
        Found::Missing => {
            lines.deny(format!(
                "{image}: {ADMISSION}/pipeline-facts: no facts were recorded for {digest}; \
                 the image did not go through the pipeline (POST /v1/images/{digest}/facts)"
            ));
            return None;
        }
        Found::Refused(reason) => {
            lines
                .full
                .denials
                .push(format!("{image}: {ADMISSION}/pipeline-facts: {reason}"));
            lines.shown.denials.push(format!(
                "{image}: {ADMISSION}/pipeline-facts: no usable facts (details in the decision record)"
            ));
            return None;
        }
        Found::Facts { facts, recorded_at } => (facts, recorded_at),
    };
    let age_days = (now - recorded_at) / 86_400;
    if age_days > settings.stale_after_days {
        let line = format!(
            "{image}: {ADMISSION}/stale-facts: the facts for {digest} were recorded {age_days} days ago, \
             more than stale_after_days ({}); rescan the image",
            settings.stale_after_days
        );
        match settings.stale {
            crate::config::StaleFacts::Deny => {
                lines.deny(line);
                return None;
            }
            crate::config::StaleFacts::Warn => lines.warn(line),
        }
    }
    let mut facts = match serde_json::from_str::<Facts>(&facts) {
        Ok(facts) => facts,
        Err(error) => {
            lines.full.denials.push(format!(
                "{image}: {ADMISSION}/pipeline-facts: the stored facts for {digest} do not read as facts v1: {error}"
            ));
            lines.shown.denials.push(format!(
                "{image}: {ADMISSION}/pipeline-facts: the stored facts for {digest} do not read as facts v1"
            ));
            return None;
        }
    };
    let missing: Vec<&str> = settings
        .requires
        .iter()
        .filter(|part| !part.is_in(&facts))
        .map(|part| part.name())
        .collect();
    if !missing.is_empty() {
        lines.deny(format!(
            "{image}: {ADMISSION}/incomplete-facts: the facts recorded for {digest} lack {}; \
             record the scanner's report for this digest",
            missing.join(", ")
        ));
        return None;
    }
    // The containers that run this image, with their security contexts.
    facts.workload = Some(Workload {
        containers: workload
            .containers
            .iter()
            .filter(|c| c.image == image)
            .cloned()
            .collect(),
        ..workload.clone()
    });
    let decision = engine.evaluate(bundle, &PreparedFacts::new(facts), &EvalOptions::at(now));
    finding_lines(&format!("{image}: "), &decision, lines);
    Some(decision)
}

/// A recorded decision evaluated again.
#[derive(Debug, Clone, Serialize)]
pub struct Replayed {
    pub id: String,
    pub kind: DecisionKind,
    pub decided_at: i64,
    /// The bundle the decision was made with.
    pub recorded_bundle: String,
    /// Whether the replay ran that same bundle (then any difference is a
    /// defect: the same inputs must decide the same).
    pub same_bundle: bool,
    pub recorded: Outcome,
    pub replayed: Outcome,
    /// Lines answered then and not now (`-`), and now and not then (`+`).
    pub diff: Vec<String>,
}

impl Replayed {
    pub fn kind_name(&self) -> &'static str {
        self.kind.name()
    }

    pub fn differs(&self) -> bool {
        !self.diff.is_empty() || self.recorded.decision != self.replayed.decision
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub decision: String,
    pub reasons: Reasons,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("decision {id}: {reason}")]
    Unreplayable { id: String, reason: String },
}

/// Evaluates `record` again with `bundle` (whose identity is `bundle_id`)
/// from the facts it names, at the time it was made, with the settings it
/// was made under. Evaluation is CPU work: call it from a blocking context.
pub async fn replay(
    engine: &Engine,
    bundle: &Bundle,
    bundle_id: &str,
    store: &Store,
    record: &DecisionRecord,
) -> Result<Replayed, ReplayError> {
    let unreplayable = |reason: String| ReplayError::Unreplayable {
        id: record.id.clone(),
        reason,
    };
    let mut lines = Lines::default();
    let policy_time = record.context.policy_time.unwrap_or(record.decided_at);
    let allowed = match record.kind {
        DecisionKind::Facts => {
            let image = record
                .images
                .first()
                .ok_or_else(|| unreplayable("it names no image".to_owned()))?;
            let digest = image
                .facts_digest
                .as_deref()
                .ok_or_else(|| unreplayable("it names no facts".to_owned()))?;
            let text = store
                .facts_blob(digest)
                .await?
                .ok_or_else(|| unreplayable(format!("its facts {digest} are gone")))?;
            let facts: Facts = serde_json::from_str(&text)
                .map_err(|e| unreplayable(format!("its facts do not read as facts v1: {e}")))?;
            let decision = engine.evaluate(
                bundle,
                &PreparedFacts::new(facts),
                &EvalOptions::at(policy_time),
            );
            finding_lines("", &decision, &mut lines);
            decision.is_allowed()
        }
        DecisionKind::Admission => {
            let settings = record
                .context
                .admission
                .as_ref()
                .ok_or_else(|| unreplayable("it records no admission settings".to_owned()))?;
            match &record.context.workload {
                None => lines.deny(record_reason_without_workload(record)),
                Some(workload) => {
                    for image in &record.images {
                        let digest = match pinned(&image.image) {
                            Ok(digest) => digest,
                            Err(line) => {
                                lines.deny(line);
                                continue;
                            }
                        };
                        let found = match (&image.facts_digest, image.recorded_at, &image.refused) {
                            (Some(facts_digest), Some(recorded_at), _) => Found::Facts {
                                facts: store.facts_blob(facts_digest).await?.ok_or_else(|| {
                                    unreplayable(format!("the facts of {} are gone", image.image))
                                })?,
                                recorded_at,
                            },
                            // Refused as then (a store outage, a writer's scope).
                            (None, _, Some(reason)) => Found::Refused(reason.clone()),
                            _ => Found::Missing,
                        };
                        judge_image(
                            engine,
                            bundle,
                            settings,
                            policy_time,
                            workload,
                            &image.image,
                            digest,
                            found,
                            &mut lines,
                        );
                    }
                }
            }
            lines.full.denials.is_empty()
        }
    };
    let replayed = Outcome {
        decision: outcome(allowed).to_owned(),
        reasons: lines.full,
    };
    let recorded = Outcome {
        decision: record.decision.clone(),
        reasons: record.reasons.clone(),
    };
    let diff = diff_lines(&recorded.reasons, &replayed.reasons);
    Ok(Replayed {
        id: record.id.clone(),
        kind: record.kind,
        decided_at: record.decided_at,
        recorded_bundle: record.bundle.clone(),
        same_bundle: record.bundle == bundle_id,
        recorded,
        replayed,
        diff,
    })
}

/// A review without a workload is denied before any image is judged; its
/// recorded reason stands as it was.
fn record_reason_without_workload(record: &DecisionRecord) -> String {
    record
        .reasons
        .denials
        .first()
        .cloned()
        .unwrap_or_else(|| format!("{ADMISSION}: the review carries no workload"))
}

fn diff_lines(then: &Reasons, now: &Reasons) -> Vec<String> {
    let mut diff = Vec::new();
    for (old, new, kind) in [
        (&then.denials, &now.denials, "deny"),
        (&then.warnings, &now.warnings, "warn"),
    ] {
        diff.extend(
            old.iter()
                .filter(|line| !new.contains(line))
                .map(|line| format!("- {kind} {line}")),
        );
        diff.extend(
            new.iter()
                .filter(|line| !old.contains(line))
                .map(|line| format!("+ {kind} {line}")),
        );
    }
    diff
}

/// The facts-store record of a facts write's decision: made at `at`
/// (server time) by the token `writer`, the policies seeing `policy_time`.
pub(crate) fn facts_record(
    digest: &str,
    facts_digest: &str,
    at: i64,
    policy_time: i64,
    writer: &str,
    bundle_id: &str,
    decision: &Decision,
) -> DecisionRecord {
    let mut lines = Lines::default();
    finding_lines("", decision, &mut lines);
    DecisionRecord {
        id: new_id(),
        kind: DecisionKind::Facts,
        uid: None,
        namespace: None,
        workload: None,
        decision: outcome(decision.is_allowed()).to_owned(),
        reasons: lines.full,
        bundle: bundle_id.to_owned(),
        decided_at: at,
        images: vec![DecidedImage {
            image: digest.to_owned(),
            digest: Some(digest.to_owned()),
            facts_digest: Some(facts_digest.to_owned()),
            recorded_at: Some(at),
            refused: None,
        }],
        context: DecisionContext {
            caller: Some(format!("token {writer}")),
            policy_time: (policy_time != at).then_some(policy_time),
            ..DecisionContext::default()
        },
    }
}
