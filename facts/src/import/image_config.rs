//! The OCI / Docker image config (`application/vnd.oci.image.config.v1+json`),
//! as registries store it and as Trivy, Grype and `docker inspect` embed it.
//! One mapping to facts, shared by every importer that sees a config.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::{Config, Facts, HistoryEntry, Layer};

#[derive(Deserialize, Default)]
pub(crate) struct ImageConfig {
    #[serde(default)]
    pub(crate) architecture: Option<String>,
    #[serde(default)]
    pub(crate) os: Option<String>,
    #[serde(default)]
    pub(crate) variant: Option<String>,
    #[serde(default, deserialize_with = "super::rfc3339_time")]
    pub(crate) created: Option<String>,
    #[serde(default)]
    pub(crate) history: Option<Vec<History>>,
    #[serde(default)]
    pub(crate) config: Option<ContainerConfig>,
    #[serde(default)]
    pub(crate) rootfs: Option<RootFs>,
}

#[derive(Deserialize)]
pub(crate) struct History {
    #[serde(default, deserialize_with = "super::rfc3339_time")]
    created: Option<String>,
    #[serde(default)]
    created_by: Option<String>,
    #[serde(default)]
    empty_layer: Option<bool>,
}

#[derive(Deserialize, Default)]
pub(crate) struct RootFs {
    #[serde(default)]
    pub(crate) diff_ids: Option<Vec<String>>,
}

/// Docker's runtime config (PascalCase keys, as in the config blob and `docker inspect`).
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ContainerConfig {
    #[serde(default)]
    pub(crate) user: Option<String>,
    #[serde(default)]
    pub(crate) entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) cmd: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) env: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) exposed_ports: Option<BTreeMap<String, serde::de::IgnoredAny>>,
    #[serde(default)]
    pub(crate) working_dir: Option<String>,
    #[serde(default)]
    pub(crate) labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub(crate) healthcheck: Option<Healthcheck>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Healthcheck {
    #[serde(default)]
    test: Option<Vec<String>>,
}

/// Go's zero time, which tools print for "not set".
fn is_set_time(text: &str) -> bool {
    !text.is_empty() && !text.starts_with("0001-01-01")
}

impl ImageConfig {
    /// Maps the config onto image facts: platform, creation time, history and runtime config.
    pub(crate) fn apply_to(self, facts: &mut Facts) {
        let image = &mut facts.image;
        image.os = self.os.filter(|s| !s.is_empty()).or(image.os.take());
        image.architecture = match (self.architecture.filter(|s| !s.is_empty()), self.variant) {
            (Some(arch), Some(variant)) if !variant.is_empty() => Some(format!("{arch}/{variant}")),
            (arch, _) => arch.or(image.architecture.take()),
        };
        image.created = self
            .created
            .filter(|s| is_set_time(s))
            .or(image.created.take());
        if let Some(history) = self.history {
            facts.history = Some(
                history
                    .into_iter()
                    .map(|h| HistoryEntry {
                        created: h.created.filter(|s| is_set_time(s)),
                        created_by: h.created_by,
                        empty_layer: h.empty_layer.unwrap_or(false),
                    })
                    .collect(),
            );
        }
        if facts.layers.is_none()
            && let Some(diff_ids) = self.rootfs.and_then(|r| r.diff_ids)
        {
            facts.layers = Some(
                diff_ids
                    .into_iter()
                    .map(|d| Layer {
                        diff_id: Some(d),
                        ..Layer::default()
                    })
                    .collect(),
            );
        }
        let inner = self.config.unwrap_or_default();
        inner.apply_to(facts);
    }
}

impl ContainerConfig {
    pub(crate) fn apply_to(self, facts: &mut Facts) {
        if let Some(labels) = self.labels {
            facts.image.labels.extend(labels);
        }
        facts.config = Some(Config {
            user: self.user.unwrap_or_default(),
            entrypoint: self.entrypoint.unwrap_or_default(),
            cmd: self.cmd.unwrap_or_default(),
            // Names only: values may hold secrets.
            env_names: self
                .env
                .unwrap_or_default()
                .into_iter()
                .map(|entry| match entry.split_once('=') {
                    Some((name, _value)) => name.to_owned(),
                    None => entry,
                })
                .collect(),
            exposed_ports: self
                .exposed_ports
                .map(|ports| ports.into_keys().collect())
                .unwrap_or_default(),
            working_dir: self.working_dir.filter(|s| !s.is_empty()),
            healthcheck: self.healthcheck.is_some_and(|h| {
                h.test
                    .is_some_and(|test| test.first().is_some_and(|t| t != "NONE"))
            }),
        });
    }
}
