//! Sweeps: re-evaluate every stored image against the current bundle (a new
//! CVE rule or a changed parameter applies to what already shipped), list the
//! images whose facts are older than the allowed age (they need a rescan) and
//! the digests registries reported pushed that never got facts.

use customs::{Bundle, Engine, EvalOptions, PreparedFacts};
use customs_facts::Facts;
use serde::Serialize;

use crate::store::{Push, Store, StoreError};

#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Facts recorded longer ago than this many seconds are stale.
    pub stale_after_secs: i64,
    /// The time of the sweep (Unix seconds).
    pub now: i64,
    /// Write the new decisions back to the store.
    pub update: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reevaluated {
    pub digest: String,
    pub before: String,
    pub after: String,
    /// The rules that deny now.
    pub denied_rules: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stale {
    pub digest: String,
    pub recorded_at: i64,
    pub age_days: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SweepReport {
    pub now: i64,
    pub bundle: String,
    pub images: Vec<Reevaluated>,
    pub stale: Vec<Stale>,
    pub unevaluated: Vec<Push>,
    /// Stored records that could not be re-evaluated (damaged facts).
    pub errors: Vec<String>,
}

impl SweepReport {
    /// Something needs a person: a denied image, stale facts, a pushed digest
    /// without facts, a damaged record.
    pub fn needs_action(&self) -> bool {
        self.images.iter().any(|i| i.after != "allow")
            || !self.stale.is_empty()
            || !self.unevaluated.is_empty()
            || !self.errors.is_empty()
    }
}

/// Runs one sweep. Evaluation is CPU work: call it from a blocking context
/// or accept that it holds the task for the bundle's time per image.
pub async fn sweep(
    engine: &Engine,
    bundle: &Bundle,
    bundle_id: &str,
    store: &Store,
    options: &SweepOptions,
) -> Result<SweepReport, StoreError> {
    let mut report = SweepReport {
        now: options.now,
        bundle: bundle_id.to_owned(),
        ..SweepReport::default()
    };
    for summary in store.images().await? {
        if options.now - summary.recorded_at > options.stale_after_secs {
            report.stale.push(Stale {
                digest: summary.digest.clone(),
                recorded_at: summary.recorded_at,
                age_days: (options.now - summary.recorded_at) / 86_400,
            });
        }
        let Some(record) = store.get(&summary.digest).await? else {
            continue; // deleted meanwhile
        };
        let facts: Facts = match serde_json::from_value(record.facts) {
            Ok(facts) => facts,
            Err(e) => {
                report.errors.push(format!(
                    "{}: the stored facts do not read as facts v1: {e}",
                    summary.digest
                ));
                continue;
            }
        };
        let decision = engine.evaluate(
            bundle,
            &PreparedFacts::new(facts),
            &EvalOptions::at(options.now),
        );
        let after = crate::decisions::outcome(decision.is_allowed());
        if options.update {
            let result = serde_json::to_value(&decision).unwrap_or_default();
            store
                .update_decision(&summary.digest, after, &result, options.now, bundle_id)
                .await?;
        }
        report.images.push(Reevaluated {
            digest: summary.digest,
            before: summary.decision,
            after: after.to_owned(),
            denied_rules: decision
                .denied_rules()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        });
    }
    report.unevaluated = store.unevaluated_pushes().await?;
    Ok(report)
}
