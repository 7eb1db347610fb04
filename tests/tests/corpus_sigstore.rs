//! cosign, DSSE/in-toto and Sigstore bundle inputs from ../shared/corpus/cosign:
//! only what a verifier verified counts, and only for the image it is about.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use customs::{EvalOptions, PolicyDecision, PreparedFacts};
use customs_facts::import::{Format, Origin, detect, import_as, import_file};
use customs_facts::{Facts, Trust};
use customs_tests::{baseline, corpus_dir, corpus_files, engine};

fn facts(path: &str) -> Facts {
    import_file(&corpus_dir().join(path)).unwrap_or_else(|e| panic!("{e}"))
}

fn rule(facts: Facts, rule: &str, params: &[(&str, &str)]) -> PolicyDecision {
    let mut bundle = baseline();
    for (k, v) in params {
        bundle.set_param(&format!("{rule}.{k}"), v).unwrap();
    }
    let decision = engine().evaluate(
        &bundle,
        &PreparedFacts::new(facts),
        &EvalOptions::at(1_795_000_000),
    );
    decision
        .policies
        .iter()
        .find(|p| p.name == rule)
        .unwrap()
        .decision
}

#[test]
fn every_cosign_corpus_file_is_detected_and_imported() {
    let expected = [
        (
            "cosign-oci-attestation.sigstore.json",
            Format::SigstoreBundle,
        ),
        (
            "cosign-readme-keyed-verify-output.json",
            Format::CosignVerify,
        ),
        (
            "guac-cosign-pr-demo-simplesigning-payload.json",
            Format::SimpleSigning,
        ),
        ("guac-cosign-verify-output.json", Format::CosignVerify),
        ("guac-oci-dsse-slsa-attestation.json", Format::DsseEnvelope),
        (
            "guac-visualizer-cosign-verify-output.json",
            Format::CosignVerify,
        ),
        ("sigstore-go-dsse.sigstore.json", Format::SigstoreBundle),
    ];
    let files = corpus_files("cosign");
    assert_eq!(files.len(), expected.len());
    for (file, (name, format)) in files.iter().zip(expected) {
        assert!(file.ends_with(name), "{}", file.display());
        let bytes = std::fs::read(file).unwrap();
        assert_eq!(
            detect(&Origin::file(file), &bytes).unwrap(),
            format,
            "{name}"
        );
        import_file(file).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn cosign_verify_output_is_a_verified_keyless_signature() {
    let guac = facts("cosign/guac-cosign-verify-output.json");
    assert_eq!(
        guac.image.digest.as_deref(),
        Some("sha256:57cacf2388a3bd9322db99d7acb861ab8aff6964bdbaba910547e9fc268a5480")
    );
    let signature = &guac.signatures.as_ref().unwrap()[0];
    assert!(signature.verified);
    // cosign's word, not a check customs made.
    assert_eq!(signature.trust, Trust::Reported);
    assert_eq!(signature.verified_by.as_deref(), Some("cosign verify"));
    assert_eq!(
        signature.issuer.as_deref(),
        Some("https://token.actions.githubusercontent.com")
    );
    assert_eq!(
        signature.subject.as_deref(),
        Some("https://github.com/guacsec/guac/.github/workflows/release.yaml@refs/tags/v0.3.0")
    );
    assert_eq!(signature.rekor_log_index, Some(42_879_042));

    // By default only what customs verified itself counts.
    assert_eq!(rule(guac.clone(), "signed", &[]), PolicyDecision::Deny);
    let accept = ("accept-reported", "true");
    assert_eq!(
        rule(guac.clone(), "signed", &[accept]),
        PolicyDecision::Allow
    );
    let ours = [
        ("identity", "https://github.com/guacsec/*"),
        ("issuer", "https://token.actions.githubusercontent.com"),
        accept,
    ];
    assert_eq!(rule(guac.clone(), "signed", &ours), PolicyDecision::Allow);
    assert_eq!(
        rule(
            guac,
            "signed",
            &[("identity", "https://github.com/someone-else/*"), accept]
        ),
        PolicyDecision::Deny
    );

    // A keyed verification has no identity, but verified.
    let keyed = facts("cosign/cosign-readme-keyed-verify-output.json");
    assert!(keyed.signatures.as_ref().unwrap()[0].verified);
    assert_eq!(keyed.signatures.as_ref().unwrap()[0].subject, None);
}

#[test]
fn a_payload_or_envelope_alone_is_not_verified() {
    let payload = facts("cosign/guac-cosign-pr-demo-simplesigning-payload.json");
    assert!(!payload.signatures.as_ref().unwrap()[0].verified);
    assert_eq!(rule(payload, "signed", &[]), PolicyDecision::Deny);

    let envelope = facts("cosign/guac-oci-dsse-slsa-attestation.json");
    let attestation = &envelope.attestations.as_ref().unwrap()[0];
    assert!(!attestation.verified);
    assert_eq!(
        attestation.predicate_type,
        "https://slsa.dev/provenance/v0.2"
    );
    assert_eq!(
        attestation.builder_id.as_deref(),
        Some("https://tekton.dev/chains/v2")
    );
    assert_eq!(
        attestation.build_type.as_deref(),
        Some("tekton.dev/v1beta1/TaskRun")
    );
    assert_eq!(rule(envelope, "provenance", &[]), PolicyDecision::Deny);
}

#[test]
fn verify_attestation_output_is_verified_when_named() {
    let path = corpus_dir().join("cosign/guac-oci-dsse-slsa-attestation.json");
    let line = std::fs::read_to_string(&path).unwrap();
    // cosign prints one envelope per line; two lines about one image.
    let output = format!("{}\n{}\n", line.trim(), line.trim());
    let verified = import_as(
        &Origin::named("att.json"),
        output.as_bytes(),
        Format::CosignVerifyAttestation,
    )
    .unwrap();
    let attestations = verified.attestations.as_ref().unwrap();
    assert_eq!(attestations.len(), 2);
    assert!(attestations.iter().all(|a| a.verified));
    assert!(attestations.iter().all(|a| a.trust == Trust::Reported));
    let tekton = ("builder-id", "https://tekton.dev/*");
    let accept = ("accept-reported", "true");
    assert_eq!(
        rule(verified.clone(), "provenance", &[tekton]),
        PolicyDecision::Deny
    );
    assert_eq!(
        rule(verified.clone(), "provenance", &[tekton, accept]),
        PolicyDecision::Allow
    );
    assert_eq!(
        rule(
            verified,
            "provenance",
            &[("builder-id", "https://github.com/*"), accept]
        ),
        PolicyDecision::Deny
    );
}

#[test]
fn attestations_about_no_image_are_left_out() {
    let npm = facts("cosign/sigstore-go-dsse.sigstore.json");
    assert_eq!(npm.attestations.as_deref(), Some(&[][..]));
    assert!(
        npm.sources[0]
            .warnings
            .iter()
            .any(|w| w.contains("about no container image"))
    );
}

#[test]
fn a_signature_of_another_image_does_not_merge() {
    let err = Facts::merge_all([
        facts("cosign/guac-cosign-verify-output.json"),
        facts("cosign/guac-visualizer-cosign-verify-output.json"),
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("image.digest"), "{err}");
    // Within one verify output, an entry about another digest is not counted.
    let a = std::fs::read_to_string(corpus_dir().join("cosign/guac-cosign-verify-output.json"))
        .unwrap();
    let b = std::fs::read_to_string(
        corpus_dir().join("cosign/guac-visualizer-cosign-verify-output.json"),
    )
    .unwrap();
    let both = format!(
        "[{},{}]",
        a.trim().trim_start_matches('[').trim_end_matches(']'),
        b.trim().trim_start_matches('[').trim_end_matches(']')
    );
    let mixed = import_as(
        &Origin::named("mixed.json"),
        both.as_bytes(),
        Format::CosignVerify,
    )
    .unwrap();
    assert_eq!(mixed.signatures.as_ref().unwrap().len(), 1);
    assert!(
        mixed.sources[0]
            .warnings
            .iter()
            .any(|w| w.contains("ignored a signature or attestation"))
    );
}

#[test]
fn no_input_can_claim_that_customs_verified_it() {
    // A facts document (or a hand-written one) saying `trust: verified`.
    let mut facts = facts("cosign/guac-cosign-verify-output.json");
    for signature in facts.signatures.iter_mut().flatten() {
        signature.trust = Trust::Verified;
    }
    facts.attestations = Some(vec![customs_facts::Attestation {
        predicate_type: "https://slsa.dev/provenance/v1".into(),
        verified: true,
        trust: Trust::Verified,
        ..Default::default()
    }]);
    let document = serde_json::to_vec(&facts).unwrap();
    assert!(String::from_utf8_lossy(&document).contains(r#""trust":"verified""#));
    let read = import_as(
        &Origin::named("facts.json"),
        &document,
        Format::CustomsFacts,
    )
    .unwrap();
    let trusts: Vec<Trust> = read
        .signatures
        .iter()
        .flatten()
        .map(|s| s.trust)
        .chain(read.attestations.iter().flatten().map(|a| a.trust))
        .collect();
    assert_eq!(trusts, [Trust::Reported, Trust::Reported]);
    let warnings: Vec<&String> = read.sources.iter().flat_map(|s| &s.warnings).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("2 signature(s) or attestation(s) claimed trust \"verified\"")),
        "{warnings:?}"
    );
    // Without the field, a claim is reported too (older facts documents).
    let mut value = serde_json::to_value(&facts).unwrap();
    value["signatures"][0]
        .as_object_mut()
        .unwrap()
        .remove("trust");
    let read = import_as(
        &Origin::named("facts.json"),
        &serde_json::to_vec(&value).unwrap(),
        Format::CustomsFacts,
    )
    .unwrap();
    assert_eq!(read.signatures.unwrap()[0].trust, Trust::Reported);
}
