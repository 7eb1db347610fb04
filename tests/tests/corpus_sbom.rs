//! CycloneDX and SPDX SBOMs from ../shared/corpus: package and vulnerability
//! counts match counts taken from the raw files.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;

use customs_facts::Facts;
use customs_facts::import::{Format, Origin, detect, import_file};
use customs_tests::{corpus_dir, corpus_files};
use serde_json::Value;

fn flatten<'a>(components: &'a [Value], out: &mut Vec<&'a Value>) {
    for c in components {
        out.push(c);
        flatten(c["components"].as_array().map_or(&[], Vec::as_slice), out);
    }
}

#[test]
fn every_cyclonedx_sbom_imports_with_matching_counts() {
    for file in [corpus_files("cyclonedx"), corpus_files("syft-cyclonedx")].concat() {
        let name = file.display().to_string();
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(
            detect(&Origin::file(&file), &bytes).unwrap(),
            Format::CycloneDx,
            "{name}"
        );
        let raw: Value = serde_json::from_slice(&bytes).unwrap();
        let facts = import_file(&file).unwrap_or_else(|e| panic!("{e}"));

        let mut components = Vec::new();
        flatten(
            raw["components"].as_array().map_or(&[], Vec::as_slice),
            &mut components,
        );
        let packages: Vec<&&Value> = components
            .iter()
            .filter(|c| !["operating-system", "file"].contains(&c["type"].as_str().unwrap_or("")))
            .collect();
        assert_eq!(
            facts.packages.as_ref().unwrap().len(),
            packages.len(),
            "{name}"
        );
        let refs: HashSet<&str> = packages
            .iter()
            .filter_map(|c| c["bom-ref"].as_str())
            .collect();

        let raw_vulns = raw["vulnerabilities"]
            .as_array()
            .map_or(&[][..], Vec::as_slice);
        let affected: usize = raw_vulns
            .iter()
            .flat_map(|v| v["affects"].as_array().into_iter().flatten())
            .filter(|a| refs.contains(a["ref"].as_str().unwrap()))
            .count();
        let dangling: usize = raw_vulns
            .iter()
            .flat_map(|v| v["affects"].as_array().into_iter().flatten())
            .filter(|a| !refs.contains(a["ref"].as_str().unwrap()))
            .count();
        assert_eq!(
            facts.vulnerabilities.as_ref().map_or(0, Vec::len),
            affected,
            "{name}"
        );
        let reported = facts.sources[0]
            .warnings
            .iter()
            .filter(|w| w.contains("which is no component"))
            .count();
        assert_eq!(
            reported, dangling,
            "{name}: every skipped affects entry is reported"
        );

        let is_container = raw["metadata"]["component"]["type"] == "container";
        assert!(is_container, "{name}: the corpus SBOMs are of images");
        let has_os = components.iter().any(|c| c["type"] == "operating-system");
        assert_eq!(
            facts.base.as_ref().and_then(|b| b.os.as_ref()).is_some(),
            has_os,
            "{name}"
        );
    }
}

#[test]
fn every_spdx_sbom_imports_with_matching_counts() {
    for file in [corpus_files("spdx"), corpus_files("syft-spdx")].concat() {
        let name = file.display().to_string();
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(
            detect(&Origin::file(&file), &bytes).unwrap(),
            Format::Spdx,
            "{name}"
        );
        let raw: Value = serde_json::from_slice(&bytes).unwrap();
        let facts = import_file(&file).unwrap_or_else(|e| panic!("{e}"));
        let raw_packages = raw["packages"].as_array().unwrap();
        let special = raw_packages
            .iter()
            .filter(|p| {
                let id = p["SPDXID"].as_str().unwrap();
                let purpose = p["primaryPackagePurpose"].as_str().unwrap_or("");
                let oci = p["externalRefs"].as_array().into_iter().flatten().any(|r| {
                    r["referenceType"] == "purl"
                        && r["referenceLocator"]
                            .as_str()
                            .unwrap()
                            .starts_with("pkg:oci/")
                });
                ["CONTAINER", "OPERATING-SYSTEM"].contains(&purpose)
                    || id.starts_with("SPDXRef-ContainerImage")
                    || id.starts_with("SPDXRef-DocumentRoot-Image")
                    || id.starts_with("SPDXRef-OperatingSystem")
                    || oci
            })
            .count();
        assert_eq!(
            facts.packages.as_ref().unwrap().len(),
            raw_packages.len() - special,
            "{name}"
        );
    }
}

#[test]
fn the_ubuntu_sbom_maps_in_detail() {
    let facts =
        import_file(&corpus_dir().join("cyclonedx/dd-trivy-0481-ubuntu-latest.cdx.json")).unwrap();
    assert_eq!(facts.image.reference.as_deref(), Some("ubuntu:latest"));
    assert_eq!(
        facts.image.digest.as_deref(),
        Some("sha256:6042500cf4b44023ea1894effe7890666b0c5c7871ed83a97c36c76ae560bb9b")
    );
    assert_eq!(
        facts.image.config_digest.as_deref(),
        Some("sha256:174c8c134b2a94b5bb0b37d9a2b6ba0663d82d23ebf62bd51f74a2fd457333da")
    );
    let adduser = facts
        .packages
        .as_ref()
        .unwrap()
        .iter()
        .find(|p| p.name == "adduser")
        .unwrap();
    assert_eq!(adduser.package_type, "deb");
    assert_eq!(adduser.licenses, ["GPL-2.0"]);
    assert_eq!(
        adduser.layer.as_deref(),
        Some("sha256:a486411936734b0d1d201c8a0ed8e9d449a64d5033fdc33411ec95bc26460efb")
    );
    let coreutils = facts
        .vulnerabilities
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.id == "CVE-2016-2781")
        .unwrap();
    assert_eq!(coreutils.package, "coreutils");
    assert_eq!(coreutils.cvss_score, Some(6.5));
    assert_eq!(coreutils.severity, customs_facts::Severity::Medium);
}

#[test]
fn an_sbom_and_a_scan_of_one_image_merge() {
    // Trivy's report and SBOM of centos-7 describe the same image (same reference).
    let merged = Facts::merge_all([
        import_file(&corpus_dir().join("trivy/centos-7.json")).unwrap(),
        import_file(&corpus_dir().join("cyclonedx/trivy-centos-7.cdx.json")).unwrap(),
    ])
    .unwrap();
    assert_eq!(
        merged.image.reference.as_deref(),
        Some("ghcr.io/aquasecurity/trivy-test-images:centos-7")
    );
    assert_eq!(merged.vulnerabilities.as_ref().unwrap().len(), 3);
    assert_eq!(merged.packages.as_ref().unwrap().len(), 2);
    assert_eq!(merged.sources.len(), 2);
}

#[test]
fn the_syft_json_sbom_imports_with_matching_counts() {
    let file = corpus_files("other")
        .into_iter()
        .find(|f| f.to_string_lossy().ends_with(".syft.json"))
        .unwrap();
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(
        detect(&Origin::file(&file), &bytes).unwrap(),
        Format::SyftJson
    );
    let raw: Value = serde_json::from_slice(&bytes).unwrap();
    let facts = import_file(&file).unwrap();
    let packages = facts.packages.as_ref().unwrap();
    assert_eq!(packages.len(), raw["artifacts"].as_array().unwrap().len());
    assert_eq!(
        facts.image.config_digest.as_deref(),
        raw["source"]["metadata"]["imageID"].as_str()
    );
    assert!(
        facts.user.as_ref().unwrap().is_root,
        "the embedded config sets no USER"
    );
    assert_eq!(
        facts.base.as_ref().unwrap().os.as_ref().unwrap().family,
        "alpine"
    );
    // busybox and apk-tools are in the image, so minimal-image has something to say.
    assert!(packages.iter().any(|p| p.name == "busybox"));
    assert!(
        packages
            .iter()
            .all(|p| p.package_type == "apk" && p.layer.is_some())
    );
}
