//! Bundles without a registry: manifests pinned by sha256, archives and their
//! hostile forms, signatures, enforcement modes, waivers, and `customs test`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use assert_cmd::Command;
use customs::signing::VerifyingKey;
use customs::{
    ArchiveLimits, Bundle, BundleFiles, Enforcement, Error, EvalOptions, Manifest, PolicyDecision,
    PreparedFacts, WaiverStatus, Waivers,
};
use customs_registry::signing::{SigningKey, generate_key_pair};
use customs_tests::{bundle_dir, engine};

const NOW: &str = "2026-11-01T00:00:00Z";

fn trivy_alpine() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../policies/baseline/tests/fixtures/trivy-alpine-310.json")
}

fn alpine_facts() -> PreparedFacts {
    let bytes = std::fs::read(trivy_alpine()).unwrap();
    let facts = customs_facts::import::import_bytes(
        &customs_facts::import::Origin::named("trivy-alpine-310.json"),
        &bytes,
    )
    .unwrap();
    PreparedFacts::new(facts)
}

fn at_now() -> EvalOptions {
    EvalOptions::at(
        chrono::DateTime::parse_from_rfc3339(NOW)
            .unwrap()
            .timestamp(),
    )
}

/// A bundle directory with a manifest written by `Manifest::for_files`.
fn manifested(rules: &[&str]) -> tempfile::TempDir {
    let dir = bundle_dir(rules, &[]);
    write_manifest(dir.path(), "team");
    dir
}

fn write_manifest(dir: &Path, name: &str) {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "wasm" || e == "yaml")
                && !p.ends_with("customs-bundle.yaml")
        })
        .map(|p| {
            (
                p.file_name().unwrap().to_str().unwrap().to_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    let text =
        Manifest::for_files(name, files.iter().map(|(n, b)| (n.as_str(), b.as_slice()))).unwrap();
    std::fs::write(dir.join("customs-bundle.yaml"), text).unwrap();
}

fn edit_manifest(dir: &Path, edit: impl Fn(String) -> String) {
    let path = dir.join("customs-bundle.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(text)).unwrap();
}

#[test]
fn a_manifest_bundle_loads_with_its_params_and_enforcement() {
    let dir = manifested(&["no-root-user", "freshness", "vulnerabilities"]);
    // The first policy in file-name order, freshness, gets a parameter.
    edit_manifest(dir.path(), |text| {
        text.replacen(
            "    sha256:",
            "    params:\n      max-age-days: 100000\n    sha256:",
            1,
        )
    });
    let mut bundle = Bundle::load_dir(engine(), dir.path()).unwrap();
    assert_eq!(bundle.name(), "team");
    assert_eq!(bundle.version(), Some("0.1.0"));
    let freshness = bundle
        .entries()
        .iter()
        .find(|e| e.policy().name() == "freshness")
        .unwrap();
    assert!(
        freshness
            .params()
            .iter()
            .any(|(n, v)| n == "max-age-days" && v == "100000")
    );

    // no-root-user denies this image; audited, it is recorded but allows.
    bundle
        .set_enforcement("no-root-user", Enforcement::Audit)
        .unwrap();
    let decision = engine().evaluate(&bundle, &alpine_facts(), &at_now());
    let report = decision
        .policies
        .iter()
        .find(|p| p.name == "no-root-user")
        .unwrap();
    assert_eq!(report.decision, PolicyDecision::Allow);
    assert_eq!(report.findings.len(), 1, "the audited finding is kept");
    // warn: reported as a warning, never a deny.
    bundle
        .set_enforcement("no-root-user", Enforcement::Warn)
        .unwrap();
    let decision = engine().evaluate(&bundle, &alpine_facts(), &at_now());
    let report = decision
        .policies
        .iter()
        .find(|p| p.name == "no-root-user")
        .unwrap();
    assert_eq!(report.decision, PolicyDecision::Warn);
    assert!(!decision.denied_rules().contains(&"no-root-user"));
    bundle
        .set_enforcement("no-root-user", Enforcement::Enforce)
        .unwrap();
    let decision = engine().evaluate(&bundle, &alpine_facts(), &at_now());
    assert!(decision.denied_rules().contains(&"no-root-user"));
}

#[test]
fn enforcement_in_the_manifest_is_applied() {
    let dir = manifested(&["no-root-user"]);
    edit_manifest(dir.path(), |t| {
        t.replace("enforcement: enforce", "enforcement: warn")
    });
    let bundle = Bundle::load_dir(engine(), dir.path()).unwrap();
    assert_eq!(bundle.entries()[0].enforcement(), Enforcement::Warn);
    let decision = engine().evaluate(&bundle, &alpine_facts(), &at_now());
    assert!(decision.is_allowed());
    assert_eq!(decision.policies[0].decision, PolicyDecision::Warn);
}

#[test]
fn a_tampered_policy_is_refused_before_anything_compiles() {
    let dir = manifested(&["no-root-user", "freshness"]);
    let path = dir.path().join("no-root-user.wasm");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let error = Bundle::load_dir(engine(), dir.path()).unwrap_err();
    assert!(matches!(error, Error::Digest { .. }), "{error}");
    let text = error.to_string();
    assert!(
        text.contains("no-root-user.wasm") && text.contains("sha256 mismatch"),
        "{text}"
    );
    let actual = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    assert!(text.contains(&actual), "the actual digest is named: {text}");
}

type ManifestEdit = Box<dyn Fn(String) -> String>;

#[test]
fn bad_manifests_are_clear_errors() {
    let cases: Vec<(&str, ManifestEdit, &str)> = vec![
        (
            "missing file",
            Box::new(|t: String| t.replace("path: freshness.wasm", "path: gone.wasm")),
            "gone.wasm, which does not exist",
        ),
        (
            "unknown key",
            Box::new(|t: String| format!("{t}extra: 1\n")),
            "extra",
        ),
        (
            "unknown policy key",
            Box::new(|t: String| t.replace("kind: wasm", "kind: wasm\n    mode: x")),
            "mode",
        ),
        (
            "undeclared param",
            Box::new(|t: String| t.replace("kind: wasm", "kind: wasm\n    params: {nope: 1}")),
            "nope",
        ),
        (
            "newer customs",
            Box::new(|t: String| {
                t.replace("minCustomsVersion: 0.1.0", "minCustomsVersion: 99.0.0")
            }),
            "needs customs 99.0.0 or newer",
        ),
        (
            "other WIT",
            Box::new(|t: String| t.replace("witVersion: 0.1.0", "witVersion: 0.2.0")),
            "customs:policy@0.2.0",
        ),
        (
            "path traversal",
            Box::new(|t: String| t.replace("path: freshness.wasm", "path: ../freshness.wasm")),
            "must not contain ..",
        ),
        (
            "absolute path",
            Box::new(|t: String| t.replace("path: freshness.wasm", "path: /etc/passwd")),
            "relative",
        ),
        (
            "bad digest",
            Box::new(|t: String| t.replacen("sha256: ", "sha256: XYZ", 1)),
            "64 lower-case hex",
        ),
        (
            "no policies",
            Box::new(|t: String| t[..t.find("policies:").unwrap()].to_owned() + "policies: []\n"),
            "lists no policies",
        ),
        (
            "not YAML",
            Box::new(|_| "name: [unclosed\n".to_owned()),
            "manifest",
        ),
        (
            "wrong kind",
            Box::new(|t: String| t.replace("kind: wasm", "kind: cel")),
            "freshness.wasm",
        ),
    ];
    for (what, edit, expected) in cases {
        let dir = manifested(&["freshness"]);
        edit_manifest(dir.path(), edit);
        let error = Bundle::load_dir(engine(), dir.path())
            .expect_err(what)
            .to_string();
        assert!(error.contains(expected), "{what}: {error}");
    }
}

#[test]
fn a_symlink_out_of_the_bundle_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    let dir = manifested(&["freshness"]);
    let target = outside.path().join("freshness.wasm");
    std::fs::rename(dir.path().join("freshness.wasm"), &target).unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("freshness.wasm")).unwrap();
    let error = Bundle::load_dir(engine(), dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("leads outside the bundle directory"),
        "{error}"
    );
}

#[test]
fn archives_are_reproducible_and_load_like_the_directory() {
    let dir = manifested(&["no-root-user", "freshness"]);
    let files = BundleFiles::read_dir(dir.path()).unwrap();
    let archive = files.to_archive().unwrap();
    assert_eq!(
        archive,
        files.to_archive().unwrap(),
        "same files, same bytes"
    );
    let read = BundleFiles::read_archive("b.tar.gz", &archive, &ArchiveLimits::default()).unwrap();
    assert_eq!(read.files(), files.files());
    let bundle = Bundle::load_files(engine(), &read).unwrap();
    let names: Vec<&str> = bundle.entries().iter().map(|e| e.policy().name()).collect();
    assert_eq!(names, ["freshness", "no-root-user"]);
}

/// A tar.gz with the given entries (path, type, data, link target).
fn hostile_archive(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    for (path, kind, data, link) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(*kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        // Written raw so the builder does not refuse or rewrite the path.
        let name = &mut header.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(link) = link {
            header.set_link_name(link).unwrap();
        }
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

#[test]
fn hostile_archives_are_refused() {
    use tar::EntryType::{Directory, Link, Regular, Symlink, XHeader};
    let manifest: &[u8] = b"name: x\nversion: 0.1.0\npolicies: []\n";
    let zeros = vec![0u8; 2 << 20];
    let cases: Vec<(&str, Vec<u8>, ArchiveLimits, &str)> = vec![
        (
            "parent path",
            hostile_archive(&[
                ("customs-bundle.yaml", Regular, manifest, None),
                ("../evil.wasm", Regular, b"x", None),
            ]),
            ArchiveLimits::default(),
            "must not contain ..",
        ),
        (
            "absolute path",
            hostile_archive(&[("/etc/evil", Regular, b"x", None)]),
            ArchiveLimits::default(),
            "relative",
        ),
        (
            "symlink",
            hostile_archive(&[("p.wasm", Symlink, b"", Some("/etc/passwd"))]),
            ArchiveLimits::default(),
            "symbolic link",
        ),
        (
            "hard link",
            hostile_archive(&[("p.wasm", Link, b"", Some("../x"))]),
            ArchiveLimits::default(),
            "hard link",
        ),
        (
            "dir traversal",
            hostile_archive(&[("../d/", Directory, b"", None)]),
            ArchiveLimits::default(),
            "must not contain ..",
        ),
        (
            "no manifest",
            hostile_archive(&[("p.wasm", Regular, b"x", None)]),
            ArchiveLimits::default(),
            "holds no customs-bundle.yaml",
        ),
        (
            "duplicate",
            hostile_archive(&[("a", Regular, b"x", None), ("a", Regular, b"y", None)]),
            ArchiveLimits::default(),
            "appears twice",
        ),
        (
            "bomb",
            hostile_archive(&[("customs-bundle.yaml", Regular, &zeros, None)]),
            ArchiveLimits::default().with_max_unpacked_bytes(1 << 20),
            "exceed the limit",
        ),
        (
            // The ustar header says 10 bytes; a PAX record says 34 MB, which
            // is what a reader reads: the per-file limit must see that.
            "pax size",
            hostile_archive(&[
                ("customs-bundle.yaml", Regular, manifest, None),
                ("PaxHeaders/p.wasm", XHeader, b"17 size=34000000\n", None),
                ("p.wasm", Regular, b"0123456789", None),
            ]),
            ArchiveLimits::default(),
            "p.wasm is 34000000 bytes, more than the limit",
        ),
        (
            "many entries",
            hostile_archive(
                &(0..20)
                    .map(|_| ("d/", Directory, &b""[..], None))
                    .collect::<Vec<_>>(),
            ),
            ArchiveLimits::default().with_max_entries(10),
            "more than 10 entries",
        ),
        (
            "too big",
            vec![0x1f, 0x8b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ArchiveLimits::default().with_max_archive_bytes(8),
            "more than the limit",
        ),
        (
            "not gzip",
            b"PK\x03\x04 a zip".to_vec(),
            ArchiveLimits::default(),
            "not a bundle archive",
        ),
        (
            "truncated",
            hostile_archive(&[("customs-bundle.yaml", Regular, manifest, None)])[..30].to_vec(),
            ArchiveLimits::default(),
            "invalid bundle archive",
        ),
    ];
    for (what, bytes, limits, expected) in cases {
        let error = BundleFiles::read_archive("hostile.tar.gz", &bytes, &limits)
            .map(|_| ())
            .expect_err(what)
            .to_string();
        assert!(
            error.contains(expected) && error.contains("hostile.tar.gz"),
            "{what}: {error}"
        );
    }
}

#[test]
fn an_archive_with_an_unlisted_file_is_refused() {
    let dir = manifested(&["freshness"]);
    let mut files = BundleFiles::read_dir(dir.path()).unwrap().files().clone();
    files.insert("extra.wasm".to_owned(), b"\0asm".to_vec());
    let archive = hostile_archive(
        &files
            .iter()
            .map(|(p, b)| (p.as_str(), tar::EntryType::Regular, b.as_slice(), None))
            .collect::<Vec<_>>(),
    );
    let read = BundleFiles::read_archive("x.tar.gz", &archive, &ArchiveLimits::default()).unwrap();
    let error = Bundle::load_files(engine(), &read).unwrap_err().to_string();
    assert!(
        error.contains("holds extra.wasm, which the manifest does not list"),
        "{error}"
    );
}

#[test]
fn signatures_verify_only_the_signed_bytes_with_the_right_key() {
    let (private, public) = generate_key_pair(b"secret").unwrap();
    assert!(
        private.contains("ENCRYPTED SIGSTORE PRIVATE KEY"),
        "cosign's key format"
    );
    assert!(public.contains("BEGIN PUBLIC KEY"));
    assert!(SigningKey::from_pem("k", private.as_bytes(), b"wrong").is_err());
    let key = SigningKey::from_pem("k", private.as_bytes(), b"secret").unwrap();
    let verifier = VerifyingKey::from_pem("k.pub", public.as_bytes()).unwrap();
    let signature = key.sign(b"bundle bytes").unwrap();
    verifier.verify("b", b"bundle bytes", &signature).unwrap();
    let error = verifier
        .verify("b", b"bundle bytez", &signature)
        .unwrap_err()
        .to_string();
    assert!(error.contains("does not match"), "{error}");
    let (_, other_public) = generate_key_pair(b"").unwrap();
    let other = VerifyingKey::from_pem("other.pub", other_public.as_bytes()).unwrap();
    assert!(other.verify("b", b"bundle bytes", &signature).is_err());
    assert!(
        verifier
            .verify("b", b"bundle bytes", "not base64!")
            .is_err()
    );
}

#[test]
fn waivers_apply_until_they_expire_and_say_what_they_did() {
    let text = "waivers:
  - rule: no-root-user
    image: ghcr.io/aquasecurity/*
    reason: migrating to distroless (JIRA-1)
    owner: platform@example.com
    expires: 2026-12-01
  - rule: freshness
    image: '*'
    subject: alpine*
    reason: rebuilt weekly
    owner: platform@example.com
    expires: 2026-01-01
  - rule: vulnerabilities
    image: '*'
    subject: CVE-2099-*
    reason: nothing
    owner: x@example.com
    expires: 2027-01-01
  - rule: no-secrets
    image: docker.io/other/*
    reason: another image
    owner: x@example.com
    expires: 2027-01-01
";
    let mut bundle = customs_tests::baseline();
    bundle.set_waivers(Waivers::parse("waivers.yaml", text).unwrap());
    let facts = alpine_facts();
    let decision = engine().evaluate(&bundle, &facts, &at_now());
    // The root finding is waived: reported, marked, no longer denying.
    let root = decision
        .policies
        .iter()
        .find(|p| p.name == "no-root-user")
        .unwrap();
    assert_eq!(root.decision, PolicyDecision::Allow);
    let mark = root.findings[0].waiver.as_ref().expect("marked");
    assert_eq!(mark.status, WaiverStatus::Applied);
    assert_eq!(mark.owner, "platform@example.com");
    // The freshness waiver expired: its findings deny again, and say so.
    let fresh = decision
        .policies
        .iter()
        .find(|p| p.name == "freshness")
        .unwrap();
    assert_eq!(fresh.decision, PolicyDecision::Deny);
    assert!(fresh.findings.iter().any(|f| {
        f.waiver
            .as_ref()
            .is_some_and(|w| w.status == WaiverStatus::Expired)
    }));
    assert_eq!(decision.denied_rules(), ["freshness"]);
    let statuses: Vec<(&str, WaiverStatus)> = decision
        .waivers
        .iter()
        .map(|w| (w.rule.as_str(), w.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("no-root-user", WaiverStatus::Applied),
            ("freshness", WaiverStatus::Expired),
            ("vulnerabilities", WaiverStatus::Unmatched),
        ],
        "the no-secrets waiver is for another image"
    );
    // After its date, the root waiver stops applying too.
    let later = EvalOptions::at(
        chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .timestamp(),
    );
    let decision = engine().evaluate(&bundle, &facts, &later);
    assert_eq!(decision.denied_rules(), ["freshness", "no-root-user"]);
    // The JSON document carries the marks.
    let json = serde_json::to_value(&decision).unwrap();
    assert_eq!(json["waivers"][0]["status"], "expired");
}

#[test]
fn bad_waivers_files_are_clear_errors() {
    for (text, expected) in [
        (
            "waivers:\n  - rule: x\n    image: '*'\n    reason: r\n    owner: o\n    expires: someday\n",
            "YYYY-MM-DD",
        ),
        (
            "waivers:\n  - rule: x\n    image: '*'\n    reason: r\n    owner: ''\n    expires: 2026-01-01\n",
            "owner must not be empty",
        ),
        (
            "waivers:\n  - rule: x\n    image: '*'\n    reason: r\n    expires: 2026-01-01\n",
            "owner",
        ),
        ("waivers:\n  - rule: x\n    cve: CVE-1\n", "cve"),
        ("nope: 1\n", "nope"),
    ] {
        let error = Waivers::parse("w.yaml", text).unwrap_err().to_string();
        assert!(
            error.contains("w.yaml") && error.contains(expected),
            "{text}: {error}"
        );
    }
}

#[test]
fn policy_errors_are_never_waived() {
    let cel = "name: broken\nvalidations:\n  - rule: broken\n    expression: image.reference.size() / 0 > 1\n";
    let dir = bundle_dir(&[], &[("broken.yaml", cel)]);
    let mut bundle = Bundle::load_dir(engine(), dir.path()).unwrap();
    bundle.set_waivers(Waivers::parse("w", "waivers:\n  - {rule: policy-error, image: '*', reason: r, owner: o, expires: 2099-01-01}\n").unwrap());
    let decision = engine().evaluate(&bundle, &alpine_facts(), &at_now());
    assert_eq!(decision.policies[0].decision, PolicyDecision::Error);
    assert!(!decision.is_allowed());
}

/// A customs command whose state (the accepted bundle versions) is its own,
/// so tests neither share it nor touch the user's.
fn customs() -> Command {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let state = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bundles-state-{}-{call}", std::process::id()));
    let mut command = Command::cargo_bin("customs").unwrap();
    command.env("XDG_STATE_HOME", state);
    command
}

#[test]
fn customs_test_runs_the_baseline_suite_with_valid_junit() {
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/baseline");
    let output = customs().arg("test").arg(&suite).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("17 passed, 0 failed"), "{stdout}");

    let output = customs()
        .arg("test")
        .arg(&suite)
        .args(["--format", "junit"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let xml = String::from_utf8(output.stdout).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("17"));
    assert_eq!(root.attribute("failures"), Some("0"));
    let cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert_eq!(cases, 17);
}

#[test]
fn customs_test_fails_on_a_wrong_expectation() {
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/baseline/tests");
    let text = std::fs::read_to_string(source.join("baseline.test.yaml"))
        .unwrap()
        .replace(
            "expect: {decision: deny, deny: [no-root-user], warn: []}",
            "expect: {decision: deny, deny: [signed], warn: []}",
        );
    std::fs::write(dir.path().join("wrong.test.yaml"), text).unwrap();
    std::fs::create_dir(dir.path().join("fixtures")).unwrap();
    std::fs::copy(
        source.join("fixtures/trivy-alpine-310.json"),
        dir.path().join("fixtures/trivy-alpine-310.json"),
    )
    .unwrap();
    let output = customs().arg("test").arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "FAIL  running as root is denied: expected denying rules [signed], got [no-root-user]"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("16 passed, 1 failed"), "{stdout}");
    let output = customs()
        .arg("test")
        .arg(dir.path())
        .args(["--format", "junit"])
        .output()
        .unwrap();
    let xml = String::from_utf8(output.stdout).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(doc.root_element().attribute("failures"), Some("1"));

    // A malformed suite is a usage error.
    std::fs::write(dir.path().join("bad.test.yaml"), "cases: 3\n").unwrap();
    customs().arg("test").arg(dir.path()).assert().code(2);
}

/// `customs test --coverage`: which outcomes of each rule the cases
/// exercised; two cases of the baseline's suite cover one rule of eleven.
#[test]
fn customs_test_reports_which_rules_the_cases_exercised() {
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/baseline/tests");
    let text = std::fs::read_to_string(source.join("baseline.test.yaml")).unwrap();
    // The golden image and the root case only.
    let two = &text[..text
        .find("  - name: a fixable critical vulnerability")
        .unwrap()];
    std::fs::write(dir.path().join("two.test.yaml"), two).unwrap();
    let json = dir.path().join("coverage.json");
    let output = customs()
        .arg("test")
        .arg(dir.path())
        .arg("--coverage")
        .arg("--coverage-json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("ok   no-root-user/no-root-user  deny 1  warn 0  pass 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("MISS signed/signed  deny 0  warn 0  pass 2"),
        "{stdout}"
    );
    assert!(stdout.contains("1 of 11 rules covered (9.1%)"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        (report["covered"].as_u64(), report["total"].as_u64()),
        (Some(1), Some(11))
    );
    let root = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "no-root-user")
        .unwrap();
    assert_eq!(
        (root["deny"].as_u64(), root["pass"].as_u64()),
        (Some(1), Some(1))
    );

    // Below the threshold: the run fails, saying why.
    let output = customs()
        .arg("test")
        .arg(dir.path())
        .args(["--coverage-min", "50"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("9.1% of the rules are covered, below --coverage-min 50"),
        "{stderr}"
    );
    customs()
        .arg("test")
        .arg(dir.path())
        .args(["--coverage-min", "101"])
        .assert()
        .code(2);
}

#[test]
fn build_sign_and_evaluate_a_signed_archive_from_the_cli() {
    let dir = bundle_dir(&["no-root-user", "freshness"], &[]);
    let work = tempfile::tempdir().unwrap();
    customs()
        .args(["bundle", "init"])
        .arg(dir.path())
        .args(["--name", "team"])
        .assert()
        .success();
    let archive = work.path().join("team.tar.gz");
    customs()
        .args(["bundle", "build"])
        .arg(dir.path())
        .arg("-o")
        .arg(&archive)
        .assert()
        .success();
    customs()
        .current_dir(work.path())
        .env("COSIGN_PASSWORD", "pw")
        .args(["bundle", "keygen"])
        .assert()
        .success();
    let key = work.path().join("cosign.key");
    let public = work.path().join("cosign.pub");
    let eval = |bundle: &Path| {
        customs()
            .args(["eval", "--now", NOW, "--require-signed", "--key"])
            .arg(&public)
            .arg("--bundle")
            .arg(bundle)
            .arg(trivy_alpine())
            .output()
            .unwrap()
    };
    // Unsigned: refused.
    let output = eval(&archive);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("the bundle is not signed"));
    customs()
        .env("COSIGN_PASSWORD", "pw")
        .args(["bundle", "sign"])
        .arg(&archive)
        .arg("--key")
        .arg(&key)
        .assert()
        .success();
    let output = eval(&archive);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("bundle team"));
    // One byte changed after signing: refused.
    let mut bytes = std::fs::read(&archive).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&archive, bytes).unwrap();
    let output = eval(&archive);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("signature does not match"));

    // A directory bundle: its signed manifest covers every file.
    customs()
        .env("COSIGN_PASSWORD", "pw")
        .args(["bundle", "sign"])
        .arg(dir.path())
        .arg("--key")
        .arg(&key)
        .assert()
        .success();
    assert_eq!(eval(dir.path()).status.code(), Some(1));
    let policy = dir.path().join("freshness.wasm");
    let mut bytes = std::fs::read(&policy).unwrap();
    bytes.push(0);
    std::fs::write(&policy, bytes).unwrap();
    let output = eval(dir.path());
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("freshness.wasm: sha256 mismatch"),
        "{stderr}"
    );
}

#[test]
fn an_older_signed_bundle_is_refused_as_a_rollback() {
    let dir = bundle_dir(&["no-root-user"], &[]);
    let work = tempfile::tempdir().unwrap();
    let state_home = work.path().join("state");
    let run = || {
        let mut command = customs();
        command
            .current_dir(work.path())
            .env("COSIGN_PASSWORD", "pw")
            .env("XDG_STATE_HOME", &state_home);
        command
    };
    run()
        .args(["bundle", "init", "--name", "team"])
        .arg(dir.path())
        .assert()
        .success();
    run().args(["bundle", "keygen"]).assert().success();
    let release = |version: &str| {
        edit_manifest(dir.path(), |text| {
            text.lines()
                .map(|line| {
                    if line.starts_with("version: ") {
                        format!("version: {version}\n")
                    } else {
                        format!("{line}\n")
                    }
                })
                .collect()
        });
        let archive = work.path().join(format!("team-{version}.tar.gz"));
        run()
            .args(["bundle", "build"])
            .arg(dir.path())
            .arg("-o")
            .arg(&archive)
            .assert()
            .success();
        run()
            .args(["bundle", "sign", "--key", "cosign.key"])
            .arg(&archive)
            .assert()
            .success();
        archive
    };
    let eval = |archive: &Path, extra: &[&str]| {
        run()
            .args(["eval", "--now", NOW, "--key", "cosign.pub", "--bundle"])
            .arg(archive)
            .args(extra)
            .arg(trivy_alpine())
            .output()
            .unwrap()
    };
    let stderr =
        |output: &std::process::Output| String::from_utf8_lossy(&output.stderr).into_owned();

    let old = release("1.0.0");
    let new = release("1.1.0");
    assert_eq!(eval(&old, &[]).status.code(), Some(1));
    assert_eq!(eval(&new, &[]).status.code(), Some(1));
    let output = eval(&old, &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let state_file = state_home.join("customs/accepted-bundles.json");
    let message = stderr(&output);
    assert!(
        message.contains("team-1.0.0.tar.gz: bundle team 1.0.0 is older than 1.1.0"),
        "{message}"
    );
    assert!(
        message.contains(&state_file.display().to_string()),
        "{message}"
    );
    assert!(message.contains("--allow-rollback"), "{message}");
    assert!(output.stdout.is_empty());

    // Allowed on purpose: used, with a warning; the record keeps 1.1.0.
    let output = eval(&old, &["--allow-rollback"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("older signed bundle used"),
        "{}",
        stderr(&output)
    );
    let recorded: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    assert_eq!(recorded["bundles"]["team"]["version"], "1.1.0");
    let output = run()
        .args(["bundle", "verify", "--key", "cosign.pub"])
        .arg(&old)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));

    // Unsigned use vouches for no version, so nothing is compared.
    let output = run()
        .args(["eval", "--now", NOW, "--bundle"])
        .arg(&old)
        .arg(trivy_alpine())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));

    // Another state file (--accepted-versions) knows nothing of 1.1.0.
    let elsewhere = work.path().join("elsewhere.json");
    let output = eval(&old, &["--accepted-versions", elsewhere.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    // A damaged state fails closed, naming the file.
    std::fs::write(&elsewhere, "{ not json").unwrap();
    let output = eval(&new, &["--accepted-versions", elsewhere.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&format!(
            "{}: cannot use the accepted bundle versions",
            elsewhere.display()
        )),
        "{}",
        stderr(&output)
    );
}

#[test]
fn eval_reports_waivers_from_the_cli() {
    let work = tempfile::tempdir().unwrap();
    let waivers = work.path().join("waivers.yaml");
    std::fs::write(&waivers, "waivers:\n  - {rule: no-root-user, image: '*', reason: migrating, owner: team@example.com, expires: 2026-12-01}\n  - {rule: freshness, image: '*', reason: old, owner: team@example.com, expires: 2026-01-01}\n").unwrap();
    let output = customs()
        .args(["eval", "--now", NOW, "--waivers"])
        .arg(&waivers)
        .arg(trivy_alpine())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "freshness still denies: {stdout}"
    );
    assert!(
        stdout.contains("waived by team@example.com until 2026-12-01: migrating"),
        "{stdout}"
    );
    assert!(
        stdout.contains("expired (its findings deny again)"),
        "{stdout}"
    );
    let output = customs()
        .args(["eval", "--now", NOW, "--format", "sarif", "--waivers"])
        .arg(&waivers)
        .arg(trivy_alpine())
        .output()
        .unwrap();
    let sarif: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let suppressed = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .count();
    assert_eq!(suppressed, 1);
}

/// The YAML blocks of docs/bundles.md that hold `marker`.
fn doc_blocks(marker: &str) -> Vec<String> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/bundles.md"))
            .unwrap();
    text.split("```yaml\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .filter(|block| block.contains(marker))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_documented_manifest_and_waivers_parse() {
    let manifests = doc_blocks("witVersion");
    assert_eq!(manifests.len(), 1);
    let manifest = Manifest::parse("docs/bundles.md", &manifests[0]).unwrap();
    assert_eq!(manifest.policies.len(), 2);
    assert_eq!(manifest.policies[0].enforcement, Enforcement::Enforce);
    let waivers = doc_blocks("waivers:");
    assert_eq!(waivers.len(), 1);
    let parsed = Waivers::parse("docs/bundles.md", &waivers[0]).unwrap();
    assert_eq!(parsed.iter().count(), 1);
}
