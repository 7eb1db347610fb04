//! Prometheus metrics, served at /metrics in the OpenMetrics text format.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// "evaluate", "facts" or "admission".
    pub endpoint: &'static str,
    pub decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    pub policy: String,
    pub decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// "replaced", "unchanged" or "failed".
    pub result: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub decisions: Family<DecisionLabels, Counter>,
    pub policy_decisions: Family<PolicyLabels, Counter>,
    pub policy_errors: Family<PolicyLabels, Counter>,
    pub evaluation_seconds: Histogram,
    pub requests: Family<RequestLabels, Counter>,
    pub request_seconds: Family<RequestLabels, Histogram>,
    pub store_images: Gauge,
    pub store_errors: Counter,
    pub stale_images: Gauge,
    pub unevaluated_images: Gauge,
    pub reloads: Family<ReloadLabels, Counter>,
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    // 50 µs .. ~3.3 s
    exponential_buckets(0.000_05, 2.0, 17)
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("customs");
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "decisions",
            "Image decisions, by endpoint and outcome",
            decisions.clone(),
        );
        let policy_decisions = Family::<PolicyLabels, Counter>::default();
        registry.register(
            "policy_decisions",
            "Policy evaluations, by policy and outcome",
            policy_decisions.clone(),
        );
        let policy_errors = Family::<PolicyLabels, Counter>::default();
        registry.register(
            "policy_errors",
            "Policies that failed (trap, deadline, memory, bad verdict): each denied",
            policy_errors.clone(),
        );
        let evaluation_seconds = Histogram::new(latency_buckets());
        registry.register(
            "evaluation_seconds",
            "Time to evaluate one image against the bundle",
            evaluation_seconds.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests, by route and status",
            requests.clone(),
        );
        let request_seconds = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(latency_buckets())
        });
        registry.register(
            "http_request_seconds",
            "HTTP request latency, by route and status",
            request_seconds.clone(),
        );
        let store_images = Gauge::default();
        registry.register(
            "store_images",
            "Images with recorded facts in the store",
            store_images.clone(),
        );
        let store_errors = Counter::default();
        registry.register(
            "store_errors",
            "Store operations that failed",
            store_errors.clone(),
        );
        let stale_images = Gauge::default();
        registry.register(
            "stale_images",
            "Images whose facts are older than stale_after_days, at the last sweep",
            stale_images.clone(),
        );
        let unevaluated_images = Gauge::default();
        registry.register(
            "unevaluated_images",
            "Pushed digests without facts from the pipeline, at the last sweep",
            unevaluated_images.clone(),
        );
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "bundle_reloads",
            "Bundle reloads, by result (a failed one leaves the old bundle serving)",
            reloads.clone(),
        );
        Metrics {
            reloads,
            stale_images,
            unevaluated_images,
            registry,
            decisions,
            policy_decisions,
            policy_errors,
            evaluation_seconds,
            requests,
            request_seconds,
            store_images,
            store_errors,
        }
    }

    /// Counts one evaluated image and its policies.
    pub fn record(&self, endpoint: &'static str, decision: &customs::Decision) {
        let outcome = crate::decisions::outcome(decision.is_allowed());
        self.decisions
            .get_or_create(&DecisionLabels {
                endpoint,
                decision: outcome,
            })
            .inc();
        for report in &decision.policies {
            let labels = PolicyLabels {
                policy: report.name.clone(),
                decision: policy_outcome(&report.decision),
            };
            if report.error.is_some() {
                self.policy_errors.get_or_create(&labels).inc();
            }
            self.policy_decisions.get_or_create(&labels).inc();
        }
    }

    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

fn policy_outcome(decision: &customs::PolicyDecision) -> &'static str {
    match decision {
        customs::PolicyDecision::Allow => "allow",
        customs::PolicyDecision::Warn => "warn",
        customs::PolicyDecision::Deny => "deny",
        customs::PolicyDecision::Error => "error",
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
