//! In-toto attestations whose predicate is a tool output (an SBOM, a VEX
//! document, a scanner report) give the facts that output gives when it is
//! read directly; the predicates are corpus files, wrapped in a statement
//! about one image as `cosign attest --type ...` wraps them.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use assert_cmd::Command;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use customs_facts::Facts;
use customs_facts::import::{Format, Origin, import_as, import_file};
use customs_tests::corpus_dir;
use serde_json::{Value, json};

const IMAGE: &str = "sha256:5d6e1f3a0b2c4d6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6";

fn corpus_json(path: &str) -> Value {
    serde_json::from_slice(&std::fs::read(corpus_dir().join(path)).unwrap()).unwrap()
}

/// A DSSE envelope (as stored in an OCI `.att` layer) of a statement about
/// `IMAGE` with this predicate. Import does not check the signature.
fn envelope(predicate_type: &str, predicate: Value) -> Vec<u8> {
    envelope_about(IMAGE, predicate_type, predicate)
}

fn envelope_about(image: &str, predicate_type: &str, predicate: Value) -> Vec<u8> {
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{"name": "registry.example/app", "digest": {"sha256": &image[7..]}}],
        "predicate": predicate,
    });
    serde_json::to_vec(&json!({
        "payloadType": "application/vnd.in-toto+json",
        "payload": STANDARD.encode(serde_json::to_vec(&statement).unwrap()),
        "signatures": [{"keyid": "", "sig": "AAAA"}],
    }))
    .unwrap()
}

fn import(envelope: &[u8]) -> Facts {
    import_as(&Origin::named("att.json"), envelope, Format::DsseEnvelope)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn package_keys(facts: &Facts) -> Vec<(String, String)> {
    let mut keys: Vec<_> = facts
        .packages
        .iter()
        .flatten()
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect();
    keys.sort();
    keys
}

#[test]
fn sbom_predicates_give_the_packages_of_the_sbom() {
    for (path, predicate_type) in [
        (
            "cyclonedx/trivy-centos-7.cdx.json",
            "https://cyclonedx.org/bom",
        ),
        ("spdx/trivy-centos-7.spdx.json", "https://spdx.dev/Document"),
        (
            "cyclonedx/dd-trivy-0481-ubuntu-latest.cdx.json",
            "https://cyclonedx.org/bom/v1.4",
        ),
    ] {
        let direct = import_file(&corpus_dir().join(path)).unwrap();
        // The statement is about the image the SBOM describes, if it says.
        let image = direct.image.digest.as_deref().unwrap_or(IMAGE);
        let attested = import(&envelope_about(image, predicate_type, corpus_json(path)));
        assert!(!package_keys(&direct).is_empty(), "{path}");
        assert_eq!(package_keys(&attested), package_keys(&direct), "{path}");
        assert_eq!(attested.image.digest.as_deref(), Some(image));
        let attestation = &attested.attestations.as_ref().unwrap()[0];
        assert_eq!(attestation.predicate_type, predicate_type);
        // The source says where the packages came from.
        assert!(
            attested
                .sources
                .iter()
                .any(|s| s.file.as_deref().unwrap().contains(predicate_type)),
            "{path}: {:?}",
            attested.sources
        );
    }
}

#[test]
fn an_sbom_of_another_image_is_not_merged() {
    let path = "cyclonedx/dd-trivy-0481-ubuntu-latest.cdx.json";
    let direct = import_file(&corpus_dir().join(path)).unwrap();
    let own = direct
        .image
        .digest
        .clone()
        .expect("the SBOM names its image");
    let attested = import(&envelope("https://cyclonedx.org/bom", corpus_json(path)));
    assert!(attested.packages.is_none());
    assert_eq!(attested.image.digest.as_deref(), Some(IMAGE));
    let said = attested.import_warnings();
    assert!(
        said.iter()
            .any(|w| w.contains("predicate was not read") && w.contains(&own)),
        "{said:?}"
    );
}

#[test]
fn a_cosign_vuln_predicate_gives_the_scanners_vulnerabilities() {
    let path = "trivy/centos-7.json";
    let direct = import_file(&corpus_dir().join(path)).unwrap();
    let predicate = json!({
        "invocation": {"uri": "", "event_id": "", "builder.id": ""},
        "scanner": {"uri": "pkg:github/aquasecurity/trivy", "version": "0.19.2",
                    "db": {"uri": "", "version": ""}, "result": corpus_json(path)},
        "metadata": {"scanStartedOn": "2021-08-25T12:20:30Z", "scanFinishedOn": "2021-08-25T12:20:31Z"},
    });
    let attested = import(&envelope(
        "https://cosign.sigstore.dev/attestation/vuln/v1",
        predicate,
    ));
    let ids = |facts: &Facts| {
        let mut ids: Vec<String> = facts
            .vulnerabilities
            .iter()
            .flatten()
            .map(|v| format!("{} {}", v.id, v.package))
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&attested).len(), 3);
    assert_eq!(ids(&attested), ids(&direct));
    assert!(attested.sources.iter().any(|s| s.tool == "trivy"));
}

#[test]
fn a_predicate_customs_cannot_read_is_a_warning_and_the_attestation_stays() {
    // The real predicate of policy-controller's vector: Trivy's SARIF.
    let statement = {
        let dsse = corpus_json(
            "verify/in-toto/policy-controller-cosign-vuln-tampered/attestation.dsse.json",
        );
        let payload = STANDARD.decode(dsse["payload"].as_str().unwrap()).unwrap();
        serde_json::from_slice::<Value>(&payload).unwrap()
    };
    let attested = import(&envelope(
        statement["predicateType"].as_str().unwrap(),
        statement["predicate"].clone(),
    ));
    assert_eq!(attested.attestations.as_ref().unwrap().len(), 1);
    assert!(attested.vulnerabilities.is_none());
    assert!(
        attested
            .import_warnings()
            .iter()
            .any(|w| w.contains("predicate was not read")),
        "{:?}",
        attested.import_warnings()
    );
    // A predicate of the right type that is not that document.
    let broken = import(&envelope(
        "https://cyclonedx.org/bom",
        json!({"not": "a bom"}),
    ));
    assert!(broken.packages.is_none());
    assert_eq!(broken.attestations.as_ref().unwrap().len(), 1);
    assert!(
        broken
            .import_warnings()
            .iter()
            .any(|w| w.contains("predicate was not read"))
    );
}

#[test]
fn an_openvex_predicate_applies_to_the_vulnerabilities_of_the_image() {
    let scan = import_file(&corpus_dir().join("trivy/centos-7.json")).unwrap();
    let vex = json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/1",
        "author": "release team",
        "timestamp": "2024-01-01T00:00:00Z",
        "version": 1,
        "statements": [{
            "vulnerability": {"name": "CVE-2019-18276"},
            "products": [{"@id": format!("pkg:oci/app@{}", IMAGE.replace(':', "%3A"))}],
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path",
        }],
    });
    let attested = import(&envelope("https://openvex.dev/ns/v0.2.0", vex));
    assert_eq!(attested.vex.len(), 1);
    let merged = Facts::merge_all([scan, attested]).unwrap();
    let bash = merged
        .vulnerabilities
        .iter()
        .flatten()
        .find(|v| v.id == "CVE-2019-18276")
        .unwrap();
    assert!(bash.is_vex_suppressed(), "{bash:?}");
    assert!(merged.unmatched_vex().is_empty());
}

#[test]
fn customs_facts_reads_an_sbom_attestation_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sbom.att.json");
    let sbom = "cyclonedx/trivy-centos-7.cdx.json";
    std::fs::write(
        &path,
        envelope("https://cyclonedx.org/bom", corpus_json(sbom)),
    )
    .unwrap();
    let output = Command::cargo_bin("customs")
        .unwrap()
        .arg("facts")
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let facts: Value = serde_json::from_slice(&output.stdout).unwrap();
    let direct = import_file(&corpus_dir().join(sbom)).unwrap();
    assert_eq!(
        facts["packages"].as_array().unwrap().len(),
        direct.packages.as_ref().unwrap().len()
    );
    assert_eq!(facts["image"]["digest"], IMAGE);
}
