//! CEL policies: loading errors point into the file, run-time failures deny
//! naming the rule, functions work, CEL and WASM policies mix in one bundle.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use assert_cmd::Command;
use customs::{
    Bundle, Decision, Effect, Engine, EngineConfig, Error, EvalOptions, FailureKind, Limits,
    PolicyDecision, PreparedFacts,
};
use customs_facts::import::import_file;
use customs_facts::{Facts, Package, Severity, Vulnerability};
use customs_tests::{corpus_dir, engine};

/// 2026-06-01T00:00:00Z.
const NOW: i64 = 1_780_272_000;

fn load(text: &str) -> Result<customs::Policy, Error> {
    engine().load_cel_policy("policy.yaml", text)
}

fn load_error(text: &str) -> String {
    load(text).unwrap_err().to_string()
}

fn evaluate(text: &str, facts: Facts) -> Decision {
    let mut bundle = Bundle::new("test");
    bundle.add(load(text).unwrap()).unwrap();
    engine().evaluate(&bundle, &PreparedFacts::new(facts), &EvalOptions::at(NOW))
}

fn trivy_facts() -> Facts {
    let mut facts = import_file(&corpus_dir().join("trivy/debian-buster.json"))
        .or_else(|_| import_file(&corpus_dir().join("trivy").join(first_trivy())))
        .unwrap();
    facts.normalize();
    facts
}

fn first_trivy() -> String {
    customs_tests::corpus_files("trivy")[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn an_unknown_field_is_refused_at_load_with_its_line_and_column() {
    let error = load_error(
        "name: p\nvalidations:\n  - rule: r\n    expression: vulnerabilities.all(v, v.severty != 'critical')\n",
    );
    // The `.` before `severty` is at column 41 of line 4.
    assert!(
        error.starts_with(
            "policy.yaml:4:41: validations[0] (r).expression: unknown field `severty`"
        ),
        "{error}"
    );
    assert!(
        error.contains("severity"),
        "lists the known fields: {error}"
    );
}

#[test]
fn syntax_errors_point_into_block_scalars() {
    let error = load_error(
        "name: p\nvalidations:\n  - rule: r\n    expression: |\n      size(packages) > 0 &&\n        image.tag ==\n",
    );
    assert!(error.starts_with("policy.yaml:6:"), "{error}");
    assert!(error.contains("syntax error"), "{error}");
}

#[test]
fn unknown_variables_functions_and_missing_rule_ids_are_refused() {
    let unknown_variable =
        load_error("name: p\nvalidations:\n  - rule: r\n    expression: vulns.size() == 0\n");
    assert!(
        unknown_variable.contains("unknown variable `vulns`"),
        "{unknown_variable}"
    );
    let unknown_function =
        load_error("name: p\nvalidations:\n  - rule: r\n    expression: frobnicate(image.tag)\n");
    assert!(
        unknown_function.contains("unknown function `frobnicate`"),
        "{unknown_function}"
    );
    let later_variable = load_error(
        "name: p\nvariables:\n  - name: a\n    expression: variables.b\n  - name: b\n    expression: 'true'\nvalidations:\n  - rule: r\n    expression: variables.a\n",
    );
    assert!(
        later_variable.contains("no variable `b` is declared before this expression"),
        "{later_variable}"
    );
    let no_rule = load_error("name: p\nvalidations:\n  - expression: 'true'\n");
    assert!(no_rule.contains("has no `rule` id"), "{no_rule}");
    let duplicate = load_error(
        "name: p\nvalidations:\n  - rule: r\n    expression: 'true'\n  - rule: r\n    expression: 'false'\n",
    );
    assert!(
        duplicate.starts_with("policy.yaml:5:11:") && duplicate.contains("used by two validations"),
        "{duplicate}"
    );
    let unknown_key = load_error("name: p\nvalidation: []\n");
    assert!(
        unknown_key.contains("unknown field `validation`"),
        "{unknown_key}"
    );
    let not_yaml = load_error("name: [unclosed\n");
    assert!(
        not_yaml.contains("not a valid CEL policy file"),
        "{not_yaml}"
    );
    let bad_param = load_error(
        "name: p\nparams:\n  - name: min-severity\n    default: high\nvalidations:\n  - rule: r\n    expression: 'true'\n",
    );
    assert!(
        bad_param.contains("must be a CEL identifier"),
        "{bad_param}"
    );
}

#[test]
fn a_run_time_type_error_fails_the_policy_closed_naming_the_rule() {
    let decision = evaluate(
        "name: p\nvalidations:\n  - rule: tag-is-number\n    expression: image.reference > 3\n",
        trivy_facts(),
    );
    assert!(!decision.is_allowed());
    let report = &decision.policies[0];
    assert_eq!(report.decision, PolicyDecision::Error);
    let error = report.error.as_deref().unwrap();
    assert!(
        error.contains("policy.yaml:4:17 (validations[0] (tag-is-number).expression)")
            && error.contains("no matching overload"),
        "{error}"
    );
    assert_eq!(report.failure, Some(FailureKind::PolicyError));
}

#[test]
fn a_failing_message_expression_keeps_the_finding() {
    let decision = evaluate(
        "name: p\nvalidations:\n  - rule: never\n    expression: 'false'\n    messageExpression: \"1 + 'a'\"\n",
        Facts::default(),
    );
    let report = &decision.policies[0];
    assert_eq!(report.decision, PolicyDecision::Deny);
    assert_eq!(report.findings[0].rule, "never");
    assert!(
        report.findings[0].message.contains("messageExpression"),
        "{:?}",
        report.findings[0]
    );
}

fn packages(count: usize, name_bytes: usize) -> Facts {
    let mut facts = Facts {
        packages: Some(
            (0..count)
                .map(|i| Package {
                    name: format!("{i:0name_bytes$}"),
                    version: "1".into(),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    };
    facts.normalize();
    facts
}

/// Three nested loops over the packages: 2.7e10 steps on 3,000 packages.
const CUBIC: &str = "name: p\nvalidations:\n  - rule: slow\n    expression: packages.all(a, packages.all(b, packages.all(c, a.name != b.name + c.name + 'x')))\n";

#[test]
fn a_policy_that_could_not_finish_within_the_budget_is_refused_at_load() {
    let error = load_error(CUBIC);
    assert!(
        error.starts_with("policy.yaml:4:17: validations[0] (slow).expression could cost ")
            && error.contains("more than the CEL cost budget of 10000000"),
        "{error}"
    );
}

/// `workload == null ? [] : workload.containers` is still a list of
/// containers to the estimate: the lists inside each are nested lists (16
/// entries), not facts lists (1,000), so a loop over capabilities per
/// container loads, as it does without the guard. When the other branch
/// is facts of another shape, the shape is unknown and the estimate stays
/// the cautious one.
#[test]
fn a_guarded_fact_keeps_its_shape_in_the_cost_estimate() {
    let per_container = |containers: &str| {
        format!(
            "name: p\nvariables:\n  - name: cs\n    expression: \"{containers}\"\nvalidations:\n  - rule: r\n    expression: \"variables.cs.all(c, c.security_context.capabilities_add.all(a, a.upperAscii() in ['X']))\"\n"
        )
    };
    load(&per_container("workload.containers")).unwrap();
    load(&per_container(
        "workload == null ? [] : workload.containers",
    ))
    .unwrap();
    load(&per_container(
        "workload != null ? workload.containers : null",
    ))
    .unwrap();
    for other_shape in [
        "workload == null ? packages : workload.containers",
        "workload == null ? [{'security_context': {'capabilities_add': packages}}] : workload.containers",
    ] {
        let error = load_error(&per_container(other_shape));
        assert!(error.contains("could cost"), "{other_shape}: {error}");
    }
}

#[test]
fn a_run_over_the_cost_budget_denies_naming_it() {
    // Linear, so it loads; 2,000 names of 8 KiB are 1.6e7 bytes for the regex
    // to read (customs' own functions count the bytes they read). A
    // long deadline, so the budget is what stops it.
    let policy = "name: p\nvalidations:\n  - rule: r\n    expression: packages.all(p, !p.name.matches('zz'))\n";
    let engine = Engine::new(
        EngineConfig::default().limits(Limits::default().with_deadline(Duration::from_secs(60))),
    )
    .unwrap();
    let mut bundle = Bundle::new("test");
    bundle
        .add(engine.load_cel_policy("policy.yaml", policy).unwrap())
        .unwrap();
    let run = |facts| engine.evaluate(&bundle, &PreparedFacts::new(facts), &EvalOptions::at(NOW));
    let decision = run(packages(2_000, 8_192));
    assert!(!decision.is_allowed());
    let error = decision.policies[0].error.as_deref().unwrap();
    assert!(
        error.contains("exceeded the CEL cost budget of 10000000 units"),
        "{error}"
    );
    assert_eq!(decision.policies[0].failure, Some(FailureKind::CostBudget));
    // The same count of 64-byte names fits.
    assert!(run(packages(2_000, 64)).is_allowed());
}

#[test]
fn a_runaway_expression_stops_at_the_deadline_and_denies() {
    let facts = packages(3_000, 8);
    // Run without a cost budget, so only the deadline stops them. The
    // second runs over a list the interpreter built and a variable holds,
    // not over the facts.
    let policies = [
        CUBIC,
        "name: p\nvariables:\n  - name: names\n    expression: packages.map(p, p.name)\nvalidations:\n  - rule: slow\n    expression: variables.names.all(a, variables.names.all(b, variables.names.all(c, a != b + c + 'x')))\n",
    ];
    for policy in policies {
        runs_into_the_deadline(policy, &facts);
    }
}

fn runs_into_the_deadline(policy: &str, facts: &Facts) {
    let facts = facts.clone();
    let engine = Engine::new(
        EngineConfig::default().limits(
            Limits::default()
                .with_deadline(Duration::from_millis(50))
                .with_cel_cost_budget(u64::MAX),
        ),
    )
    .unwrap();
    let mut bundle = Bundle::new("test");
    bundle
        .add(engine.load_cel_policy("policy.yaml", policy).unwrap())
        .unwrap();
    let started = std::time::Instant::now();
    let decision = engine.evaluate(&bundle, &PreparedFacts::new(facts), &EvalOptions::at(NOW));
    // Within twice the deadline, allowing for a loaded machine's scheduling.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(!decision.is_allowed());
    let error = decision.policies[0].error.as_deref().unwrap();
    assert!(error.contains("exceeded its 50 ms deadline"), "{error}");
    assert_eq!(decision.policies[0].failure, Some(FailureKind::Deadline));
}

#[test]
fn match_conditions_variables_and_params() {
    let policy = "\
name: criticals
params:
  - name: max
    default: 0
  - name: allowed
    default: [CVE-2]
matchConditions:
  - name: has-scan
    expression: vulnerabilities != null
variables:
  - name: critical
    expression: vulnerabilities.filter(v, v.severity == 'critical' && !(v.id in params.allowed))
validations:
  - rule: criticals
    expression: size(variables.critical) <= params.max
    messageExpression: variables.critical.map(v, v.id).join(', ')
    severity: critical
";
    let vuln = |id: &str| Vulnerability {
        id: id.into(),
        package: "openssl".into(),
        package_version: "1".into(),
        severity: Severity::Critical,
        ..Default::default()
    };
    let facts = Facts {
        vulnerabilities: Some(vec![vuln("CVE-1"), vuln("CVE-2")]),
        ..Default::default()
    };
    let decision = evaluate(policy, facts.clone());
    let report = &decision.policies[0];
    assert_eq!(report.decision, PolicyDecision::Deny);
    assert_eq!(report.findings[0].message, "CVE-1");
    assert_eq!(report.findings[0].severity, Severity::Critical);
    assert_eq!(report.findings[0].effect, Effect::Deny);

    // Parameters are typed by their defaults.
    let mut bundle = Bundle::new("test");
    bundle.add(load(policy).unwrap()).unwrap();
    bundle.set_param("criticals.max", "1").unwrap();
    let decision = engine().evaluate(&bundle, &PreparedFacts::new(facts), &EvalOptions::at(NOW));
    assert!(decision.is_allowed());
    let error = bundle.set_param("criticals.max", "many").unwrap_err();
    assert!(error.to_string().contains("is an integer"), "{error}");
    bundle
        .set_param("criticals.allowed", "CVE-1, CVE-2")
        .unwrap();

    // Without a scan the match condition leaves the image alone.
    assert!(evaluate(policy, Facts::default()).is_allowed());
}

#[test]
fn customs_functions() {
    let checks = [
        "severityRank('HIGH') == 4 && severityAtLeast('critical', 'high') && !severityAtLeast('low', 'medium')",
        "semverCompare('1.2.3', 'v1.10.0') == -1 && semverCompare('2.0.0', '2.0.0') == 0",
        "versionCompare('1:1.0-1', '2.0-1', 'deb') == 1 && versionCompare('1.0~rc1', '1.0', 'deb') == -1",
        "versionCompare('1.0-1.el8', '1.0-2.el8', 'rpm') == -1",
        "'docker.io/library/alpine:3.20'.matchesGlob('docker.io/library/*') && !'ghcr.io/x'.matchesGlob('docker.io/*')",
        "normalizeReference('alpine:3.20') == 'docker.io/library/alpine:3.20'",
        "parseReference('ghcr.io/acme/app:1.2').repository == 'acme/app' && parseReference('ghcr.io/acme/app:1.2').tag == '1.2'",
        "purl('pkg:deb/debian/openssl@3.0.11?arch=amd64').name == 'openssl' && purl('pkg:deb/debian/openssl@3.0.11?arch=amd64').qualifiers.arch == 'amd64'",
        "toDays(days(3)) == 3 && now - days(1) < now",
        "sets.contains(['a', 'b', 'c'], ['a', 'c']) && sets.intersects(['a'], ['b', 'a']) && sets.equivalent(['a', 'b'], ['b', 'a', 'a'])",
        "['b', 'a'].sort() == ['a', 'b'] && 'A,B'.lowerAscii().split(',') == ['a', 'b']",
        "vulnerabilities.exists(v, severityAtLeast(v.severity, 'medium')) && image.created < now",
    ];
    for check in checks {
        let policy = format!("name: p\nvalidations:\n  - rule: r\n    expression: \"{check}\"\n");
        let decision = evaluate(&policy, trivy_facts());
        assert!(decision.is_allowed(), "{check}: {:?}", decision.policies[0]);
    }
    let bad_version = evaluate(
        "name: p\nvalidations:\n  - rule: r\n    expression: \"versionCompare('1', '2', 'cobol') == 0\"\n",
        Facts::default(),
    );
    let error = bad_version.policies[0].error.as_deref().unwrap();
    assert!(error.contains("unknown version scheme"), "{error}");
}

#[test]
fn absent_facts_are_null_and_empty_lists_are_empty() {
    let policy = "name: p\nvalidations:\n  - rule: r\n    expression: vulnerabilities == null && user == null && image.created == null && size(image.labels) == 0\n";
    assert!(evaluate(policy, Facts::default()).is_allowed());
    let clean = Facts {
        vulnerabilities: Some(vec![]),
        ..Default::default()
    };
    let policy = "name: p\nvalidations:\n  - rule: r\n    expression: vulnerabilities != null && size(vulnerabilities) == 0\n";
    assert!(evaluate(policy, clean).is_allowed());
}

#[test]
fn cel_and_wasm_policies_mix_in_one_bundle_directory() {
    let dir = tempfile::tempdir().unwrap();
    for (rule, bytes) in customs::baseline::POLICIES.iter().take(2) {
        std::fs::write(dir.path().join(format!("{rule}.wasm")), bytes).unwrap();
    }
    std::fs::write(
        dir.path().join("tags.yaml"),
        "name: tags\nvalidations:\n  - rule: no-latest\n    expression: image.tag != 'latest'\n    message: pin a version tag\n",
    )
    .unwrap();
    let bundle = Bundle::load_dir(engine(), dir.path()).unwrap();
    let kinds: Vec<&str> = bundle
        .entries()
        .iter()
        .map(|e| e.policy().kind_name())
        .collect();
    // File-name order: no-root-user.wasm, tags.yaml, trusted-base.wasm.
    assert_eq!(kinds, ["wasm", "cel", "wasm"]);

    let report = corpus_dir().join("trivy").join(first_trivy());
    let output = Command::cargo_bin("customs")
        .unwrap()
        .args(["eval", "--format", "json", "--now", "2026-06-01T00:00:00Z"])
        .arg(&report)
        .arg("--bundle")
        .arg(dir.path())
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = json["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["no-root-user", "tags", "trusted-base"]);
}

#[test]
fn the_cli_evaluates_a_cel_policy_file_and_reports_load_errors_with_exit_2() {
    let report = corpus_dir().join("trivy").join(first_trivy());
    let policy =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/cel/baseline.yaml");
    let output = Command::cargo_bin("customs")
        .unwrap()
        .arg("eval")
        .arg(&report)
        .arg("--policy")
        .arg(&policy)
        .args(["--now", "2026-06-01T00:00:00Z"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("baseline-cel"), "{text}");
    assert!(matches!(output.status.code(), Some(0 | 1)), "{output:?}");

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "name: p\nvalidations:\n  - rule: r\n    expression: image.tagg == 'x'\n",
    )
    .unwrap();
    let output = Command::cargo_bin("customs")
        .unwrap()
        .arg("eval")
        .arg(&report)
        .arg("--policy")
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("broken.yaml:4:22") && stderr.contains("unknown field `tagg`"),
        "{stderr}"
    );
}

#[test]
fn the_policy_examples_in_the_docs_load() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut examples = 0;
    for doc in ["README.md", "docs/cel.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        for block in text.split("```yaml\n").skip(1) {
            let yaml = block.split("```").next().unwrap();
            if !yaml.starts_with("name:") {
                continue;
            }
            load(yaml).unwrap_or_else(|e| panic!("{doc}: example does not load: {e}"));
            examples += 1;
        }
    }
    assert!(examples >= 2, "found {examples} examples");
}

/// Every truncation and many one-byte corruptions of the CEL baseline load
/// or fail with an error: never a panic.
#[test]
fn damaged_policy_files_never_panic() {
    let source = customs::baseline::CEL_SOURCE.as_bytes();
    let mut loaded = 0;
    let mut refused = 0;
    let mut check = |bytes: &[u8]| match engine().load_policy("damaged.yaml", bytes) {
        Ok(_) => loaded += 1,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            refused += 1;
        }
    };
    for end in (0..source.len()).step_by(13) {
        check(&source[..end]);
    }
    // A small deterministic generator: no randomness in tests.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let replacements = b"(){}[]'\":.,!?|&-\n #\\0x";
    for _ in 0..600 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let at = (state >> 33) as usize % source.len();
        let with = replacements[(state >> 13) as usize % replacements.len()];
        let mut damaged = source.to_vec();
        damaged[at] = with;
        check(&damaged);
    }
    assert!(refused > 100, "only {refused} damaged files were refused");
    assert!(loaded > 0);
}
