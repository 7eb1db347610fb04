//! Kubernetes AdmissionReview input (written from the API reference; see
//! tests/data/README.md): effective security contexts, and the admission flow
//! with a real image report.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use customs::{EvalOptions, PolicyDecision, PreparedFacts};
use customs_facts::Facts;
use customs_facts::import::{ImportError, Origin, import_bytes, import_file};
use customs_tests::{baseline, corpus_dir, engine};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/admission")
        .join(name)
}

#[test]
fn container_settings_override_the_pods() {
    let facts = import_file(&data("deployment-nonroot.json")).unwrap();
    let workload = facts.workload.unwrap();
    assert_eq!(workload.kind.as_deref(), Some("Deployment"));
    assert_eq!(workload.namespace.as_deref(), Some("payments"));
    assert_eq!(workload.name.as_deref(), Some("api"));
    let names: Vec<&str> = workload
        .containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["migrate", "api", "sidecar"],
        "init containers run too"
    );

    let api = &workload.containers[1].security_context;
    assert_eq!(
        (api.run_as_non_root, api.run_as_user),
        (Some(true), Some(10001)),
        "inherited from the pod"
    );
    assert_eq!(api.seccomp_profile.as_deref(), Some("RuntimeDefault"));
    assert_eq!(api.selinux_type.as_deref(), Some("container_t"));
    assert_eq!(api.capabilities_add, ["NET_BIND_SERVICE"]);
    assert_eq!(api.read_only_root_filesystem, Some(true));

    let sidecar = &workload.containers[2].security_context;
    assert_eq!(
        (sidecar.run_as_non_root, sidecar.run_as_user),
        (Some(false), Some(0)),
        "the container's own settings win"
    );
    assert_eq!(sidecar.privileged, Some(true));
    assert_eq!(
        sidecar.apparmor_profile.as_deref(),
        Some("localhost/k8s-sidecar")
    );
}

#[test]
fn host_namespaces_paths_ports_and_dropped_capabilities_are_read() {
    let workload = import_file(&data("pod-hardening-violations.json"))
        .unwrap()
        .workload
        .unwrap();
    assert_eq!(
        (workload.host_network, workload.host_pid, workload.host_ipc),
        (true, true, true)
    );
    assert_eq!(
        workload.host_path_volumes,
        ["/var/run/docker.sock"],
        "the emptyDir volume is no host path"
    );
    let agent = &workload.containers[0];
    assert_eq!(agent.host_ports, [9100]);
    assert_eq!(
        agent.security_context.apparmor_profile.as_deref(),
        Some("unconfined"),
        "from the annotation"
    );

    let workload = import_file(&data("pod-restricted.json"))
        .unwrap()
        .workload
        .unwrap();
    assert_eq!(
        (workload.host_network, workload.host_pid, workload.host_ipc),
        (false, false, false)
    );
    assert!(workload.host_path_volumes.is_empty());
    let api = &workload.containers[0];
    assert!(
        api.host_ports.is_empty(),
        "a containerPort binds no node port"
    );
    assert_eq!(api.security_context.capabilities_drop, ["ALL"]);
    assert_eq!(
        api.security_context.seccomp_profile.as_deref(),
        Some("RuntimeDefault"),
        "inherited from the pod"
    );
    assert_eq!(
        api.security_context.apparmor_profile.as_deref(),
        Some("RuntimeDefault")
    );
}

fn no_root_user(facts: Facts) -> PolicyDecision {
    let decision = engine().evaluate(
        &baseline(),
        &PreparedFacts::new(facts),
        &EvalOptions::at(1_795_000_000),
    );
    decision
        .policies
        .iter()
        .find(|p| p.name == "no-root-user")
        .unwrap()
        .decision
}

#[test]
fn a_root_image_is_admitted_only_when_every_container_is_forced_non_root() {
    let image = || import_file(&corpus_dir().join("trivy/alpine-310.json")).unwrap();
    // A bare pod: the image's root user decides.
    let bare =
        Facts::merge_all([image(), import_file(&data("pod-default.json")).unwrap()]).unwrap();
    assert_eq!(no_root_user(bare), PolicyDecision::Deny);
    // The root sidecar spoils it.
    let mixed = Facts::merge_all([
        image(),
        import_file(&data("deployment-nonroot.json")).unwrap(),
    ])
    .unwrap();
    assert_eq!(no_root_user(mixed), PolicyDecision::Deny);
    // Without the sidecar, every container is forced non-root.
    let text = std::fs::read_to_string(data("deployment-nonroot.json")).unwrap();
    let mut review: serde_json::Value = serde_json::from_str(&text).unwrap();
    review["request"]["object"]["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .pop();
    let forced =
        import_bytes(&Origin::named("review.json"), review.to_string().as_bytes()).unwrap();
    assert_eq!(
        no_root_user(Facts::merge_all([image(), forced]).unwrap()),
        PolicyDecision::Allow
    );
}

#[test]
fn objects_without_a_pod_are_refused() {
    let review = br#"{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"kind": {"kind": "ConfigMap"}, "object": {"data": {}}}}"#;
    let err = import_bytes(&Origin::named("cm.json"), review).unwrap_err();
    assert!(matches!(err, ImportError::Schema { .. }), "{err}");
    assert!(
        err.to_string().contains("\"ConfigMap\" carries no pod"),
        "{err}"
    );
    let old =
        br#"{"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {}}"#;
    let err = import_bytes(&Origin::named("old.json"), old)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("admission.k8s.io/v1beta1 AdmissionReview is not supported"),
        "{err}"
    );
}
