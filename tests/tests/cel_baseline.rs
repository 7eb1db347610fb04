//! The CEL baseline (policies/cel/baseline.yaml), the Rust baseline
//! (policies/baseline/, WASM) and the Rego baseline the benchmark runs on
//! regorus (bench/rego/baseline.rego) give the same decision and the same
//! rule ids, with the same effects (and the benchmark's plain-`cel` peer the
//! same findings as customs' CEL, messages included), on every image of the corpus and on facts
//! built to pass, fail and warn every rule.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use customs::{Bundle, Decision, Effect, EvalOptions, PolicyDecision, PreparedFacts};
use customs_facts::import::{Origin, import_bytes};
use customs_facts::{
    Attestation, Base, Config, Container, Facts, FixState, Misconfiguration, OsInfo, Package,
    Secret, SecurityContext, Severity, VexStatus, Vulnerability, Workload,
};
use customs_tests::{baseline, corpus_dir, engine, signature};

/// 2026-06-01T00:00:00Z.
const NOW: i64 = 1_780_272_000;
const DAY: i64 = 86_400;

fn cel_baseline() -> Bundle {
    engine().cel_baseline().unwrap()
}

/// What the two baselines must agree on: the decision, and every (rule, effect).
fn verdict(decision: &Decision, what: &str) -> (bool, BTreeSet<(String, &'static str)>) {
    for report in &decision.policies {
        assert_ne!(
            report.decision,
            PolicyDecision::Error,
            "{what}: policy {} failed: {:?}",
            report.name,
            report.error
        );
    }
    let rules = decision
        .findings()
        .map(|(_, f)| {
            let effect = match f.effect {
                Effect::Deny => "deny",
                Effect::Warn => "warn",
            };
            (f.rule.clone(), effect)
        })
        .collect();
    (decision.is_allowed(), rules)
}

fn assert_same(facts: Facts, what: &str) {
    let prepared = PreparedFacts::new(facts);
    let options = EvalOptions::at(NOW);
    let wasm = engine().evaluate(&baseline(), &prepared, &options);
    let cel = engine().evaluate(&cel_baseline(), &prepared, &options);
    assert_eq!(
        verdict(&wasm, what),
        verdict(&cel, what),
        "{what}: the Rust and CEL baselines disagree\nRust: {:#?}\nCEL: {:#?}",
        wasm.findings().collect::<Vec<_>>(),
        cel.findings().collect::<Vec<_>>()
    );
    let input = customs_bench::rego::RegoInput::new(prepared.facts()).unwrap();
    let rego = customs_bench::rego::RegoBaseline::new()
        .unwrap()
        .verdict(&input, NOW)
        .unwrap_or_else(|e| panic!("{what}: the Rego baseline failed: {e}"));
    let rust = customs_bench::Verdict::of(&wasm).unwrap();
    assert_eq!(
        (rust.allowed, &rust.rules),
        (rego.allowed, &rego.rules),
        "{what}: the Rust and Rego baselines disagree"
    );
    // The benchmark's plain-`cel` peer runs the same file: same findings,
    // messages included.
    let naive = naive_cel()
        .findings(prepared.facts(), NOW)
        .unwrap_or_else(|e| panic!("{what}: the plain cel peer failed: {e}"));
    let naive: BTreeSet<(String, &str, String)> = naive.into_iter().collect();
    let customs_cel: BTreeSet<(String, &str, String)> = cel
        .findings()
        .map(|(_, f)| {
            let effect = match f.effect {
                Effect::Deny => "deny",
                Effect::Warn => "warn",
            };
            (f.rule.clone(), effect, f.message.clone())
        })
        .collect();
    assert_eq!(
        customs_cel, naive,
        "{what}: customs' CEL and the plain cel peer disagree"
    );
}

fn naive_cel() -> &'static customs_bench::naive_cel::NaiveCel {
    static NAIVE: std::sync::OnceLock<customs_bench::naive_cel::NaiveCel> =
        std::sync::OnceLock::new();
    NAIVE.get_or_init(|| customs_bench::naive_cel::NaiveCel::new().unwrap())
}

fn corpus_inputs() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![corpus_dir()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn both_baselines_agree_on_every_corpus_image() {
    let mut compared = 0;
    let mut denied = 0;
    for path in corpus_inputs() {
        let bytes = std::fs::read(&path).unwrap();
        // The corpus also holds inputs that are not about one image (e.g.
        // an OpenVEX document alone); those do not import on their own.
        let Ok(mut facts) = import_bytes(&Origin::file(&path), &bytes) else {
            continue;
        };
        facts.normalize();
        let name = path.strip_prefix(corpus_dir()).unwrap_or(&path);
        assert_same(facts.clone(), &name.display().to_string());
        compared += 1;
        let decision = engine().evaluate(
            &baseline(),
            &PreparedFacts::new(facts),
            &EvalOptions::at(NOW),
        );
        denied += usize::from(!decision.is_allowed());
    }
    assert!(compared >= 50, "only {compared} corpus files imported");
    assert!(
        denied > 0,
        "no corpus image was denied: the comparison proves little"
    );
}

#[test]
fn both_baselines_agree_on_the_allowed_golden_image() {
    let facts = golden();
    let decision = engine().evaluate(
        &cel_baseline(),
        &PreparedFacts::new(facts.clone()),
        &EvalOptions::at(NOW),
    );
    assert!(
        decision.is_allowed(),
        "{:#?}",
        decision.findings().collect::<Vec<_>>()
    );
    assert_eq!(decision.findings().count(), 0);
    assert_same(facts, "golden");
}

/// An image that passes every baseline rule.
fn golden() -> Facts {
    let mut facts = Facts {
        config: Some(Config {
            user: "1000:1000".into(),
            ..Default::default()
        }),
        base: Some(Base {
            reference: Some("gcr.io/distroless/static:nonroot".into()),
            ..Default::default()
        }),
        vulnerabilities: Some(vec![]),
        secrets: Some(vec![]),
        packages: Some(vec![package("ca-certificates")]),
        signatures: Some(vec![signature(true, "ci@example.com")]),
        attestations: Some(vec![Attestation {
            predicate_type: "https://slsa.dev/provenance/v1".into(),
            verified: true,
            trust: customs_facts::Trust::Verified,
            builder_id: Some("https://github.com/actions/runner".into()),
            ..Default::default()
        }]),
        ..Default::default()
    };
    facts.image.created = Some(rfc3339(NOW - 10 * DAY));
    facts.normalize();
    facts
}

fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap()
        .to_rfc3339()
}

fn package(name: &str) -> Package {
    Package {
        name: name.into(),
        version: "1.0".into(),
        ..Default::default()
    }
}

fn vuln(id: &str, severity: Severity, fixed: bool) -> Vulnerability {
    Vulnerability {
        id: id.into(),
        package: "openssl".into(),
        package_version: "1.1.1c".into(),
        severity,
        fixed_versions: if fixed { vec!["1.1.1d".into()] } else { vec![] },
        fix_state: if fixed {
            FixState::Fixed
        } else {
            FixState::NotFixed
        },
        ..Default::default()
    }
}

/// Changes the golden image in one way.
type Change = Box<dyn Fn(&mut Facts)>;

/// Each variation breaks (or leaves unknown) one thing of the golden image.
#[test]
fn both_baselines_agree_rule_by_rule() {
    let variations: Vec<(&str, Change)> = vec![
        (
            "root user",
            Box::new(|f| f.config.as_mut().unwrap().user = "root".into()),
        ),
        (
            "no USER",
            Box::new(|f| f.config.as_mut().unwrap().user = String::new()),
        ),
        (
            "unknown config",
            Box::new(|f| {
                f.config = None;
                f.user = None;
            }),
        ),
        (
            "root but forced non-root at admission",
            Box::new(|f| {
                f.config.as_mut().unwrap().user = String::new();
                f.workload = Some(Workload {
                    containers: vec![Container {
                        name: "app".into(),
                        image: "app:1".into(),
                        security_context: SecurityContext {
                            run_as_user: Some(1000),
                            ..Default::default()
                        },
                        ..Default::default()
                    }],
                    ..Default::default()
                });
            }),
        ),
        (
            "untrusted base",
            Box::new(|f| f.base.as_mut().unwrap().reference = Some("evil.example/base:1".into())),
        ),
        (
            "short Docker Hub base",
            Box::new(|f| f.base.as_mut().unwrap().reference = Some("alpine:3.20".into())),
        ),
        ("unknown base", Box::new(|f| f.base = None)),
        (
            "base from the annotation",
            Box::new(|f| {
                f.base = None;
                f.image.annotations.insert(
                    "org.opencontainers.image.base.name".into(),
                    "docker.io/library/debian:12".into(),
                );
            }),
        ),
        (
            "fixable critical",
            Box::new(|f| f.vulnerabilities = Some(vec![vuln("CVE-1", Severity::Critical, true)])),
        ),
        (
            "unfixable critical",
            Box::new(|f| f.vulnerabilities = Some(vec![vuln("CVE-1", Severity::Critical, false)])),
        ),
        (
            "fixable medium",
            Box::new(|f| f.vulnerabilities = Some(vec![vuln("CVE-1", Severity::Medium, true)])),
        ),
        (
            "VEX not affected",
            Box::new(|f| {
                let mut v = vuln("CVE-1", Severity::Critical, true);
                v.vex_status = Some(VexStatus::NotAffected);
                f.vulnerabilities = Some(vec![v]);
            }),
        ),
        ("no scan", Box::new(|f| f.vulnerabilities = None)),
        (
            "a secret",
            Box::new(|f| {
                f.secrets = Some(vec![Secret {
                    rule_id: "aws-access-key-id".into(),
                    severity: Severity::Critical,
                    path: Some("/app/.env".into()),
                    ..Default::default()
                }])
            }),
        ),
        ("no secret scan", Box::new(|f| f.secrets = None)),
        (
            "a shell",
            Box::new(|f| f.packages.as_mut().unwrap().push(package("bash"))),
        ),
        (
            "a compiler",
            Box::new(|f| f.packages.as_mut().unwrap().push(package("gcc"))),
        ),
        ("unknown packages", Box::new(|f| f.packages = None)),
        (
            "unverified signature",
            Box::new(|f| f.signatures = Some(vec![signature(false, "ci@example.com")])),
        ),
        ("no signatures", Box::new(|f| f.signatures = Some(vec![]))),
        ("unknown signatures", Box::new(|f| f.signatures = None)),
        (
            "unverified provenance",
            Box::new(|f| f.attestations.as_mut().unwrap()[0].verified = false),
        ),
        ("unknown attestations", Box::new(|f| f.attestations = None)),
        (
            "old image",
            Box::new(|f| f.image.created = Some(rfc3339(NOW - 400 * DAY))),
        ),
        (
            "epoch timestamp",
            Box::new(|f| f.image.created = Some(rfc3339(0))),
        ),
        (
            "unknown creation time",
            Box::new(|f| f.image.created = None),
        ),
        (
            "end-of-life OS",
            Box::new(|f| {
                f.base.as_mut().unwrap().os = Some(OsInfo {
                    family: "debian".into(),
                    version: "9".into(),
                    eol: Some("2022-06-30".into()),
                    eosl: None,
                })
            }),
        ),
        (
            "OS nearing end of life",
            Box::new(|f| {
                f.base.as_mut().unwrap().os = Some(OsInfo {
                    family: "debian".into(),
                    version: "12".into(),
                    eol: Some("2026-07-01".into()),
                    eosl: None,
                })
            }),
        ),
        (
            "OS past end of support",
            Box::new(|f| {
                f.base.as_mut().unwrap().os = Some(OsInfo {
                    family: "alpine".into(),
                    version: "3.10".into(),
                    eol: None,
                    eosl: Some(true),
                })
            }),
        ),
    ];
    for (what, change) in variations {
        let mut facts = golden();
        change(&mut facts);
        assert_same(facts, what);
    }
}

/// A misconfiguration finding of this severity.
fn misconfiguration(id: &str, severity: Severity) -> Misconfiguration {
    Misconfiguration {
        id: id.into(),
        title: Some("Image user should not be 'root'".into()),
        severity,
        target: Some("Dockerfile".into()),
        ..Default::default()
    }
}

#[test]
fn both_baselines_agree_on_misconfigurations() {
    let variations: Vec<(&str, Change)> = vec![
        (
            "a high misconfiguration",
            Box::new(|f| {
                f.misconfigurations = Some(vec![misconfiguration("DS-0002", Severity::High)])
            }),
        ),
        (
            "a low misconfiguration",
            Box::new(|f| {
                f.misconfigurations = Some(vec![misconfiguration("DS-0001", Severity::Low)])
            }),
        ),
        (
            "a clean misconfiguration scan",
            Box::new(|f| f.misconfigurations = Some(vec![])),
        ),
        (
            "no misconfiguration scan",
            Box::new(|f| f.misconfigurations = None),
        ),
    ];
    for (what, change) in variations {
        let mut facts = golden();
        change(&mut facts);
        assert_same(facts, what);
    }
}

/// A container that meets the "restricted" Pod Security Standard.
fn restricted_container(name: &str) -> Container {
    Container {
        name: name.into(),
        image: "registry.example.com/shop/api:1.4.2".into(),
        security_context: SecurityContext {
            run_as_non_root: Some(true),
            allow_privilege_escalation: Some(false),
            capabilities_drop: vec!["ALL".into()],
            seccomp_profile: Some("RuntimeDefault".into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The golden image run by a workload of two restricted containers, then
/// changed in one way.
fn at_admission(change: impl Fn(&mut Workload)) -> Facts {
    let mut facts = golden();
    let mut workload = Workload {
        namespace: Some("shop".into()),
        kind: Some("Pod".into()),
        name: Some("api".into()),
        containers: vec![restricted_container("init"), restricted_container("api")],
        ..Default::default()
    };
    change(&mut workload);
    facts.workload = Some(workload);
    facts
}

type WorkloadChange = Box<dyn Fn(&mut Workload)>;

fn container_change(change: impl Fn(&mut Container) + 'static) -> WorkloadChange {
    Box::new(move |w| change(&mut w.containers[1]))
}

/// Every restricted-profile violation, one at a time, and the spellings
/// that still comply.
fn runtime_variations() -> Vec<(&'static str, WorkloadChange, bool)> {
    vec![
        ("compliant", Box::new(|_| {}), true),
        ("hostNetwork", Box::new(|w| w.host_network = true), false),
        ("hostPID", Box::new(|w| w.host_pid = true), false),
        ("hostIPC", Box::new(|w| w.host_ipc = true), false),
        (
            "hostPath",
            Box::new(|w| w.host_path_volumes = vec!["/var/run/docker.sock".into()]),
            false,
        ),
        (
            "privileged",
            container_change(|c| c.security_context.privileged = Some(true)),
            false,
        ),
        (
            "privilege escalation allowed",
            container_change(|c| c.security_context.allow_privilege_escalation = Some(true)),
            false,
        ),
        (
            "privilege escalation not set",
            container_change(|c| c.security_context.allow_privilege_escalation = None),
            false,
        ),
        (
            "SYS_ADMIN added",
            container_change(|c| c.security_context.capabilities_add = vec!["SYS_ADMIN".into()]),
            false,
        ),
        (
            "CHOWN added",
            container_change(|c| c.security_context.capabilities_add = vec!["CHOWN".into()]),
            false,
        ),
        (
            "cap_net_bind_service added",
            container_change(|c| {
                c.security_context.capabilities_add = vec!["cap_net_bind_service".into()]
            }),
            true,
        ),
        (
            "nothing dropped",
            container_change(|c| c.security_context.capabilities_drop.clear()),
            false,
        ),
        (
            "all dropped, lower case",
            container_change(|c| c.security_context.capabilities_drop = vec!["all".into()]),
            true,
        ),
        (
            "seccomp not set",
            container_change(|c| c.security_context.seccomp_profile = None),
            false,
        ),
        (
            "seccomp Unconfined",
            container_change(|c| c.security_context.seccomp_profile = Some("Unconfined".into())),
            false,
        ),
        (
            "seccomp Localhost",
            container_change(|c| {
                c.security_context.seccomp_profile = Some("Localhost:profiles/audit.json".into())
            }),
            true,
        ),
        (
            "AppArmor unconfined (annotation)",
            container_change(|c| c.security_context.apparmor_profile = Some("unconfined".into())),
            false,
        ),
        (
            "AppArmor Unconfined (field)",
            container_change(|c| c.security_context.apparmor_profile = Some("Unconfined".into())),
            false,
        ),
        (
            "AppArmor localhost profile",
            container_change(|c| {
                c.security_context.apparmor_profile = Some("localhost/k8s-apparmor".into())
            }),
            true,
        ),
        (
            "SELinux spc_t",
            container_change(|c| c.security_context.selinux_type = Some("spc_t".into())),
            false,
        ),
        (
            "SELinux container_t",
            container_change(|c| c.security_context.selinux_type = Some("container_t".into())),
            true,
        ),
        (
            "hostPort",
            container_change(|c| c.host_ports = vec![8080]),
            false,
        ),
    ]
}

#[test]
fn both_baselines_agree_on_runtime_hardening() {
    for (what, change, complies) in runtime_variations() {
        let facts = at_admission(change);
        let decision = engine().evaluate(
            &baseline(),
            &PreparedFacts::new(facts.clone()),
            &EvalOptions::at(NOW),
        );
        assert_eq!(
            decision.denied_rules().is_empty(),
            complies,
            "{what}: {:#?}",
            decision.findings().collect::<Vec<_>>()
        );
        assert_same(facts, what);
    }
}

/// At level baseline, what only "restricted" asks for passes; what both
/// forbid still denies; the CEL baseline agrees.
#[test]
fn the_pss_level_is_one_parameter_in_both_baselines() {
    let baseline_level_passes = [
        "compliant",
        "privilege escalation not set",
        "privilege escalation allowed",
        "CHOWN added",
        "nothing dropped",
        "seccomp not set",
    ];
    let mut wasm = baseline();
    wasm.set_param("runtime-hardening.level", "baseline")
        .unwrap();
    let mut cel = cel_baseline();
    cel.set_param("baseline-cel.pss_level", "baseline").unwrap();
    for (what, change, complies) in runtime_variations() {
        let prepared = PreparedFacts::new(at_admission(change));
        let options = EvalOptions::at(NOW);
        let wasm = engine().evaluate(&wasm, &prepared, &options);
        let cel = engine().evaluate(&cel, &prepared, &options);
        let expected: &[&str] = if complies || baseline_level_passes.contains(&what) {
            &[]
        } else {
            &["runtime-hardening"]
        };
        assert_eq!(wasm.denied_rules(), expected, "{what}");
        assert_eq!(verdict(&wasm, what), verdict(&cel, what), "{what}");
    }
}

#[test]
fn misconfiguration_parameters_change_both_baselines_alike() {
    let mut facts = golden();
    facts.misconfigurations = Some(vec![misconfiguration("DS-0002", Severity::High)]);
    let prepared = PreparedFacts::new(facts);
    let options = EvalOptions::at(NOW);
    let mut wasm = baseline();
    wasm.set_param("misconfigurations.ignore", "DS-0002")
        .unwrap();
    let mut cel = cel_baseline();
    cel.set_param("baseline-cel.misconfig_ignore", "DS-0002")
        .unwrap();
    let (wasm_ignored, cel_ignored) = (
        engine().evaluate(&wasm, &prepared, &options),
        engine().evaluate(&cel, &prepared, &options),
    );
    assert!(wasm_ignored.is_allowed());
    assert_eq!(
        verdict(&wasm_ignored, "ignored"),
        verdict(&cel_ignored, "ignored")
    );

    // Asked for, a missing scan warns.
    let prepared = PreparedFacts::new(golden());
    let mut wasm = baseline();
    wasm.set_param("misconfigurations.require-scan", "true")
        .unwrap();
    let mut cel = cel_baseline();
    cel.set_param("baseline-cel.misconfig_require_scan", "true")
        .unwrap();
    let (wasm, cel) = (
        engine().evaluate(&wasm, &prepared, &options),
        engine().evaluate(&cel, &prepared, &options),
    );
    let warned: Vec<&str> = wasm.findings().map(|(_, f)| f.rule.as_str()).collect();
    assert_eq!(warned, ["misconfigurations"]);
    assert_eq!(verdict(&wasm, "required"), verdict(&cel, "required"));
}

#[test]
fn parameters_change_both_baselines_alike() {
    let mut facts = golden();
    facts.vulnerabilities = Some(vec![vuln("CVE-9", Severity::Medium, true)]);
    let prepared = PreparedFacts::new(facts);
    let mut wasm = baseline();
    wasm.set_param("vulnerabilities.min-severity", "medium")
        .unwrap();
    let mut cel = cel_baseline();
    cel.set_param("baseline-cel.min_severity", "medium")
        .unwrap();
    let options = EvalOptions::at(NOW);
    let wasm = engine().evaluate(&wasm, &prepared, &options);
    let cel = engine().evaluate(&cel, &prepared, &options);
    assert_eq!(wasm.denied_rules(), ["vulnerabilities"]);
    assert_eq!(
        verdict(&wasm, "min-severity"),
        verdict(&cel, "min-severity")
    );
}

/// The benchmark's generated images: the peers it times must agree on them.
#[test]
fn all_baselines_agree_on_the_benchmark_inputs() {
    for (name, packages, vulnerabilities) in customs_bench::generate::SIZES {
        let facts = customs_bench::generate::facts(packages, vulnerabilities, NOW, 30);
        assert_eq!(
            facts.vulnerabilities.as_ref().map(Vec::len),
            Some(vulnerabilities)
        );
        assert_same(facts, name);
    }
    // The generated images are denied (fixable criticals, a compiler), so
    // the comparison exercises deny paths, not only allow.
    let facts = customs_bench::generate::facts(50, 20, NOW, 30);
    let decision = engine().evaluate(
        &baseline(),
        &PreparedFacts::new(facts),
        &EvalOptions::at(NOW),
    );
    assert_eq!(
        decision.denied_rules(),
        ["minimal-image", "vulnerabilities"]
    );
}

#[test]
fn allowed_host_ports_let_a_port_through_in_both_baselines() {
    let prepared = PreparedFacts::new(at_admission(|w| w.containers[1].host_ports = vec![8080]));
    let options = EvalOptions::at(NOW);
    let mut wasm = baseline();
    wasm.set_param("runtime-hardening.allowed-host-ports", "8080, 9090")
        .unwrap();
    let mut cel = cel_baseline();
    cel.set_param("baseline-cel.allowed_host_ports", "8080, 9090")
        .unwrap();
    let (wasm, cel) = (
        engine().evaluate(&wasm, &prepared, &options),
        engine().evaluate(&cel, &prepared, &options),
    );
    assert!(
        wasm.is_allowed(),
        "{:#?}",
        wasm.findings().collect::<Vec<_>>()
    );
    assert_eq!(
        verdict(&wasm, "allowed port"),
        verdict(&cel, "allowed port")
    );
}

fn executable(path: &str, setuid: bool, link_target: Option<&str>) -> customs_facts::Executable {
    customs_facts::Executable {
        path: path.into(),
        name: path.rsplit('/').next().unwrap().into(),
        kind: "elf".into(),
        size: 4096,
        mode: if setuid { 0o4755 } else { 0o755 },
        setuid,
        link_target: link_target.map(str::to_owned),
        ..Default::default()
    }
}

/// The golden image as customs read it from its layers, with these executables.
fn with_files(executables: Vec<customs_facts::Executable>) -> Facts {
    let mut facts = golden();
    facts.files = Some(customs_facts::Files {
        executables,
        ..Default::default()
    });
    facts
}

#[test]
fn both_baselines_agree_on_files_read_from_the_image() {
    let cases: Vec<(&str, Facts, &[&str])> = vec![
        (
            "an app binary only",
            with_files(vec![executable("/app/server", false, None)]),
            &[],
        ),
        (
            "a setuid binary",
            with_files(vec![executable("/usr/bin/su", true, None)]),
            &["no-setuid"],
        ),
        (
            "a link to a setuid binary is judged once, by its target",
            with_files(vec![
                executable("/usr/bin/su", true, None),
                executable("/bin/su", true, Some("/usr/bin/su")),
            ]),
            &["no-setuid"],
        ),
        (
            "a shell found as a file (warns)",
            with_files(vec![executable("/bin/sh", false, None)]),
            &[],
        ),
        (
            "a compiler left behind by a multi-stage build",
            with_files(vec![executable("/usr/local/bin/gcc", false, None)]),
            &["minimal-image"],
        ),
        (
            "files known, packages unknown",
            {
                let mut facts = with_files(vec![executable("/app/server", false, None)]);
                facts.packages = None;
                facts
            },
            &[],
        ),
        (
            "a shell both packaged and found",
            {
                let mut facts = with_files(vec![executable("/bin/bash", false, None)]);
                facts.packages.as_mut().unwrap().push(package("bash"));
                facts
            },
            &[],
        ),
    ];
    for (what, facts, denied) in cases {
        let decision = engine().evaluate(
            &baseline(),
            &PreparedFacts::new(facts.clone()),
            &EvalOptions::at(NOW),
        );
        assert_eq!(decision.denied_rules(), denied, "{what}");
        assert_same(facts, what);
    }
}

#[test]
fn allowed_setuid_paths_pass_in_both_baselines() {
    let prepared = PreparedFacts::new(with_files(vec![executable("/usr/bin/passwd", true, None)]));
    let options = EvalOptions::at(NOW);
    let mut wasm = baseline();
    wasm.set_param("no-setuid.allowed", "/usr/bin/passwd")
        .unwrap();
    let mut cel = cel_baseline();
    cel.set_param("baseline-cel.setuid_allowed", "/usr/bin/passwd")
        .unwrap();
    let (wasm, cel) = (
        engine().evaluate(&wasm, &prepared, &options),
        engine().evaluate(&cel, &prepared, &options),
    );
    assert!(
        wasm.is_allowed(),
        "{:#?}",
        wasm.findings().collect::<Vec<_>>()
    );
    assert_eq!(verdict(&wasm, "allowed"), verdict(&cel, "allowed"));
}
