//! The Grype importer on every real report in ../shared/corpus/grype.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use customs_facts::import::{Format, Origin, detect, import_file};
use customs_facts::{Facts, FixState, Severity};
use customs_tests::{corpus_dir, corpus_files};
use serde_json::Value;

#[test]
fn every_grype_report_imports_with_matching_counts() {
    for file in corpus_files("grype") {
        let name = file.display().to_string();
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(
            detect(&Origin::file(&file), &bytes).unwrap(),
            Format::GrypeJson,
            "{name}"
        );
        let raw: Value = serde_json::from_slice(&bytes).unwrap();
        let facts = import_file(&file).unwrap_or_else(|e| panic!("{e}"));

        // One vulnerability per (CVE, package, version), in the order of
        // first appearance: Grype lists a package found at two paths twice.
        let mut unique: Vec<(&str, &str, &str, std::collections::BTreeSet<&str>)> = Vec::new();
        for m in raw["matches"].as_array().unwrap() {
            let key = (
                m["vulnerability"]["id"].as_str().unwrap(),
                m["artifact"]["name"].as_str().unwrap(),
                m["artifact"]["version"].as_str().unwrap_or_default(),
            );
            let fixes = m["vulnerability"]["fix"]["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str);
            match unique.iter_mut().find(|u| (u.0, u.1, u.2) == key) {
                Some(seen) => seen.3.extend(fixes),
                None => unique.push((key.0, key.1, key.2, fixes.collect())),
            }
        }
        let vulns = facts.vulnerabilities.as_ref().unwrap();
        assert_eq!(vulns.len(), unique.len(), "{name}");
        for (v, (id, package, _, fixes)) in vulns.iter().zip(&unique) {
            assert_eq!(v.id, *id, "{name}");
            assert_eq!(v.package, *package, "{name}");
            assert_eq!(v.sources, ["grype"]);
            assert_eq!(v.fixed_versions.len(), fixes.len(), "{name}: {}", v.id);
        }

        let is_image = raw["source"]["type"] == "image";
        let warnings = &facts.sources[0].warnings;
        assert_eq!(
            warnings
                .iter()
                .any(|w| w.contains("not of a container image")),
            !is_image,
            "{name}"
        );
        if is_image && let Some(config) = raw["source"]["target"]["config"].as_str() {
            let config: Value = serde_json::from_slice(
                &base64::engine::general_purpose::STANDARD
                    .decode(config)
                    .unwrap(),
            )
            .unwrap();
            let user = config["config"]["User"].as_str().unwrap_or("");
            assert_eq!(facts.user.as_ref().unwrap().name, user, "{name}");
            assert_eq!(
                facts.image.created.as_deref(),
                config["created"].as_str(),
                "{name}"
            );
        }
        let distro = raw["distro"]["name"].as_str().unwrap_or("");
        assert_eq!(
            facts
                .base
                .as_ref()
                .and_then(|b| b.os.as_ref())
                .map(|o| o.family.as_str()),
            Some(distro).filter(|d| !d.is_empty()),
            "{name}"
        );
    }
}

#[test]
fn redhat_report_maps_in_detail() {
    let facts =
        import_file(&corpus_dir().join("grype/dd-redhat-87-xjoin-kafka-connect.json")).unwrap();
    assert_eq!(
        facts.image.reference.as_deref(),
        Some("quay.io/cloudservices/xjoin-kafka-connect-strimzi:latest")
    );
    assert_eq!(facts.image.registry.as_deref(), Some("quay.io"));
    assert_eq!(
        facts.image.digest.as_deref(),
        Some("sha256:97e6d5aeed19f627205b218f45b284cd01ff658dd181416ab1d3e21aeb28d68e")
    );
    assert_eq!(
        facts.image.labels.get("vendor").map(String::as_str),
        Some("Red Hat, Inc.")
    );
    let user = facts.user.as_ref().unwrap();
    assert_eq!((user.uid, user.is_root), (Some(1001), false));
    let os = facts.base.as_ref().unwrap().os.as_ref().unwrap();
    assert_eq!(
        (os.family.as_str(), os.version.as_str(), os.eol.as_deref()),
        ("redhat", "8.7", Some("2029-05-31"))
    );
    let v = &facts.vulnerabilities.as_ref().unwrap()[0];
    assert_eq!(
        (
            v.id.as_str(),
            v.package.as_str(),
            v.package_version.as_str()
        ),
        ("CVE-2023-38473", "avahi-libs", "0.7-20.el8")
    );
    assert_eq!(v.severity, Severity::Medium);
    assert_eq!(v.fix_state, FixState::Fixed);
    assert_eq!(v.fixed_versions, ["0:0.7-21.el8_9.1"]);
    assert_eq!(v.cvss_score, Some(6.2));
    assert_eq!(v.package_type.as_deref(), Some("rpm"));
    assert!(v.layer.as_deref().is_some_and(|l| l.starts_with("sha256:")));
    assert!(facts.history.as_ref().is_some_and(|h| !h.is_empty()));
}

#[test]
fn a_malformed_digest_is_reported_not_kept() {
    let facts = import_file(&corpus_dir().join("grype/dd-debian-10-same-cve-different-paths.json"))
        .unwrap();
    assert_eq!(facts.image.digest, None);
    assert!(
        facts.sources[0]
            .warnings
            .iter()
            .any(|w| w.contains("ignored manifestDigest \"sha256:test\""))
    );
}

#[test]
fn one_cve_of_one_package_found_at_two_paths_is_one_vulnerability() {
    let facts = import_file(&corpus_dir().join("grype/dd-debian-10-same-cve-different-paths.json"))
        .unwrap();
    let found: Vec<_> = facts
        .vulnerabilities
        .as_ref()
        .unwrap()
        .iter()
        .filter(|v| v.id == "CVE-2021-33574")
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].locations,
        [
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "/lib/x86_64-linux-gnu/libc.so.6"
        ]
    );
    assert_eq!(found[0].package, "libc6");
}

#[test]
fn trivy_and_grype_about_different_images_do_not_merge() {
    let trivy = import_file(&corpus_dir().join("trivy/dd-debian-1013-statuses.json")).unwrap();
    let grype =
        import_file(&corpus_dir().join("grype/dd-redhat-87-xjoin-kafka-connect.json")).unwrap();
    let mut trivy_with_digest = trivy.clone();
    trivy_with_digest.image.digest = Some(format!("sha256:{}", "a".repeat(64)));
    let err = Facts::merge_all([trivy_with_digest, grype])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the inputs describe different images: image.digest"),
        "{err}"
    );
}

#[test]
fn two_scanners_on_one_image_merge_into_one_truth() {
    // The same report twice, as two tools would see one image: no duplicate findings.
    let path = corpus_dir().join("grype/dd-debian-10-vulnerable-image.json");
    let once = import_file(&path).unwrap();
    let merged =
        Facts::merge_all([import_file(&path).unwrap(), import_file(&path).unwrap()]).unwrap();
    assert_eq!(
        merged.vulnerabilities.as_ref().unwrap().len(),
        once.vulnerabilities.as_ref().unwrap().len()
    );
    assert_eq!(merged.sources.len(), 2);
}
