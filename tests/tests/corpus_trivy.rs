//! The Trivy importer on every real report in ../shared/corpus/trivy: counts in
//! the facts match counts taken from the raw JSON, nothing is dropped silently.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use customs_facts::import::{Format, Origin, detect, import_file};
use customs_facts::{FixState, Severity};
use customs_tests::{corpus_dir, corpus_files};
use serde_json::Value;

/// Sum of the lengths of `key` arrays over the report's Results of the given classes.
fn raw_count(raw: &Value, classes: &[&str], key: &str) -> usize {
    raw["Results"]
        .as_array()
        .map(|results| {
            results
                .iter()
                .filter(|r| classes.contains(&r["Class"].as_str().unwrap_or("")))
                .map(|r| r[key].as_array().map_or(0, Vec::len))
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn every_trivy_report_imports_with_matching_counts() {
    for file in corpus_files("trivy") {
        let name = file.display().to_string();
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(
            detect(&Origin::file(&file), &bytes).unwrap(),
            Format::TrivyJson,
            "{name}"
        );
        let raw: Value = serde_json::from_slice(&bytes).unwrap();
        let facts = import_file(&file).unwrap_or_else(|e| panic!("{e}"));

        let vulns = raw_count(&raw, &["os-pkgs", "lang-pkgs"], "Vulnerabilities");
        assert_eq!(
            facts.vulnerabilities.as_ref().map_or(0, Vec::len),
            vulns,
            "{name}: vulnerabilities"
        );
        let secrets = raw_count(&raw, &["secret"], "Secrets");
        assert_eq!(
            facts.secrets.as_ref().map_or(0, Vec::len),
            secrets,
            "{name}: secrets"
        );
        let failed_checks: usize = raw["Results"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["Misconfigurations"].as_array().into_iter().flatten())
            .filter(|m| m["Status"].as_str().is_none_or(|s| s == "FAIL"))
            .count();
        assert_eq!(
            facts.misconfigurations.as_ref().map_or(0, Vec::len),
            failed_checks,
            "{name}: misconfigurations"
        );
        let packages = raw_count(&raw, &["os-pkgs", "lang-pkgs"], "Packages");
        assert_eq!(
            facts.packages.as_ref().map_or(0, Vec::len),
            packages,
            "{name}: packages"
        );

        // One source, naming the tool and the file.
        assert_eq!(facts.sources.len(), 1, "{name}");
        assert_eq!(facts.sources[0].tool, "trivy");
        assert_eq!(facts.sources[0].file.as_deref(), Some(name.as_str()));

        // Results customs has no place for are reported, not dropped.
        let skipped = raw["Results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| {
                !["os-pkgs", "lang-pkgs", "secret", "config"]
                    .contains(&r["Class"].as_str().unwrap_or(""))
            })
            .count();
        let skip_warnings = facts.sources[0]
            .warnings
            .iter()
            .filter(|w| w.starts_with("skipped a result"))
            .count();
        assert_eq!(
            skip_warnings, skipped,
            "{name}: {:?}",
            facts.sources[0].warnings
        );

        // An image scan yields image facts; other scans say they lack them.
        let is_image = raw["ArtifactType"] == "container_image";
        let says_missing = facts.sources[0]
            .warnings
            .iter()
            .any(|w| w.contains("image metadata"));
        assert_eq!(says_missing, !is_image, "{name}");
        if is_image && raw["Metadata"]["ImageConfig"].is_object() {
            let user = facts
                .user
                .as_ref()
                .unwrap_or_else(|| panic!("{name}: no user"));
            let raw_user = raw["Metadata"]["ImageConfig"]["config"]["User"]
                .as_str()
                .unwrap_or("");
            assert_eq!(user.name, raw_user, "{name}");
        }
        if let Some(os) = raw["Metadata"]["OS"].as_object() {
            let facts_os = facts.base.as_ref().and_then(|b| b.os.as_ref()).unwrap();
            assert_eq!(facts_os.family, os["Family"].as_str().unwrap(), "{name}");
        }
    }
}

#[test]
fn alpine_310_maps_in_detail() {
    let facts = import_file(&corpus_dir().join("trivy/alpine-310.json")).unwrap();
    assert_eq!(
        facts.image.reference.as_deref(),
        Some("ghcr.io/aquasecurity/trivy-test-images:alpine-310")
    );
    assert_eq!(facts.image.registry.as_deref(), Some("ghcr.io"));
    assert_eq!(facts.image.tag.as_deref(), Some("alpine-310"));
    assert_eq!(
        facts.image.config_digest.as_deref(),
        Some("sha256:961769676411f082461f9ef46626dd7a2d1e2b2a38e6a44364bcbecf51e66dd4")
    );
    assert_eq!(
        facts.image.created.as_deref(),
        Some("2019-08-20T20:19:55.211423266Z")
    );
    assert_eq!(facts.image.architecture.as_deref(), Some("amd64"));
    let config = facts.config.as_ref().unwrap();
    assert_eq!(config.cmd, ["/bin/sh"]);
    assert_eq!(config.env_names, ["PATH"]);
    assert!(facts.user.as_ref().unwrap().is_root);
    let os = facts.base.as_ref().unwrap().os.as_ref().unwrap();
    assert_eq!(
        (os.family.as_str(), os.version.as_str()),
        ("alpine", "3.10.2")
    );
    assert_eq!(os.eol.as_deref(), Some("2021-05-01"));
    assert_eq!(os.eosl, Some(true));
    let history = facts.history.as_ref().unwrap();
    assert_eq!(history.len(), 2);
    assert!(history[1].empty_layer);
    assert_eq!(facts.layers.as_ref().unwrap().len(), 1);

    let v = &facts.vulnerabilities.as_ref().unwrap()[0];
    assert_eq!(v.id, "CVE-2019-1549");
    assert_eq!(v.package, "libcrypto1.1");
    assert_eq!(v.package_version, "1.1.1c-r0");
    assert_eq!(v.package_type.as_deref(), Some("apk"));
    assert_eq!(v.severity, Severity::Medium);
    assert_eq!(v.cvss_score, Some(5.3));
    assert_eq!(v.fixed_versions, ["1.1.1d-r0"]);
    assert_eq!(v.fix_state, FixState::Fixed);
    assert_eq!(v.published.as_deref(), Some("2019-09-10T17:15:00Z"));
    assert_eq!(v.sources, ["trivy"]);
}

#[test]
fn statuses_map_to_fix_states_and_vex() {
    let facts = import_file(&corpus_dir().join("trivy/dd-debian-1013-statuses.json")).unwrap();
    let vulns = facts.vulnerabilities.unwrap();
    let states: Vec<_> = vulns.iter().map(|v| (v.fix_state, v.vex_status)).collect();
    assert_eq!(states.len(), 8);
    assert!(states.contains(&(FixState::WontFix, None)), "{states:?}");
    assert!(states.contains(&(FixState::NotFixed, None)), "{states:?}");
    assert!(
        states.contains(&(
            FixState::Unknown,
            Some(customs_facts::VexStatus::NotAffected)
        )),
        "{states:?}"
    );
}

#[test]
fn secrets_never_carry_their_value() {
    for file in [
        "trivy/secrets-repo.json",
        "trivy/dd-fs-misconfig-secrets.json",
    ] {
        let path = corpus_dir().join(file);
        let raw: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let facts = import_file(&path).unwrap();
        let json = serde_json::to_string(&facts).unwrap();
        for secret in raw["Results"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["Secrets"].as_array().into_iter().flatten())
        {
            let matched = secret["Match"].as_str().unwrap();
            assert!(
                !json.contains(matched),
                "{file}: the matched text {matched:?} reached the facts"
            );
            for line in secret["Code"]["Lines"].as_array().into_iter().flatten() {
                let content = line["Content"].as_str().unwrap_or("");
                if content.len() > 8 {
                    assert!(
                        !json.contains(content),
                        "{file}: code line {content:?} reached the facts"
                    );
                }
            }
        }
        assert!(!facts.secrets.unwrap().is_empty(), "{file}");
    }
}
