//! `runtime-hardening`: how the image is about to run, judged by the
//! Kubernetes Pod Security Standards.
//!
//! Applies when the facts carry a workload (admission, or an AdmissionReview
//! given to `customs eval`); an image alone passes. `level` picks the
//! standard: `restricted` (the default) or `baseline`. Each violation is its
//! own finding naming the container (or the pod field) and the setting.
//! Running as non-root, which "restricted" also requires, is `no-root-user`'s.

use customs_guest::{
    Container, Finding, Image, Params, Policy, PolicyInfo, Severity, Workload, export_policy,
};

const RULE: &str = "runtime-hardening";

/// The capabilities the "baseline" standard lets a container add.
const PSS_BASELINE_CAPABILITIES: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

#[derive(Clone, Copy, PartialEq)]
enum Level {
    Baseline,
    Restricted,
}

struct Settings<'a> {
    level: Level,
    allowed_capabilities: Vec<String>,
    allowed_selinux_types: Vec<&'a str>,
    allowed_host_paths: Vec<&'a str>,
    allowed_host_ports: Vec<u16>,
}

impl<'a> Settings<'a> {
    fn read(params: &'a Params) -> Result<Settings<'a>, String> {
        let level = match params.get("level").unwrap_or("restricted").trim() {
            "restricted" => Level::Restricted,
            "baseline" => Level::Baseline,
            other => {
                return Err(format!(
                    "parameter level={other:?} is invalid: use restricted or baseline"
                ));
            }
        };
        let mut allowed_capabilities: Vec<String> = params
            .list("allowed-capabilities")
            .into_iter()
            .map(capability)
            .collect();
        if level == Level::Baseline {
            allowed_capabilities.extend(PSS_BASELINE_CAPABILITIES.map(str::to_owned));
        }
        let allowed_host_ports = params
            .list("allowed-host-ports")
            .into_iter()
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|e| format!("parameter allowed-host-ports: {p:?} is not a port: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Settings {
            level,
            allowed_capabilities,
            allowed_selinux_types: params.list("allowed-selinux-types"),
            allowed_host_paths: params.list("allowed-host-paths"),
            allowed_host_ports,
        })
    }
}

struct RuntimeHardening;

impl Policy for RuntimeHardening {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            RULE,
            "0.1.0",
            "The workload runs the image as the Pod Security Standards require (restricted by default).",
        )
        .rule(
            RULE,
            "no privileged container, privilege escalation, extra capabilities, unconfined seccomp/AppArmor, other SELinux types, host namespaces, hostPath volumes or host ports",
        )
        .param(
            "level",
            "restricted",
            "Pod Security Standards level: restricted or baseline",
        )
        .param(
            "allowed-capabilities",
            "NET_BIND_SERVICE",
            "capabilities a container may add (level baseline also allows the standard's default set)",
        )
        .param(
            "allowed-selinux-types",
            "container_t,container_init_t,container_kvm_t,container_engine_t",
            "SELinux types a container may set",
        )
        .param(
            "allowed-host-paths",
            "",
            "node paths a hostPath volume may mount (exact paths)",
        )
        .param("allowed-host-ports", "", "node ports a container may bind")
    }

    fn evaluate(image: &Image, params: &Params) -> Result<Vec<Finding>, String> {
        let settings = Settings::read(params)?;
        let Some(workload) = image.workload() else {
            return Ok(vec![]);
        };
        let mut findings = pod_findings(&workload, &settings);
        for container in &workload.containers {
            container_findings(container, &settings, &mut findings);
        }
        Ok(findings)
    }
}

fn pod_findings(workload: &Workload, settings: &Settings) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (shared, field, what) in [
        (workload.host_network, "hostNetwork", "network"),
        (workload.host_pid, "hostPID", "process"),
        (workload.host_ipc, "hostIPC", "IPC"),
    ] {
        if shared {
            findings.push(
                Finding::deny(
                    RULE,
                    Severity::High,
                    format!("spec.{field} is true: the pod shares the node's {what} namespace"),
                )
                .with_subject(field),
            );
        }
    }
    for path in &workload.host_path_volumes {
        if !settings.allowed_host_paths.contains(&path.as_str()) {
            findings.push(
                Finding::deny(
                    RULE,
                    Severity::High,
                    format!(
                        "a hostPath volume mounts the node's {path}, which is not in allowed-host-paths"
                    ),
                )
                .with_subject(path.clone()),
            );
        }
    }
    findings
}

fn container_findings(container: &Container, settings: &Settings, findings: &mut Vec<Finding>) {
    let sc = &container.security_context;
    let restricted = settings.level == Level::Restricted;
    let mut deny = |severity: Severity, message: String| {
        findings.push(
            Finding::deny(
                RULE,
                severity,
                format!("container {:?}: {message}", container.name),
            )
            .with_subject(container.name.clone()),
        );
    };
    if sc.privileged == Some(true) {
        deny(
            Severity::Critical,
            "securityContext.privileged is true (every capability and the node's devices)".into(),
        );
    }
    if restricted && sc.allow_privilege_escalation != Some(false) {
        let set = match sc.allow_privilege_escalation {
            Some(_) => "true",
            None => "not set",
        };
        deny(
            Severity::Medium,
            format!("securityContext.allowPrivilegeEscalation is {set}; set it to false"),
        );
    }
    let added: Vec<String> = sc
        .capabilities_add
        .iter()
        .map(|c| capability(c))
        .filter(|c| !settings.allowed_capabilities.contains(c))
        .collect();
    if !added.is_empty() {
        deny(
            Severity::High,
            format!(
                "securityContext.capabilities.add has {}, not in allowed-capabilities",
                added.join(", ")
            ),
        );
    }
    if restricted && !sc.capabilities_drop.iter().any(|c| capability(c) == "ALL") {
        deny(
            Severity::Medium,
            "securityContext.capabilities.drop does not list ALL".into(),
        );
    }
    let seccomp = sc.seccomp_profile.as_deref();
    let seccomp_kind = seccomp.map(|p| p.split(':').next().unwrap_or(p));
    let seccomp_ok = match seccomp_kind {
        Some("RuntimeDefault" | "Localhost") => true,
        None => !restricted,
        Some(_) => false,
    };
    if !seccomp_ok {
        deny(
            Severity::Medium,
            format!(
                "securityContext.seccompProfile is {}; use RuntimeDefault or Localhost",
                seccomp.unwrap_or("not set")
            ),
        );
    }
    if let Some(profile) = sc.apparmor_profile.as_deref()
        && !apparmor_confined(profile)
    {
        deny(
            Severity::Medium,
            format!("the AppArmor profile is {profile}; use RuntimeDefault or Localhost"),
        );
    }
    if let Some(kind) = sc.selinux_type.as_deref()
        && !settings.allowed_selinux_types.contains(&kind)
    {
        deny(
            Severity::Medium,
            format!("securityContext.seLinuxOptions.type is {kind}, not in allowed-selinux-types"),
        );
    }
    let ports: Vec<String> = container
        .host_ports
        .iter()
        .filter(|p| !settings.allowed_host_ports.contains(p))
        .map(u16::to_string)
        .collect();
    if !ports.is_empty() {
        deny(
            Severity::Medium,
            format!(
                "ports[].hostPort binds node port {}, not in allowed-host-ports",
                ports.join(", ")
            ),
        );
    }
}

/// A capability as the kernel names it without its prefix: `cap_net_admin`
/// and `NET_ADMIN` are the same.
fn capability(name: &str) -> String {
    let upper = name.to_ascii_uppercase();
    match upper.strip_prefix("CAP_") {
        Some(rest) => rest.to_owned(),
        None => upper,
    }
}

/// The field's `RuntimeDefault` and `Localhost:NAME`, or the annotation's
/// `runtime/default` and `localhost/NAME`.
fn apparmor_confined(profile: &str) -> bool {
    profile == "RuntimeDefault"
        || profile == "Localhost"
        || profile.starts_with("Localhost:")
        || profile == "runtime/default"
        || profile.starts_with("localhost/")
}

export_policy!(RuntimeHardening);
