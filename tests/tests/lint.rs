//! `customs lint`: CEL validations that read no fact (the same for every
//! image once the parameters are set), match conditions that never apply,
//! and waivers of rules no policy declares.

use assert_cmd::Command;

const POLICY: &str = r#"name: lintme
version: 0.1.0
params:
  - name: max_critical
    default: 0
  - name: enabled
    default: false
variables:
  - name: limit
    expression: params.max_critical + 1
  - name: criticals
    expression: vulnerabilities.filter(v, v.severity == 'critical')
matchConditions:
  - name: always
    expression: "true"
validations:
  - rule: never-fails
    expression: variables.limit > 0
  - rule: always-fails
    expression: params.enabled
  - rule: reads-facts
    expression: size(variables.criticals) <= params.max_critical
  - rule: reads-time
    expression: now > timestamp('2020-01-01T00:00:00Z')
  - rule: comprehension-over-params
    expression: "[1, 2].all(x, x <= params.max_critical + 2)"
"#;

const WAIVERS: &str = "waivers:
  - rule: never-fails
    image: '*'
    reason: a test
    owner: test@example.com
    expires: 2099-01-01
  - rule: no-such-rule
    image: '*'
    reason: a typo
    owner: test@example.com
    expires: 2099-01-01
";

/// `customs lint`, to be given its arguments.
fn lint() -> Command {
    let mut command = Command::cargo_bin("customs").unwrap();
    command.arg("lint");
    command
}

#[test]
fn constant_validations_and_waivers_of_nothing_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    std::fs::write(bundle.join("lintme.yaml"), POLICY).unwrap();
    let waivers = dir.path().join("waivers.yaml");
    std::fs::write(&waivers, WAIVERS).unwrap();

    let output = lint()
        .arg(&bundle)
        .arg("--waivers")
        .arg(&waivers)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    let about = |rule: &str| lines.iter().filter(|l| l.contains(rule)).count();
    assert!(
        stdout
            .contains("(never-fails).expression): true for every image: this rule can never fail"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "false for every image: this rule fails (denies) on every image the policy applies to"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "the waiver of rule \"no-such-rule\" (owner test@example.com) waives nothing"
        ),
        "{stdout}"
    );
    // What reads facts or the time is not constant; a comprehension's own
    // variable is not a fact; the waiver of a real rule is fine.
    assert_eq!(about("reads-facts"), 0, "{stdout}");
    assert_eq!(about("reads-time"), 0, "{stdout}");
    assert_eq!(about("\"never-fails\""), 0, "{stdout}");
    assert!(
        stdout.contains("comprehension-over-params") && stdout.contains("4 found"),
        "{stdout}"
    );

    // JSON names the policy, the rule and where.
    let output = lint()
        .arg(&bundle)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let found: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let always_fails = found
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "always-fails")
        .unwrap();
    assert_eq!(always_fails["policy"], "lintme");
    assert!(
        always_fails["place"]
            .as_str()
            .unwrap()
            .contains("lintme.yaml"),
        "{found}"
    );

    // With the parameter set in the bundle's manifest, the same rule reads
    // true for every image instead: still constant, now never failing.
    use sha2::Digest as _;
    let manifest = format!(
        "name: lintme\nversion: 0.1.0\nwitVersion: 0.1.0\npolicies:\n  - path: lintme.yaml\n    kind: cel\n    sha256: {}\n    params:\n      enabled: true\n",
        hex::encode(sha2::Sha256::digest(POLICY.as_bytes()))
    );
    std::fs::write(bundle.join("customs-bundle.yaml"), manifest).unwrap();
    let output = lint().arg(&bundle).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout
            .contains("(always-fails).expression): true for every image: this rule can never fail")
            && !stdout.contains("false for every image"),
        "{stdout}"
    );

    // A match condition false for every image; an expression that errors
    // for every image (the policy fails, and denies).
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(
        other.join("off.yaml"),
        "name: off\nparams:\n  - name: enabled\n    default: false\nmatchConditions:\n  - name: gate\n    expression: params.enabled\nvalidations:\n  - rule: r\n    expression: size(packages) > 0\n",
    )
    .unwrap();
    std::fs::write(
        other.join("broken.yaml"),
        "name: broken\nparams:\n  - name: zero\n    default: 0\nvariables:\n  - name: ratio\n    expression: 1 / params.zero\nvalidations:\n  - rule: r2\n    expression: variables.ratio > 0\n",
    )
    .unwrap();
    let output = lint().arg(&other).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("policy off: ")
            && stdout.contains(
                "this match condition is false for every image: the policy never applies"
            ),
        "{stdout}"
    );
    assert!(
        stdout.contains("policy broken: ")
            && stdout.contains(
                "for every image: the policy fails (and denies) on every image it applies to"
            ),
        "{stdout}"
    );

    // A bundle with nothing to find: exit 0.
    Command::cargo_bin("customs")
        .unwrap()
        .args(["lint", "builtin:baseline"])
        .assert()
        .code(0);
}
