//! Facts prepared once per image for fast queries by every policy.
//!
//! Everything a query returns is converted to the WIT types here, once, and
//! times are parsed to Unix seconds once, so a query only filters and clones.

use std::sync::{Arc, OnceLock};

use customs_facts::{Facts, FixState, SignatureKind, VexStatus};

use crate::bindings::customs::policy::{facts as wit, types as wit_types};

/// The facts about one image, ready to be evaluated by any number of policies
/// (and threads). Cheap to clone.
#[derive(Debug, Clone)]
pub struct PreparedFacts(Arc<Inner>);

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) facts: Facts,
    pub(crate) info: wit::ImageInfo,
    pub(crate) user: Option<wit::User>,
    pub(crate) base: Option<wit::Base>,
    pub(crate) config: Option<wit::Config>,
    pub(crate) history: Option<Vec<wit::HistoryEntry>>,
    pub(crate) packages: Option<Vec<wit::Package>>,
    pub(crate) vulnerabilities: Option<Vec<wit::Vulnerability>>,
    pub(crate) secrets: Option<Vec<wit::Secret>>,
    pub(crate) misconfigurations: Option<Vec<wit::Misconfiguration>>,
    pub(crate) signatures: Option<Vec<wit::Signature>>,
    pub(crate) attestations: Option<Vec<wit::Attestation>>,
    pub(crate) workload: Option<wit::Workload>,
    pub(crate) executables: Option<Vec<wit::Executable>>,
    pub(crate) world_writable: Option<Vec<String>>,
    json: OnceLock<String>,
    /// The facts as CEL values, converted on the first CEL evaluation.
    cel: OnceLock<crate::cel::CelFacts>,
}

impl PreparedFacts {
    pub fn new(facts: Facts) -> PreparedFacts {
        let image = &facts.image;
        let inner = Inner {
            info: wit::ImageInfo {
                reference: image.reference.clone(),
                registry: image.registry.clone(),
                repository: image.repository.clone(),
                tag: image.tag.clone(),
                digest: image.digest.clone(),
                os: image.os.clone(),
                architecture: image.architecture.clone(),
                created: image.created.as_deref().and_then(unix_seconds),
            },
            user: facts.user.as_ref().map(|u| wit::User {
                name: u.name.clone(),
                uid: u.uid,
                gid: u.gid,
                is_root: u.is_root,
            }),
            base: facts.base.as_ref().map(|b| wit::Base {
                reference: b.reference.clone(),
                digest: b.digest.clone(),
                os: b.os.as_ref().map(|os| wit::Os {
                    family: os.family.clone(),
                    version: os.version.clone(),
                    eol: os.eol.as_deref().and_then(unix_seconds),
                    eosl: os.eosl,
                }),
            }),
            config: facts.config.as_ref().map(|c| wit::Config {
                user: c.user.clone(),
                entrypoint: c.entrypoint.clone(),
                cmd: c.cmd.clone(),
                env_names: c.env_names.clone(),
                exposed_ports: c.exposed_ports.clone(),
                working_dir: c.working_dir.clone(),
                healthcheck: c.healthcheck,
            }),
            history: facts.history.as_ref().map(|h| {
                h.iter()
                    .map(|e| wit::HistoryEntry {
                        created: e.created.as_deref().and_then(unix_seconds),
                        created_by: e.created_by.clone(),
                        empty_layer: e.empty_layer,
                    })
                    .collect()
            }),
            packages: facts.packages.as_ref().map(|list| {
                list.iter()
                    .map(|p| wit::Package {
                        name: p.name.clone(),
                        version: p.version.clone(),
                        package_type: p.package_type.clone(),
                        purl: p.purl.clone(),
                        licenses: p.licenses.clone(),
                        layer: p.layer.clone(),
                    })
                    .collect()
            }),
            vulnerabilities: facts.vulnerabilities.as_ref().map(|list| {
                list.iter()
                    .map(|v| wit::Vulnerability {
                        id: v.id.clone(),
                        aliases: v.aliases.clone(),
                        package_name: v.package.clone(),
                        package_version: v.package_version.clone(),
                        package_type: v.package_type.clone(),
                        severity: severity(v.severity),
                        cvss_score: v.cvss_score,
                        fixed_versions: v.fixed_versions.clone(),
                        fix_state: match v.fix_state {
                            FixState::Fixed => wit::FixState::Fixed,
                            FixState::NotFixed => wit::FixState::NotFixed,
                            FixState::WontFix => wit::FixState::WontFix,
                            FixState::Unknown => wit::FixState::Unknown,
                        },
                        published: v.published.as_deref().and_then(unix_seconds),
                        vex_status: v.vex_status.map(|s| match s {
                            VexStatus::Affected => wit::VexStatus::Affected,
                            VexStatus::NotAffected => wit::VexStatus::NotAffected,
                            VexStatus::Fixed => wit::VexStatus::Fixed,
                            VexStatus::UnderInvestigation => wit::VexStatus::UnderInvestigation,
                        }),
                        vex_justification: v.vex_justification.clone(),
                        sources: v.sources.clone(),
                    })
                    .collect()
            }),
            secrets: facts.secrets.as_ref().map(|list| {
                list.iter()
                    .map(|s| wit::Secret {
                        rule_id: s.rule_id.clone(),
                        category: s.category.clone(),
                        severity: severity(s.severity),
                        title: s.title.clone(),
                        path: s.path.clone(),
                        line: s.line,
                    })
                    .collect()
            }),
            misconfigurations: facts.misconfigurations.as_ref().map(|list| {
                list.iter()
                    .map(|m| wit::Misconfiguration {
                        id: m.id.clone(),
                        title: m.title.clone(),
                        severity: severity(m.severity),
                        kind: m.kind.clone(),
                        message: m.message.clone(),
                        target: m.target.clone(),
                    })
                    .collect()
            }),
            signatures: facts.signatures.as_ref().map(|list| {
                list.iter()
                    .map(|s| wit::Signature {
                        kind: match s.kind {
                            SignatureKind::Cosign => wit::SignatureKind::Cosign,
                            SignatureKind::Notation => wit::SignatureKind::Notation,
                            SignatureKind::Dct => wit::SignatureKind::Dct,
                        },
                        verified: s.verified,
                        trust: wit_trust(s.trust),
                        verified_by: s.verified_by.clone(),
                        key_id: s.key_id.clone(),
                        issuer: s.issuer.clone(),
                        subject: s.subject.clone(),
                        rekor_log_index: s.rekor_log_index,
                    })
                    .collect()
            }),
            attestations: facts.attestations.as_ref().map(|list| {
                list.iter()
                    .map(|a| wit::Attestation {
                        predicate_type: a.predicate_type.clone(),
                        verified: a.verified,
                        trust: wit_trust(a.trust),
                        builder_id: a.builder_id.clone(),
                        build_type: a.build_type.clone(),
                    })
                    .collect()
            }),
            workload: facts.workload.as_ref().map(|w| wit::Workload {
                namespace: w.namespace.clone(),
                kind: w.kind.clone(),
                name: w.name.clone(),
                containers: w
                    .containers
                    .iter()
                    .map(|c| {
                        let sc = &c.security_context;
                        wit::Container {
                            name: c.name.clone(),
                            image: c.image.clone(),
                            security_context: wit::SecurityContext {
                                run_as_non_root: sc.run_as_non_root,
                                run_as_user: sc.run_as_user,
                                privileged: sc.privileged,
                                allow_privilege_escalation: sc.allow_privilege_escalation,
                                read_only_root_filesystem: sc.read_only_root_filesystem,
                                capabilities_add: sc.capabilities_add.clone(),
                                capabilities_drop: sc.capabilities_drop.clone(),
                                seccomp_profile: sc.seccomp_profile.clone(),
                                apparmor_profile: sc.apparmor_profile.clone(),
                                selinux_type: sc.selinux_type.clone(),
                            },
                            host_ports: c.host_ports.clone(),
                        }
                    })
                    .collect(),
                host_network: w.host_network,
                host_pid: w.host_pid,
                host_ipc: w.host_ipc,
                host_path_volumes: w.host_path_volumes.clone(),
            }),
            executables: facts.files.as_ref().map(|files| {
                files
                    .executables
                    .iter()
                    .map(|e| wit::Executable {
                        path: e.path.clone(),
                        name: e.name.clone(),
                        kind: e.kind.clone(),
                        size: e.size,
                        mode: e.mode,
                        uid: e.uid,
                        gid: e.gid,
                        setuid: e.setuid,
                        setgid: e.setgid,
                        link_target: e.link_target.clone(),
                        interpreter: e.interpreter.clone(),
                        layer: e.layer.clone(),
                    })
                    .collect()
            }),
            world_writable: facts.files.as_ref().map(|f| f.world_writable.clone()),
            json: OnceLock::new(),
            cel: OnceLock::new(),
            facts,
        };
        PreparedFacts(Arc::new(inner))
    }

    pub fn facts(&self) -> &Facts {
        &self.0.facts
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.0
    }
}

impl Inner {
    /// The facts document as JSON, serialized on first use.
    pub(crate) fn json(&self) -> &str {
        self.json
            .get_or_init(|| serde_json::to_string(&self.facts).unwrap_or_default())
    }

    /// The facts as CEL values, converted once and shared by every CEL policy.
    pub(crate) fn cel(&self) -> &crate::cel::CelFacts {
        self.cel
            .get_or_init(|| crate::cel::CelFacts::new(&self.facts))
    }
}

/// Parses an RFC 3339 time or a plain date (end-of-life dates) to Unix seconds.
pub(crate) fn unix_seconds(text: &str) -> Option<i64> {
    crate::cel::value::parse_time(text).map(|time| time.timestamp())
}

pub(crate) fn severity(s: customs_facts::Severity) -> wit_types::Severity {
    use customs_facts::Severity as S;
    match s {
        S::Unknown => wit_types::Severity::Unknown,
        S::Negligible => wit_types::Severity::Negligible,
        S::Low => wit_types::Severity::Low,
        S::Medium => wit_types::Severity::Medium,
        S::High => wit_types::Severity::High,
        S::Critical => wit_types::Severity::Critical,
    }
}

pub(crate) fn severity_from_wit(s: wit_types::Severity) -> customs_facts::Severity {
    use customs_facts::Severity as S;
    match s {
        wit_types::Severity::Unknown => S::Unknown,
        wit_types::Severity::Negligible => S::Negligible,
        wit_types::Severity::Low => S::Low,
        wit_types::Severity::Medium => S::Medium,
        wit_types::Severity::High => S::High,
        wit_types::Severity::Critical => S::Critical,
    }
}

fn wit_trust(trust: customs_facts::Trust) -> wit::Trust {
    match trust {
        customs_facts::Trust::Verified => wit::Trust::Verified,
        customs_facts::Trust::Reported => wit::Trust::Reported,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse() {
        assert_eq!(unix_seconds("1970-01-02T00:00:00Z"), Some(86_400));
        assert_eq!(unix_seconds("1970-01-02"), Some(86_400));
        assert_eq!(
            unix_seconds("2019-08-20T20:19:55.211423266Z"),
            Some(1_566_332_395)
        );
        assert_eq!(unix_seconds("yesterday"), None);
    }
}
