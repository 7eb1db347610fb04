//! Kubernetes `AdmissionReview` (admission.k8s.io/v1) for Pods and the
//! workloads that carry a pod template (Deployment, ReplicaSet, StatefulSet,
//! DaemonSet, Job, CronJob, ReplicationController): how the images will run.
//!
//! Each container's effective security context is computed the way the kubelet
//! does: container settings override the pod's. AppArmor comes from the
//! `appArmorProfile` field (Kubernetes 1.30+) or the older per-container
//! annotation. Init and ephemeral containers are included: they run too.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Format, ImportError, Origin, parse_typed, plain_source, schema_error};
use crate::model::{Container, Facts, SecurityContext, Workload};

/// Most containers (init, app and ephemeral) one review may name: far above
/// real pods, and a bound on the work of judging one.
const MAX_CONTAINERS: usize = 256;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Review {
    api_version: String,
    kind: String,
    #[serde(default)]
    request: Option<Request>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    #[serde(default)]
    kind: Option<GroupVersionKind>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    object: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct GroupVersionKind {
    kind: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ObjectMeta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PodSpec {
    #[serde(default)]
    security_context: Option<K8sSecurityContext>,
    #[serde(default)]
    containers: Vec<K8sContainer>,
    #[serde(default)]
    init_containers: Vec<K8sContainer>,
    #[serde(default)]
    ephemeral_containers: Vec<K8sContainer>,
    #[serde(default)]
    host_network: bool,
    #[serde(default, rename = "hostPID")]
    host_pid: bool,
    #[serde(default, rename = "hostIPC")]
    host_ipc: bool,
    #[serde(default)]
    volumes: Vec<Volume>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Volume {
    #[serde(default)]
    host_path: Option<HostPath>,
}

#[derive(Deserialize)]
struct HostPath {
    path: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContainerPort {
    #[serde(default)]
    host_port: Option<u16>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct K8sContainer {
    name: String,
    #[serde(default)]
    image: String,
    #[serde(default)]
    security_context: Option<K8sSecurityContext>,
    #[serde(default)]
    ports: Vec<ContainerPort>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct K8sSecurityContext {
    #[serde(default)]
    run_as_non_root: Option<bool>,
    #[serde(default)]
    run_as_user: Option<i64>,
    #[serde(default)]
    privileged: Option<bool>,
    #[serde(default)]
    allow_privilege_escalation: Option<bool>,
    #[serde(default)]
    read_only_root_filesystem: Option<bool>,
    #[serde(default)]
    capabilities: Option<Capabilities>,
    #[serde(default)]
    seccomp_profile: Option<Profile>,
    #[serde(default)]
    app_armor_profile: Option<Profile>,
    #[serde(default, rename = "seLinuxOptions")]
    se_linux_options: Option<SeLinuxOptions>,
}

#[derive(Deserialize, Default, Clone)]
struct Capabilities {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    drop: Vec<String>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Profile {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    localhost_profile: Option<String>,
}

impl Profile {
    fn describe(&self) -> String {
        match &self.localhost_profile {
            Some(path) => format!("{}:{path}", self.kind),
            None => self.kind.clone(),
        }
    }
}

#[derive(Deserialize, Default, Clone)]
struct SeLinuxOptions {
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

pub(super) fn import(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let review: Review = parse_typed(origin, bytes, Format::AdmissionReview)?;
    if review.api_version != "admission.k8s.io/v1" || review.kind != "AdmissionReview" {
        return Err(ImportError::UnsupportedVersion {
            origin: origin.clone(),
            format: Format::AdmissionReview,
            found: format!("{} {}", review.api_version, review.kind),
            supported: "admission.k8s.io/v1 AdmissionReview",
        });
    }
    let request = review.request.ok_or_else(|| {
        schema_error(
            origin,
            Format::AdmissionReview,
            "request",
            "the review has no request".to_owned(),
        )
    })?;
    let object = request.object.ok_or_else(|| {
        schema_error(
            origin,
            Format::AdmissionReview,
            "request.object",
            "the request has no object (a DELETE?)".to_owned(),
        )
    })?;
    let kind = request.kind.map(|k| k.kind).unwrap_or_default();
    // Where the pod template is, for each kind that has one.
    let (meta_path, spec_path): (&[&str], &[&str]) = match kind.as_str() {
        "Pod" => (&["metadata"], &["spec"]),
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "ReplicationController" => (
            &["spec", "template", "metadata"],
            &["spec", "template", "spec"],
        ),
        "CronJob" => (
            &["spec", "jobTemplate", "spec", "template", "metadata"],
            &["spec", "jobTemplate", "spec", "template", "spec"],
        ),
        other => {
            return Err(schema_error(
                origin,
                Format::AdmissionReview,
                "request.kind.kind",
                format!(
                    "{other:?} carries no pod; customs admits Pods and Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, ReplicationController"
                ),
            ));
        }
    };
    let at = |path: &[&str]| path.iter().fold(&object, |v, key| &v[*key]);
    let template_meta: ObjectMeta = serde_json::from_value(at(meta_path).clone()).map_err(|e| {
        schema_error(
            origin,
            Format::AdmissionReview,
            &format!("request.object.{}", meta_path.join(".")),
            e.to_string(),
        )
    })?;
    let spec: PodSpec = serde_json::from_value(at(spec_path).clone()).map_err(|e| {
        schema_error(
            origin,
            Format::AdmissionReview,
            &format!("request.object.{}", spec_path.join(".")),
            e.to_string(),
        )
    })?;
    let object_meta: ObjectMeta =
        serde_json::from_value(object["metadata"].clone()).unwrap_or_default();

    let count =
        spec.init_containers.len() + spec.containers.len() + spec.ephemeral_containers.len();
    if count > MAX_CONTAINERS {
        return Err(schema_error(
            origin,
            Format::AdmissionReview,
            &format!("request.object.{}", spec_path.join(".")),
            format!("{count} containers, more than the {MAX_CONTAINERS} a review may name"),
        ));
    }
    let pod_context = spec.security_context.clone().unwrap_or_default();
    let containers = spec
        .init_containers
        .iter()
        .chain(&spec.containers)
        .chain(&spec.ephemeral_containers)
        .map(|c| effective(c, &pod_context, &template_meta.annotations))
        .collect();
    Ok(Facts {
        workload: Some(Workload {
            namespace: request.namespace.or(object_meta.namespace),
            kind: Some(kind),
            name: request.name.or(object_meta.name).or(template_meta.name),
            containers,
            host_network: spec.host_network,
            host_pid: spec.host_pid,
            host_ipc: spec.host_ipc,
            host_path_volumes: spec
                .volumes
                .into_iter()
                .filter_map(|v| v.host_path.map(|h| h.path))
                .collect(),
        }),
        sources: vec![plain_source(
            "kubernetes",
            Format::AdmissionReview,
            origin,
            Vec::new(),
        )],
        ..Facts::default()
    })
}

/// A container's security context with the pod's settings filled in where the
/// container sets nothing.
fn effective(
    c: &K8sContainer,
    pod: &K8sSecurityContext,
    annotations: &BTreeMap<String, String>,
) -> Container {
    let own = c.security_context.clone().unwrap_or_default();
    let capabilities = own.capabilities.clone().unwrap_or_default();
    let apparmor = own
        .app_armor_profile
        .as_ref()
        .or(pod.app_armor_profile.as_ref())
        .map(Profile::describe)
        .or_else(|| {
            annotations
                .get(&format!(
                    "container.apparmor.security.beta.kubernetes.io/{}",
                    c.name
                ))
                .cloned()
        });
    Container {
        name: c.name.clone(),
        image: c.image.clone(),
        security_context: SecurityContext {
            run_as_non_root: own.run_as_non_root.or(pod.run_as_non_root),
            run_as_user: own.run_as_user.or(pod.run_as_user),
            // Privilege settings exist on containers only.
            privileged: own.privileged,
            allow_privilege_escalation: own.allow_privilege_escalation,
            read_only_root_filesystem: own.read_only_root_filesystem,
            capabilities_add: capabilities.add,
            capabilities_drop: capabilities.drop,
            seccomp_profile: own
                .seccomp_profile
                .as_ref()
                .or(pod.seccomp_profile.as_ref())
                .map(Profile::describe),
            apparmor_profile: apparmor,
            selinux_type: own
                .se_linux_options
                .and_then(|o| o.kind)
                .or_else(|| pod.se_linux_options.clone().and_then(|o| o.kind)),
        },
        // 0 (or absent) binds no node port.
        host_ports: c
            .ports
            .iter()
            .filter_map(|p| p.host_port)
            .filter(|&port| port != 0)
            .collect(),
    }
}
