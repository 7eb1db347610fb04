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
    Attestation, Base, Config, Container, Facts, FixState, OsInfo, Package, Secret,
    SecurityContext, Severity, VexStatus, Vulnerability, Workload,
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
