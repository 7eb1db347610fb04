//! Every baseline rule, on facts built to pass and to fail it.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use customs::{Bundle, Decision, EvalOptions, PolicyDecision, PreparedFacts};
use customs_facts::{
    Attestation, Base, Config, Container, Facts, FixState, OsInfo, Package, Secret,
    SecurityContext, Severity, Signature, Trust, VexStatus, Vulnerability, Workload,
};
use customs_tests::{baseline, engine, signature};

/// 2026-06-01T00:00:00Z: the fixed "now" of these tests.
const NOW: i64 = 1_780_272_000;
const DAY: i64 = 86_400;

fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap()
        .to_rfc3339()
}

fn evaluate_with(bundle: &Bundle, mut facts: Facts) -> Decision {
    facts.normalize();
    engine().evaluate(bundle, &PreparedFacts::new(facts), &EvalOptions::at(NOW))
}

/// The decision of one rule, and its findings' messages.
fn rule(facts: Facts, rule: &str) -> (PolicyDecision, Vec<String>) {
    rule_with(facts, rule, &[])
}

fn rule_with(facts: Facts, rule: &str, params: &[(&str, &str)]) -> (PolicyDecision, Vec<String>) {
    let mut bundle = baseline();
    for (key, value) in params {
        bundle.set_param(&format!("{rule}.{key}"), value).unwrap();
    }
    let decision = evaluate_with(&bundle, facts);
    let report = decision.policies.iter().find(|p| p.name == rule).unwrap();
    assert!(report.error.is_none(), "{rule} failed: {:?}", report.error);
    for finding in &report.findings {
        assert_eq!(finding.rule, rule);
    }
    (
        report.decision,
        report.findings.iter().map(|f| f.message.clone()).collect(),
    )
}

fn with_config(user: &str) -> Facts {
    Facts {
        config: Some(Config {
            user: user.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn vuln(id: &str, severity: Severity, fixed: Option<&str>) -> Vulnerability {
    Vulnerability {
        id: id.into(),
        package: "openssl".into(),
        package_version: "1.1.1c".into(),
        severity,
        fixed_versions: fixed.map(|f| vec![f.to_owned()]).unwrap_or_default(),
        fix_state: if fixed.is_some() {
            FixState::Fixed
        } else {
            FixState::NotFixed
        },
        ..Default::default()
    }
}

fn with_vulns(vulns: Vec<Vulnerability>) -> Facts {
    Facts {
        vulnerabilities: Some(vulns),
        ..Default::default()
    }
}

#[test]
fn baseline_has_the_stable_rule_ids_in_order() {
    let names: Vec<String> = baseline()
        .entries()
        .iter()
        .map(|e| e.policy().name().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "trusted-base",
            "no-root-user",
            "vulnerabilities",
            "no-secrets",
            "minimal-image",
            "signed",
            "provenance",
            "freshness",
            "misconfigurations",
            "runtime-hardening",
            "no-setuid"
        ]
    );
}

#[test]
fn no_root_user() {
    for root in ["", "root", "0", "0:0", "root:root"] {
        let (decision, messages) = rule(with_config(root), "no-root-user");
        assert_eq!(decision, PolicyDecision::Deny, "{root:?}");
        assert!(messages[0].contains("root"), "{messages:?}");
    }
    assert_eq!(
        rule(with_config("1000:1000"), "no-root-user").0,
        PolicyDecision::Allow
    );
    assert_eq!(
        rule(with_config("nobody"), "no-root-user").0,
        PolicyDecision::Allow
    );
    let (decision, messages) = rule(Facts::default(), "no-root-user");
    assert_eq!(decision, PolicyDecision::Warn);
    assert!(messages[0].contains("unknown"), "{messages:?}");

    // At admission, a workload forced to run non-root passes.
    let mut forced = with_config("");
    forced.workload = Some(Workload {
        containers: vec![Container {
            name: "app".into(),
            image: "app:1".into(),
            security_context: SecurityContext {
                run_as_non_root: Some(true),
                ..Default::default()
            },
            ..Default::default()
        }],
        ..Default::default()
    });
    assert_eq!(rule(forced, "no-root-user").0, PolicyDecision::Allow);
}

#[test]
fn vulnerabilities() {
    let denied = with_vulns(vec![vuln("CVE-1", Severity::Critical, Some("1.1.1d"))]);
    let (decision, messages) = rule(denied.clone(), "vulnerabilities");
    assert_eq!(decision, PolicyDecision::Deny);
    assert_eq!(
        messages,
        ["CVE-1 (critical) in openssl 1.1.1c: fixed in 1.1.1d"]
    );

    // Without a fix, the default (fixable-only) does not count it; with fixable-only=false it does.
    let unfixable = with_vulns(vec![vuln("CVE-2", Severity::Critical, None)]);
    assert_eq!(
        rule(unfixable.clone(), "vulnerabilities").0,
        PolicyDecision::Allow
    );
    assert_eq!(
        rule_with(unfixable, "vulnerabilities", &[("fixable-only", "false")]).0,
        PolicyDecision::Deny
    );

    // Below the threshold passes; the threshold is a parameter.
    let medium = with_vulns(vec![vuln("CVE-3", Severity::Medium, Some("2"))]);
    assert_eq!(
        rule(medium.clone(), "vulnerabilities").0,
        PolicyDecision::Allow
    );
    assert_eq!(
        rule_with(medium, "vulnerabilities", &[("min-severity", "medium")]).0,
        PolicyDecision::Deny
    );

    // VEX not_affected is not counted.
    let mut vexed = vuln("CVE-4", Severity::Critical, Some("2"));
    vexed.vex_status = Some(VexStatus::NotAffected);
    assert_eq!(
        rule(with_vulns(vec![vexed]), "vulnerabilities").0,
        PolicyDecision::Allow
    );

    // Grace: an advisory published yesterday is not counted with grace-days=7.
    let mut fresh = vuln("CVE-5", Severity::Critical, Some("2"));
    fresh.published = Some(rfc3339(NOW - DAY));
    let fresh = with_vulns(vec![fresh]);
    assert_eq!(
        rule(fresh.clone(), "vulnerabilities").0,
        PolicyDecision::Deny
    );
    assert_eq!(
        rule_with(fresh, "vulnerabilities", &[("grace-days", "7")]).0,
        PolicyDecision::Allow
    );

    // Ignored ids, and the findings cap.
    assert_eq!(
        rule_with(denied, "vulnerabilities", &[("ignore", "CVE-0, CVE-1")]).0,
        PolicyDecision::Allow
    );
    let many = with_vulns(
        (0..30)
            .map(|i| vuln(&format!("CVE-{i}"), Severity::High, Some("2")))
            .collect(),
    );
    let (decision, messages) = rule(many, "vulnerabilities");
    assert_eq!(decision, PolicyDecision::Deny);
    assert_eq!(messages.len(), 26);
    assert_eq!(messages[25], "and 5 more vulnerabilities at or above high");

    // No scan at all is a warning, not a pass.
    assert_eq!(
        rule(Facts::default(), "vulnerabilities").0,
        PolicyDecision::Warn
    );
    assert_eq!(
        rule(with_vulns(vec![]), "vulnerabilities").0,
        PolicyDecision::Allow
    );
}

#[test]
fn a_bad_parameter_value_fails_the_policy_closed() {
    let mut bundle = baseline();
    bundle
        .set_param("vulnerabilities.min-severity", "extreme")
        .unwrap();
    let decision = evaluate_with(&bundle, with_vulns(vec![]));
    let report = decision
        .policies
        .iter()
        .find(|p| p.name == "vulnerabilities")
        .unwrap();
    assert_eq!(report.decision, PolicyDecision::Error);
    let error = report.error.as_deref().unwrap();
    assert!(
        error.contains("parameter min-severity=\"extreme\" is invalid"),
        "{error}"
    );
    assert!(!decision.is_allowed());
}

#[test]
fn no_secrets() {
    let secret = Secret {
        rule_id: "aws-access-key-id".into(),
        severity: Severity::Critical,
        title: Some("AWS Access Key ID".into()),
        path: Some("app/.env".into()),
        line: Some(3),
        ..Default::default()
    };
    let (decision, messages) = rule(
        Facts {
            secrets: Some(vec![secret]),
            ..Default::default()
        },
        "no-secrets",
    );
    assert_eq!(decision, PolicyDecision::Deny);
    assert_eq!(
        messages,
        ["AWS Access Key ID (secret rule aws-access-key-id) found in app/.env:3"]
    );
    assert_eq!(
        rule(
            Facts {
                secrets: Some(vec![]),
                ..Default::default()
            },
            "no-secrets"
        )
        .0,
        PolicyDecision::Allow
    );
    assert_eq!(rule(Facts::default(), "no-secrets").0, PolicyDecision::Warn);
}

fn with_packages(names: &[&str]) -> Facts {
    Facts {
        packages: Some(
            names
                .iter()
                .map(|n| Package {
                    name: (*n).into(),
                    version: "1".into(),
                    package_type: "deb".into(),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    }
}

#[test]
fn minimal_image() {
    let (decision, messages) = rule(with_packages(&["libc6", "gcc"]), "minimal-image");
    assert_eq!(decision, PolicyDecision::Deny);
    assert_eq!(
        messages,
        ["gcc 1 is a compiler or build tool (build-tools)"]
    );
    let (decision, messages) = rule(with_packages(&["bash", "apt"]), "minimal-image");
    assert_eq!(decision, PolicyDecision::Warn);
    assert_eq!(messages.len(), 2);
    assert_eq!(
        rule_with(
            with_packages(&["bash"]),
            "minimal-image",
            &[("deny-categories", "shells")]
        )
        .0,
        PolicyDecision::Deny
    );
    assert_eq!(
        rule(
            with_packages(&["libc6", "ca-certificates"]),
            "minimal-image"
        )
        .0,
        PolicyDecision::Allow
    );
    assert_eq!(
        rule(Facts::default(), "minimal-image").0,
        PolicyDecision::Warn
    );
}

fn with_signatures(signatures: Vec<Signature>) -> Facts {
    Facts {
        signatures: Some(signatures),
        ..Default::default()
    }
}

#[test]
fn signed() {
    let ours = "https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1";
    assert_eq!(
        rule(with_signatures(vec![signature(true, ours)]), "signed").0,
        PolicyDecision::Allow
    );
    assert_eq!(
        rule(with_signatures(vec![signature(false, ours)]), "signed").0,
        PolicyDecision::Deny
    );
    assert_eq!(
        rule(with_signatures(vec![]), "signed").0,
        PolicyDecision::Deny
    );
    // `cosign verify` output: cosign's word, which customs did not check.
    let reported = Signature {
        trust: Trust::Reported,
        ..signature(true, ours)
    };
    let (decision, findings) = rule(with_signatures(vec![reported.clone()]), "signed");
    assert_eq!(decision, PolicyDecision::Deny);
    assert!(
        findings[0].contains("0 verified by customs, 1 reported verified by a tool"),
        "{findings:?}"
    );
    assert_eq!(
        rule_with(
            with_signatures(vec![reported]),
            "signed",
            &[("accept-reported", "true")]
        )
        .0,
        PolicyDecision::Allow
    );
    let params = [
        ("identity", "https://github.com/org/*"),
        ("issuer", "https://token.actions.githubusercontent.com"),
    ];
    assert_eq!(
        rule_with(
            with_signatures(vec![signature(true, ours)]),
            "signed",
            &params
        )
        .0,
        PolicyDecision::Allow
    );
    let theirs = signature(
        true,
        "https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main",
    );
    let (decision, messages) = rule_with(with_signatures(vec![theirs]), "signed", &params);
    assert_eq!(decision, PolicyDecision::Deny);
    assert!(
        messages[0].contains("1 signature(s) found, 1 verified"),
        "{messages:?}"
    );
    let (decision, messages) = rule(Facts::default(), "signed");
    assert_eq!(decision, PolicyDecision::Warn);
    assert!(
        messages[0].contains("no signature information"),
        "{messages:?}"
    );
}

#[test]
fn provenance() {
    let slsa = |verified, builder: &str| Attestation {
        predicate_type: "https://slsa.dev/provenance/v1".into(),
        verified,
        trust: Trust::Verified,
        builder_id: Some(builder.into()),
        ..Default::default()
    };
    let facts = |a: Vec<Attestation>| Facts {
        attestations: Some(a),
        ..Default::default()
    };
    let gha = "https://github.com/actions/runner/github-hosted";
    assert_eq!(
        rule(facts(vec![slsa(true, gha)]), "provenance").0,
        PolicyDecision::Allow
    );
    assert_eq!(
        rule(facts(vec![slsa(false, gha)]), "provenance").0,
        PolicyDecision::Deny
    );
    assert_eq!(
        rule_with(
            facts(vec![slsa(true, gha)]),
            "provenance",
            &[("builder-id", "https://tekton.dev/*")]
        )
        .0,
        PolicyDecision::Deny
    );
    // A tool's word counts only when the bundle says it may.
    let reported = Attestation {
        trust: Trust::Reported,
        ..slsa(true, gha)
    };
    let (decision, findings) = rule(facts(vec![reported.clone()]), "provenance");
    assert_eq!(decision, PolicyDecision::Deny);
    assert!(
        findings[0].contains("0 verified by customs"),
        "{findings:?}"
    );
    assert_eq!(
        rule_with(
            facts(vec![reported]),
            "provenance",
            &[("accept-reported", "true")]
        )
        .0,
        PolicyDecision::Allow
    );
    let sbom = Attestation {
        predicate_type: "https://spdx.dev/Document".into(),
        verified: true,
        ..Default::default()
    };
    assert_eq!(
        rule(facts(vec![sbom]), "provenance").0,
        PolicyDecision::Deny
    );
    assert_eq!(rule(Facts::default(), "provenance").0, PolicyDecision::Warn);
}

fn with_base(reference: Option<&str>) -> Facts {
    Facts {
        base: Some(Base {
            reference: reference.map(str::to_owned),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn trusted_base() {
    assert_eq!(
        rule(
            with_base(Some("docker.io/library/alpine:3.20")),
            "trusted-base"
        )
        .0,
        PolicyDecision::Allow
    );
    assert_eq!(
        rule(with_base(Some("alpine:3.20")), "trusted-base").0,
        PolicyDecision::Allow
    );
    assert_eq!(
        rule(
            with_base(Some("gcr.io/distroless/static:nonroot")),
            "trusted-base"
        )
        .0,
        PolicyDecision::Allow
    );
    let (decision, messages) = rule(with_base(Some("evil.example/base:1")), "trusted-base");
    assert_eq!(decision, PolicyDecision::Deny);
    assert_eq!(
        messages,
        ["base image evil.example/base:1 is not in allowed-bases"]
    );
    assert_eq!(
        rule_with(
            with_base(Some("evil.example/base:1")),
            "trusted-base",
            &[("allowed-bases", "evil.example/*")]
        )
        .0,
        PolicyDecision::Allow
    );
    // Short names are Docker Hub's, so "someone/alpine" is not the official image.
    assert_eq!(
        rule(with_base(Some("someone/alpine")), "trusted-base").0,
        PolicyDecision::Deny
    );
    // The base can also come from the image's annotation.
    let mut annotated = Facts::default();
    annotated.image.annotations.insert(
        "org.opencontainers.image.base.name".into(),
        "docker.io/library/debian:12".into(),
    );
    assert_eq!(rule(annotated, "trusted-base").0, PolicyDecision::Allow);
    assert_eq!(
        rule(with_base(None), "trusted-base").0,
        PolicyDecision::Warn
    );
}

fn with_created(unix: i64) -> Facts {
    let mut facts = Facts::default();
    facts.image.created = Some(rfc3339(unix));
    facts
}

fn with_os(family: &str, version: &str) -> Facts {
    let mut facts = with_created(NOW - DAY);
    facts.base = Some(Base {
        os: Some(OsInfo {
            family: family.into(),
            version: version.into(),
            ..Default::default()
        }),
        ..Default::default()
    });
    facts
}

#[test]
fn freshness() {
    assert_eq!(
        rule(with_created(NOW - 10 * DAY), "freshness").0,
        PolicyDecision::Allow
    );
    let (decision, messages) = rule(with_created(NOW - 400 * DAY), "freshness");
    assert_eq!(decision, PolicyDecision::Deny);
    assert!(messages[0].contains("built 400 days ago"), "{messages:?}");
    assert_eq!(
        rule_with(
            with_created(NOW - 400 * DAY),
            "freshness",
            &[("max-age-days", "500")]
        )
        .0,
        PolicyDecision::Allow
    );
    assert_eq!(rule(with_created(0), "freshness").0, PolicyDecision::Warn);
    assert_eq!(rule(Facts::default(), "freshness").0, PolicyDecision::Warn);

    // End of life: Debian 10 ended 2024-06-30; Debian 11 ends 2026-08-31 (91 days after NOW).
    let (decision, messages) = rule(with_os("debian", "10.13"), "freshness");
    assert_eq!(decision, PolicyDecision::Deny);
    assert!(
        messages[0].contains("debian 10.13 reached end of life"),
        "{messages:?}"
    );
    assert_eq!(
        rule(with_os("debian", "11.3"), "freshness").0,
        PolicyDecision::Allow
    );
    let (decision, messages) = rule_with(
        with_os("debian", "11.3"),
        "freshness",
        &[("eol-warning-days", "120")],
    );
    assert_eq!(decision, PolicyDecision::Warn);
    assert!(
        messages[0].contains("reaches end of life in 91 days"),
        "{messages:?}"
    );
    assert_eq!(
        rule(with_os("debian", "12.5"), "freshness").0,
        PolicyDecision::Allow
    );
}

fn corpus_facts(path: &str) -> Facts {
    customs_facts::import::import_file(&customs_tests::corpus_dir().join(path)).unwrap()
}

#[test]
fn misconfigurations() {
    // Trivy's config scan of a Dockerfile: DS-0002 is HIGH.
    let (decision, messages) = rule(
        corpus_facts("trivy/dockerfile-misconfig.json"),
        "misconfigurations",
    );
    assert_eq!(decision, PolicyDecision::Deny);
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].starts_with("DS-0002 (high) in Dockerfile: Image user should not be 'root'"),
        "{messages:?}"
    );
    let ignored = rule_with(
        corpus_facts("trivy/dockerfile-misconfig.json"),
        "misconfigurations",
        &[("ignore", "DS-0001, DS-0002")],
    );
    assert_eq!(ignored, (PolicyDecision::Allow, vec![]));

    // Custom checks at LOW pass by default and deny from min-severity low.
    let low = "trivy/dockerfile-custom-policies-misconfig.json";
    assert_eq!(
        rule(corpus_facts(low), "misconfigurations").0,
        PolicyDecision::Allow
    );
    let (decision, messages) = rule_with(
        corpus_facts(low),
        "misconfigurations",
        &[("min-severity", "low")],
    );
    assert_eq!(decision, PolicyDecision::Deny);
    assert_eq!(messages.len(), 2, "{messages:?}");

    // No scan passes silently, unless one is required.
    assert_eq!(
        rule(Facts::default(), "misconfigurations"),
        (PolicyDecision::Allow, vec![])
    );
    let (decision, messages) = rule_with(
        Facts::default(),
        "misconfigurations",
        &[("require-scan", "true")],
    );
    assert_eq!(decision, PolicyDecision::Warn);
    assert!(
        messages[0].contains("no misconfiguration scan"),
        "{messages:?}"
    );

    // Beyond max-findings, one summary finding.
    let many = Facts {
        misconfigurations: Some(
            (0..30)
                .map(|i| customs_facts::Misconfiguration {
                    id: format!("KSV-{i:04}"),
                    severity: Severity::Critical,
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    };
    let (_, messages) = rule(many, "misconfigurations");
    assert_eq!(messages.len(), 26);
    assert_eq!(
        messages[25],
        "and 5 more misconfigurations at or above high"
    );
}

fn admission(file: &str) -> Facts {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/admission")
        .join(file);
    customs_facts::import::import_file(&path).unwrap()
}

#[test]
fn runtime_hardening() {
    // Every check, each its own finding naming the container or the pod field.
    let (decision, messages) = rule(
        admission("pod-hardening-violations.json"),
        "runtime-hardening",
    );
    assert_eq!(decision, PolicyDecision::Deny);
    let expected = [
        "spec.hostNetwork is true",
        "spec.hostPID is true",
        "spec.hostIPC is true",
        "a hostPath volume mounts the node's /var/run/docker.sock",
        "container \"agent\": securityContext.privileged is true",
        "container \"agent\": securityContext.allowPrivilegeEscalation is true",
        "container \"agent\": securityContext.capabilities.add has SYS_ADMIN, NET_RAW",
        "container \"agent\": securityContext.capabilities.drop does not list ALL",
        "container \"agent\": securityContext.seccompProfile is Unconfined",
        "container \"agent\": the AppArmor profile is unconfined",
        "container \"agent\": securityContext.seLinuxOptions.type is spc_t",
        "container \"agent\": ports[].hostPort binds node port 9100",
    ];
    assert_eq!(messages.len(), expected.len(), "{messages:#?}");
    for (message, start) in messages.iter().zip(expected) {
        assert!(
            message.starts_with(start),
            "{message:?} should start with {start:?}"
        );
    }

    // The compliant pod passes; an image alone is not judged.
    assert_eq!(
        rule(admission("pod-restricted.json"), "runtime-hardening"),
        (PolicyDecision::Allow, vec![])
    );
    assert_eq!(
        rule(Facts::default(), "runtime-hardening"),
        (PolicyDecision::Allow, vec![])
    );

    // A bare pod meets "baseline" but not "restricted".
    let (decision, messages) = rule(admission("pod-default.json"), "runtime-hardening");
    assert_eq!(decision, PolicyDecision::Deny);
    assert_eq!(
        messages.len(),
        3,
        "escalation, drop ALL, seccomp: {messages:#?}"
    );
    assert_eq!(
        rule_with(
            admission("pod-default.json"),
            "runtime-hardening",
            &[("level", "baseline")]
        )
        .0,
        PolicyDecision::Allow
    );
    // Parameters loosen one check each.
    let (_, messages) = rule_with(
        admission("pod-hardening-violations.json"),
        "runtime-hardening",
        &[
            (
                "allowed-capabilities",
                "NET_BIND_SERVICE, SYS_ADMIN, NET_RAW",
            ),
            ("allowed-selinux-types", "spc_t"),
            ("allowed-host-paths", "/var/run/docker.sock"),
            ("allowed-host-ports", "9100"),
        ],
    );
    assert_eq!(messages.len(), expected.len() - 4, "{messages:#?}");
}

#[test]
fn an_unknown_pss_level_fails_closed() {
    let mut bundle = baseline();
    bundle
        .set_param("runtime-hardening.level", "privileged")
        .unwrap();
    let decision = evaluate_with(&bundle, admission("pod-restricted.json"));
    let report = decision
        .policies
        .iter()
        .find(|p| p.name == "runtime-hardening")
        .unwrap();
    assert_eq!(report.decision, PolicyDecision::Error);
    assert!(
        report
            .error
            .as_deref()
            .unwrap()
            .contains("level=\"privileged\" is invalid"),
        "{:?}",
        report.error
    );
    assert!(!decision.is_allowed());
}

fn with_executables(list: &[(&str, u32, Option<&str>)]) -> Facts {
    Facts {
        files: Some(customs_facts::Files {
            executables: list
                .iter()
                .map(|(path, mode, link)| customs_facts::Executable {
                    path: (*path).into(),
                    name: path.rsplit('/').next().unwrap().into(),
                    kind: "elf".into(),
                    mode: *mode,
                    setuid: mode & 0o4000 != 0,
                    setgid: mode & 0o2000 != 0,
                    link_target: link.map(str::to_owned),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn no_setuid() {
    let (decision, messages) = rule(
        with_executables(&[
            ("/usr/bin/su", 0o4755, None),
            ("/bin/su", 0o4755, Some("/usr/bin/su")),
            ("/usr/bin/wall", 0o2755, None),
            ("/app/server", 0o755, None),
        ]),
        "no-setuid",
    );
    assert_eq!(decision, PolicyDecision::Deny);
    assert_eq!(
        messages,
        [
            "/usr/bin/su is setuid (mode 4755, owner 0:0); remove the bit (chmod u-s,g-s) or list it in allowed",
            "/usr/bin/wall is setgid (mode 2755, owner 0:0); remove the bit (chmod u-s,g-s) or list it in allowed"
        ],
        "a link is judged by its target, once"
    );
    let allowed = rule_with(
        with_executables(&[
            ("/usr/bin/su", 0o4755, None),
            ("/usr/bin/wall", 0o2755, None),
        ]),
        "no-setuid",
        &[("allowed", "/usr/bin/su,/usr/bin/wall")],
    );
    assert_eq!(allowed, (PolicyDecision::Allow, vec![]));
    // Without the image's files there is nothing to judge, unless required.
    assert_eq!(
        rule(Facts::default(), "no-setuid"),
        (PolicyDecision::Allow, vec![])
    );
    assert_eq!(
        rule_with(Facts::default(), "no-setuid", &[("require-files", "true")]).0,
        PolicyDecision::Warn
    );
}

#[test]
fn minimal_image_counts_programs_found_as_files() {
    // No package database lists them: a static shell, a leftover compiler.
    let (decision, messages) = rule(
        with_executables(&[
            ("/bin/sh", 0o755, None),
            ("/usr/local/bin/gcc", 0o755, None),
        ]),
        "minimal-image",
    );
    assert_eq!(decision, PolicyDecision::Deny);
    assert_eq!(
        messages,
        [
            "/bin/sh is a shell (shells), found as a file",
            "/usr/local/bin/gcc is a compiler or build tool (build-tools), found as a file"
        ]
    );
    // A file a package accounts for is not said twice.
    let mut both = with_executables(&[("/bin/bash", 0o755, None)]);
    both.packages = Some(vec![Package {
        name: "bash".into(),
        version: "5.2".into(),
        ..Default::default()
    }]);
    let (_, messages) = rule(both, "minimal-image");
    assert_eq!(messages, ["bash 5.2 is a shell (shells)"]);
}

/// The baseline components committed in host/baseline/ are the ones the
/// source builds, byte for byte (rebuilt by customs-test-guests with the
/// pinned toolchain). `CUSTOMS_UPDATE_BASELINE=1` writes the rebuilt ones
/// over them instead.
#[test]
fn committed_baseline_is_the_source() {
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/baseline");
    let update = std::env::var_os("CUSTOMS_UPDATE_BASELINE").is_some_and(|v| v == "1");
    let mut differ = Vec::new();
    for (rule, embedded) in customs::baseline::POLICIES {
        let file = format!("baseline_{}.wasm", rule.replace('-', "_"));
        let rebuilt = std::fs::read(customs_test_guests::release_dir().join(&file)).unwrap();
        if update {
            std::fs::write(committed.join(&file), &rebuilt).unwrap();
        } else if rebuilt != *embedded {
            differ.push(file);
        }
    }
    assert!(
        differ.is_empty(),
        "the committed baseline components {differ:?} are not what policies/baseline builds; \
         regenerate them: CUSTOMS_UPDATE_BASELINE=1 cargo test -p customs-tests --test integration baseline::committed_baseline"
    );
}
