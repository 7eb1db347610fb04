//! The Sigstore bundles of `../shared/corpus/verify/sigstore-bundle` (see
//! its SOURCES.md and INDEX.json for each one's origin and expected
//! outcome), and the bundles of `../shared/corpus/verify/{in-toto,cosign}`:
//! every bundle (message signatures and DSSE envelopes, keyless or with the
//! case's key, logged in Rekor v1 or v2, with or without RFC 3161
//! timestamps) is verified or refused by the check that should refuse it.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use customs_verify::bundle::Material;
use customs_verify::{
    Bundle, Check, Error, Identity, Policy, PublicKey, Signed, Signer, TrustedRoot, VerifiedBundle,
    sha256_digest, verify_bundle,
};

/// A file of the corpus (`CUSTOMS_CORPUS`, as the other corpus tests read it).
fn vector(path: &str) -> PathBuf {
    std::env::var_os("CUSTOMS_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"))
        .join("verify/sigstore-bundle")
        .join(path)
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(vector(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The identity sigstore-conformance verifies with when a case names none.
const CONFORMANCE_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const CONFORMANCE_ISSUER: &str = "https://token.actions.githubusercontent.com";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Verified,
    Unreadable,
    Refused(Check),
}

use Expect::{Refused, Unreadable, Verified};

/// Every bundle of the corpus, and how it ends.
const CASES: &[(&str, Expect)] = &[
    (
        "conformance-bundle-empty-certificate-chain_fail",
        Unreadable,
    ),
    // A staging bundle: its log is not one of the production root's.
    (
        "conformance-bundle-from-wrong-instance_fail",
        Refused(Check::TransparencyLog),
    ),
    (
        "conformance-bundle-invalid-base64-signature_fail",
        Unreadable,
    ),
    ("conformance-bundle-malformed-json_fail", Unreadable),
    ("conformance-bundle-unknown-version_fail", Unreadable),
    (
        "conformance-checkpoint-bad-keyhint_fail",
        Refused(Check::TransparencyLog),
    ),
    (
        "conformance-dsse-invalid-sig_fail",
        Refused(Check::Signature),
    ),
    // The envelope verifies, but the log entry is of another one.
    (
        "conformance-dsse-mismatch-envelope_fail",
        Refused(Check::TransparencyLog),
    ),
    ("conformance-happy-path-intoto-in-dsse-v3", Verified),
    ("conformance-happy-path-v0.1", Verified),
    ("conformance-happy-path-v0.3", Verified),
    // The body's key changed: the log never signed this body.
    (
        "conformance-incorrect-public-key_fail",
        Refused(Check::TransparencyLog),
    ),
    (
        "conformance-integrated-time-in-future_fail",
        Refused(Check::Timestamp),
    ),
    // Logged in 2023 with a certificate valid only in 2030.
    (
        "conformance-intoto-expired-certificate_fail",
        Refused(Check::Timestamp),
    ),
    (
        "conformance-intoto-log-entry-mismatch_fail",
        Refused(Check::TransparencyLog),
    ),
    (
        "conformance-intoto-missing-inclusion-proof_fail",
        Refused(Check::TransparencyLog),
    ),
    (
        "conformance-invalid-checkpoint-signature_fail",
        Refused(Check::TransparencyLog),
    ),
    (
        "conformance-invalid-ct-key_fail",
        Refused(Check::CertificateTransparency),
    ),
    (
        "conformance-invalid-inclusion-proof_fail",
        Refused(Check::TransparencyLog),
    ),
    // With its key.pub; its RFC 3161 timestamp is not read (see verify_bundle).
    ("conformance-managed-key-happy-path", Verified),
    // The same bundle, and no key given: the identity policy cannot take it.
    (
        "conformance-managed-key-no-key_fail",
        Refused(Check::Identity),
    ),
    (
        "conformance-signature-mismatch_fail",
        Refused(Check::Signature),
    ),
    (
        "conformance-trust-root-tlog-validity-end-inclusive",
        Verified,
    ),
    (
        "conformance-wrong-hashedrekord-artifact_fail",
        Refused(Check::TransparencyLog),
    ),
    (
        "conformance-wrong-hashedrekord-cert-and-sig_fail",
        Refused(Check::TransparencyLog),
    ),
    (
        "conformance-wrong-material_fail",
        Refused(Check::ArtifactDigest),
    ),
    ("sigstore-go-othername-san", Verified),
    ("sigstore-python-bundle-v0.1-staging", Verified),
    ("sigstore-python-bundle-v0.3-staging", Verified),
    ("sigstore-python-invalid-media-type", Unreadable),
    ("sigstore-python-empty-cert-chain-v0.1", Unreadable),
    (
        "sigstore-python-v0.2-no-checkpoint-staging",
        Refused(Check::TransparencyLog),
    ),
    ("sigstore-python-github-actions-wheel", Verified),
    // Rekor v2 entries (no integrated time: the RFC 3161 timestamp is the
    // signed time) and RFC 3161 timestamps beside certificates and keys.
    ("conformance-bundle-with-sct-with-extensions", Verified),
    (
        "conformance-intoto-tsa-timestamp-outside-cert-validity_fail",
        Refused(Check::Timestamp),
    ),
    ("conformance-intoto-with-custom-trust-root", Verified),
    ("conformance-rekor2-checkpoint-cosigned", Verified),
    (
        "conformance-rekor2-checkpoint-missing-log-signature_fail",
        Refused(Check::TransparencyLog),
    ),
    (
        "conformance-rekor2-checkpoint-missing-origin_fail",
        Refused(Check::TransparencyLog),
    ),
    (
        "conformance-rekor2-checkpoint-missing-size_fail",
        Refused(Check::TransparencyLog),
    ),
    ("conformance-rekor2-checkpoint-multiple-cosigs", Verified),
    (
        "conformance-rekor2-checkpoint-no-matching-signature_fail",
        Refused(Check::TransparencyLog),
    ),
    (
        "conformance-rekor2-checkpoint-two-sigs-from-origin",
        Verified,
    ),
    ("conformance-rekor2-dsse-happy-path", Verified),
    (
        "conformance-rekor2-dsse-invalid-sig_fail",
        Refused(Check::Signature),
    ),
    (
        "conformance-rekor2-dsse-mismatch-sig_fail",
        Refused(Check::TransparencyLog),
    ),
    ("conformance-rekor2-happy-path", Verified),
    (
        "conformance-rekor2-no-inclusion-proof_fail",
        Refused(Check::TransparencyLog),
    ),
    (
        "conformance-rekor2-no-timestamp_fail",
        Refused(Check::Timestamp),
    ),
    (
        "conformance-rekor2-timestamp-outside-trust-root-tsa-validity_fail",
        Refused(Check::Timestamp),
    ),
    (
        "conformance-rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail",
        Refused(Check::Timestamp),
    ),
    ("conformance-rekor2-timestamp-with-embedded-cert", Verified),
    (
        "conformance-rekor2-timestamp-with-incorrect-time_fail",
        Refused(Check::Timestamp),
    ),
    // No log entry: a key and a timestamp.
    ("sigstore-go-public-key-with-tsa", Verified),
];

/// The identity each case is verified for: its `identity`/`issuer` files,
/// else what its source verified with (INDEX.json), else the conformance default.
fn identity(case: &str) -> Identity {
    let file = |name: &str| {
        std::fs::read_to_string(vector(&format!("{case}/{name}")))
            .ok()
            .map(|text| text.trim().to_owned())
    };
    let (identity, issuer) = match case {
        "sigstore-go-othername-san" => ("foo!oidc.local", "http://oidc.local:8080"),
        "sigstore-python-bundle-v0.1-staging" => ("a@tny.town", "https://github.com/login/oauth"),
        "sigstore-python-bundle-v0.3-staging" | "sigstore-python-v0.2-no-checkpoint-staging" => {
            ("william@yossarian.net", "https://github.com/login/oauth")
        }
        "sigstore-python-github-actions-wheel" => (
            "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2",
            CONFORMANCE_ISSUER,
        ),
        _ => (CONFORMANCE_IDENTITY, CONFORMANCE_ISSUER),
    };
    Identity {
        identity: file("identity").unwrap_or_else(|| identity.to_owned()),
        issuer: file("issuer").unwrap_or_else(|| issuer.to_owned()),
    }
}

/// The digest of the case's artifact (sigstore-go's othername case gives only the digest).
fn artifact_digest(case: &str) -> String {
    match std::fs::read(vector(&format!("{case}/artifact"))) {
        Ok(artifact) => sha256_digest(&artifact),
        Err(_) if case == "sigstore-go-othername-san" => {
            "sha256:bc103b4a84971ef6459b294a2b98568a2bfb72cded09d4acd1e16366a401f95b".to_owned()
        }
        Err(_) => format!("sha256:{}", "0".repeat(64)),
    }
}

fn root(case: &str) -> TrustedRoot {
    TrustedRoot::from_json(
        "trusted_root.json",
        &read(&format!("{case}/trusted_root.json")),
    )
    .unwrap_or_else(|e| panic!("{case}: {e}"))
}

/// The case's key (`key.pub` or `key.pem`) when it has one, else its identity.
fn policy(case: &str) -> Policy {
    for name in ["key.pub", "key.pem"] {
        if let Ok(pem) = std::fs::read(vector(&format!("{case}/{name}"))) {
            return Policy::Key(PublicKey::from_pem(name, &pem).unwrap());
        }
    }
    Policy::Identity(identity(case))
}

fn verify_case(case: &str) -> Result<VerifiedBundle, Error> {
    let bundle = Bundle::from_json(
        "bundle.sigstore.json",
        &read(&format!("{case}/bundle.sigstore.json")),
    )?;
    verify_bundle(&bundle, &artifact_digest(case), &policy(case), &root(case))
}

fn outcome(result: &Result<VerifiedBundle, Error>) -> Expect {
    match result {
        Ok(_) => Verified,
        Err(Error::Unreadable { .. }) => Unreadable,
        Err(Error::Refused { check, .. }) => Refused(*check),
    }
}

#[test]
fn every_bundle_verifies_or_is_refused_by_its_check() {
    let mut wrong = Vec::new();
    for (case, expected) in CASES {
        let result = verify_case(case);
        if std::env::var_os("CUSTOMS_SHOW_OUTCOMES").is_some() {
            eprintln!("{case}: {result:?}");
        }
        if outcome(&result) != *expected {
            wrong.push(format!("{case}: expected {expected:?}, got {result:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_lists_cover_every_bundle_of_the_corpus() {
    let mut listed: Vec<&str> = CASES.iter().map(|(case, _)| *case).collect();
    listed.sort_unstable();
    let mut present: Vec<String> = std::fs::read_dir(vector(""))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| vector(name).is_dir())
        .collect();
    present.sort_unstable();
    assert_eq!(listed, present);
}

#[test]
fn a_verified_bundle_reports_its_signed_times() {
    let verified = verify_case("conformance-happy-path-v0.1").unwrap();
    let Signer::Certificate {
        identity,
        issuer,
        not_before,
        not_after,
    } = &verified.signer
    else {
        panic!("{verified:?}");
    };
    assert_eq!(identity, CONFORMANCE_IDENTITY);
    assert_eq!(issuer, CONFORMANCE_ISSUER);
    assert_eq!(verified.signed, Signed::MessageSignature);
    assert_eq!(
        verified.artifact_digest,
        artifact_digest("conformance-happy-path-v0.1")
    );
    assert_eq!(verified.log_index, Some(27246492));
    let integrated = verified.integrated_time.unwrap();
    assert_eq!(integrated.timestamp(), 1689177396);
    assert!(*not_before <= integrated);
    assert!(integrated <= *not_after);
    assert!(verified.timestamps.is_empty());
    assert_eq!(verified.signed_times(), vec![integrated]);
}

fn refused_by<T: std::fmt::Debug>(result: Result<T, Error>, expected: Check) -> String {
    match result {
        Err(Error::Refused { check, reason }) if check == expected => reason,
        other => panic!("expected a refusal by the {expected} check, got {other:?}"),
    }
}

#[test]
fn another_identity_or_issuer_is_refused() {
    let case = "conformance-happy-path-v0.3";
    let bundle = Bundle::from_json("b", &read(&format!("{case}/bundle.sigstore.json"))).unwrap();
    let digest = artifact_digest(case);
    let root = root(case);
    let identity = identity(case);
    let policy = Policy::Identity(identity.clone());
    let mut other = identity.clone();
    other.identity.push('x');
    let reason = refused_by(
        verify_bundle(&bundle, &digest, &other.into(), &root),
        Check::Identity,
    );
    assert!(reason.contains(CONFORMANCE_IDENTITY), "{reason}");
    let mut other = identity;
    other.issuer = "https://accounts.google.com".into();
    refused_by(
        verify_bundle(&bundle, &digest, &other.into(), &root),
        Check::Identity,
    );
    // The artifact decided is another one.
    refused_by(
        verify_bundle(&bundle, &sha256_digest(b"other"), &policy, &root),
        Check::ArtifactDigest,
    );

    // sigstore-go's negative case: the otherName read as an email.
    let case = "sigstore-go-othername-san";
    let bundle = Bundle::from_json("b", &read(&format!("{case}/bundle.sigstore.json"))).unwrap();
    let policy = Policy::Identity(Identity {
        identity: "foo@oidc.local".into(),
        issuer: "http://oidc.local:8080".into(),
    });
    refused_by(
        verify_bundle(&bundle, &artifact_digest(case), &policy, &self::root(case)),
        Check::Identity,
    );
}

#[test]
fn a_trust_root_of_another_instance_refuses_the_certificate() {
    // A production bundle against the staging root: its log is unknown there.
    let bundle = Bundle::from_json(
        "b",
        &read("conformance-happy-path-v0.1/bundle.sigstore.json"),
    )
    .unwrap();
    let staging = root("sigstore-python-bundle-v0.1-staging");
    let digest = artifact_digest("conformance-happy-path-v0.1");
    let policy = policy("conformance-happy-path-v0.1");
    refused_by(
        verify_bundle(&bundle, &digest, &policy, &staging),
        Check::TransparencyLog,
    );
    // With the staging logs trusted too, the certificate still is not.
    let mut mixed = staging.clone();
    mixed
        .tlogs
        .extend(root("conformance-happy-path-v0.1").tlogs);
    let reason = refused_by(
        verify_bundle(&bundle, &digest, &policy, &mixed),
        Check::Certificate,
    );
    assert!(reason.contains("no certificate authority"), "{reason}");
}

#[test]
fn bundles_and_trust_roots_read_their_variants() {
    let bundle = Bundle::from_json(
        "b",
        &read("sigstore-python-bundle-v0.3-staging/bundle.sigstore.json"),
    )
    .unwrap();
    assert!(matches!(bundle.material, Material::Certificate(_)));
    // Explicit nulls and 6-digit fractions of seconds.
    let root = root("conformance-trust-root-tlog-validity-end-inclusive");
    assert_eq!(root.tlogs.len(), 2);
    assert_eq!(root.ctlogs.len(), 2);
    assert_eq!(root.certificate_authorities.len(), 2);
    assert_eq!(root.timestamp_authorities.len(), 1);
    assert!(root.tlogs[1].valid_for.end.is_none());
    // A PKCS#1 RSA log key.
    let staging = self::root("conformance-invalid-ct-key_fail");
    assert_eq!(
        staging.ctlogs[0].key.algorithm(),
        customs_verify::KeyAlgorithm::Rsa
    );
    let error = TrustedRoot::from_json("r.json", br#"{"mediaType":"x"}"#).unwrap_err();
    assert!(
        error.to_string().starts_with("r.json: media type"),
        "{error}"
    );
    let error = Bundle::from_json("b.json", b"{").unwrap_err();
    assert!(error.to_string().starts_with("b.json: not JSON"), "{error}");
}

#[test]
fn trust_root_windows_and_keys_are_checked_at_the_signing_time() {
    let case = "conformance-happy-path-v0.1";
    let bundle = Bundle::from_json("b", &read(&format!("{case}/bundle.sigstore.json"))).unwrap();
    let digest = artifact_digest(case);
    let policy = policy(case);
    let trusted = root(case);
    let signed = verify_case(case).unwrap().integrated_time.unwrap();
    let before = signed - chrono::Duration::seconds(1);

    // The log's key retired a second before the entry.
    let mut root = trusted.clone();
    for log in &mut root.tlogs {
        log.valid_for.end = Some(before);
    }
    let reason = refused_by(
        verify_bundle(&bundle, &digest, &policy, &root),
        Check::TransparencyLog,
    );
    assert!(reason.contains("not trusted"), "{reason}");

    // The certificate authorities' windows closed before the signing.
    let mut root = trusted.clone();
    for authority in &mut root.certificate_authorities {
        authority.valid_for.end = Some(before);
    }
    refused_by(
        verify_bundle(&bundle, &digest, &policy, &root),
        Check::Certificate,
    );

    // The CT log that signed the SCT, with another key under its id.
    let mut root = trusted.clone();
    let other_key = root.tlogs[0].key.clone();
    for log in &mut root.ctlogs {
        log.key = other_key.clone();
    }
    let reason = refused_by(
        verify_bundle(&bundle, &digest, &policy, &root),
        Check::CertificateTransparency,
    );
    assert!(reason.contains("does not verify"), "{reason}");

    // The SCT dated outside its log's window.
    let mut root = trusted.clone();
    for log in &mut root.ctlogs {
        log.valid_for.end = Some(before - chrono::Duration::days(1));
    }
    refused_by(
        verify_bundle(&bundle, &digest, &policy, &root),
        Check::CertificateTransparency,
    );

    // Without CT logs in the root there is nothing to check SCTs against.
    let mut root = trusted;
    root.ctlogs.clear();
    verify_bundle(&bundle, &digest, &policy, &root).unwrap();
}

#[test]
fn a_tampered_log_entry_is_refused() {
    let case = "conformance-happy-path-v0.3";
    let original = Bundle::from_json("b", &read(&format!("{case}/bundle.sigstore.json"))).unwrap();
    let digest = artifact_digest(case);
    let policy = policy(case);
    let root = root(case);
    let check = |bundle: &Bundle| verify_bundle(bundle, &digest, &policy, &root);
    check(&original).unwrap();

    // Another integrated time: the signed entry timestamp no longer covers it.
    let mut bundle = original.clone();
    bundle.tlog_entries[0].integrated_time += 1;
    refused_by(check(&bundle), Check::TransparencyLog);
    // One proof hash changed.
    let mut bundle = original.clone();
    let proof = bundle.tlog_entries[0].inclusion_proof.as_mut().unwrap();
    proof.hashes[0][0] ^= 1;
    refused_by(check(&bundle), Check::TransparencyLog);
    // A v0.3 bundle without its inclusion proof.
    let mut bundle = original.clone();
    bundle.tlog_entries[0].inclusion_proof = None;
    let reason = refused_by(check(&bundle), Check::TransparencyLog);
    assert!(reason.contains("no inclusion proof"), "{reason}");
    // Without the signed entry timestamp there is no signed time.
    let mut bundle = original.clone();
    bundle.tlog_entries[0].signed_entry_timestamp = None;
    refused_by(check(&bundle), Check::TransparencyLog);
    // No log entry at all.
    let mut bundle = original;
    bundle.tlog_entries.clear();
    refused_by(check(&bundle), Check::Unsupported);
}

/// A file of the corpus's `verify/` (the in-toto and cosign folders).
fn corpus(path: &str) -> Vec<u8> {
    let file = vector("..").join(path);
    std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

fn bundle_at(path: &str) -> Bundle {
    Bundle::from_json(path, &corpus(path)).unwrap()
}

fn root_at(dir: &str) -> TrustedRoot {
    TrustedRoot::from_json(
        "trusted_root.json",
        &corpus(&format!("{dir}/trusted_root.json")),
    )
    .unwrap()
}

fn key_at(path: &str) -> Policy {
    Policy::Key(PublicKey::from_pem(path, &corpus(path)).unwrap())
}

fn github(identity: &str) -> Policy {
    Policy::Identity(Identity {
        identity: identity.into(),
        issuer: CONFORMANCE_ISSUER.into(),
    })
}

fn sha512_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha512:{}", hex::encode(sha2::Sha512::digest(bytes)))
}

fn predicate_type(verified: &VerifiedBundle) -> &str {
    match &verified.signed {
        Signed::Attestation { predicate_type, .. } => predicate_type,
        Signed::MessageSignature => panic!("{verified:?}"),
    }
}

const OCI: &str = "in-toto/cosign-oci-attestation-bundle";
const OCI_DIGEST: &str = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4";
const SIGSTORE_JS: &str =
    "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main";

fn oci_policy() -> Policy {
    Policy::Identity(Identity {
        identity: "cody@soyland.com".into(),
        issuer: "https://github.com/login/oauth".into(),
    })
}

#[test]
fn in_toto_bundles_verify_for_their_subjects() {
    // cosign attest --new-bundle-format: dsse 0.0.1, valid for its image only.
    let bundle = bundle_at(&format!("{OCI}/bundle.sigstore.json"));
    let root = root_at(OCI);
    let verified = verify_bundle(&bundle, OCI_DIGEST, &oci_policy(), &root).unwrap();
    assert_eq!(
        predicate_type(&verified),
        "https://cosign.sigstore.dev/attestation/v1"
    );
    let Signed::Attestation { statement_type, .. } = &verified.signed else {
        unreachable!()
    };
    assert_eq!(statement_type, "https://in-toto.io/Statement/v0.1");
    assert_eq!(verified.artifact_digest, OCI_DIGEST);
    assert_eq!(verified.integrated_time.unwrap().timestamp(), 1740770291);
    let reason = refused_by(
        verify_bundle(&bundle, &sha256_digest(b"other"), &oci_policy(), &root),
        Check::Subject,
    );
    assert!(reason.contains(OCI_DIGEST), "{reason}");

    // gh attestation: an intoto 0.0.2 entry and a sha512 subject.
    let dir = "in-toto/gh-cli-sigstore-js-2.1.0";
    let bundle = bundle_at(&format!("{dir}/sigstore-js-2.1.0-bundle.json"));
    let digest = sha512_digest(&corpus(&format!("{dir}/sigstore-js-2.1.0.tgz")));
    let verified = verify_bundle(&bundle, &digest, &github(SIGSTORE_JS), &root_at(dir)).unwrap();
    assert_eq!(predicate_type(&verified), "https://slsa.dev/provenance/v1");
    // The sha256 of the same tarball is no subject.
    refused_by(
        verify_bundle(
            &bundle,
            &sha256_digest(&corpus(&format!("{dir}/sigstore-js-2.1.0.tgz"))),
            &github(SIGSTORE_JS),
            &root_at(dir),
        ),
        Check::Subject,
    );
    // gh's negative case: another repository's workflow.
    refused_by(
        verify_bundle(
            &bundle,
            &digest,
            &github(
                "https://github.com/fakeowner/fakerepo/.github/workflows/release.yml@refs/heads/main",
            ),
            &root_at(dir),
        ),
        Check::Identity,
    );

    // A reusable workflow signs: dsse 0.0.1, sha256 subject.
    let dir = "in-toto/gh-cli-reusable-workflow";
    let bundle = bundle_at(&format!(
        "{dir}/reusable-workflow-attestation.sigstore.json"
    ));
    let digest = sha256_digest(&corpus(&format!("{dir}/reusable-workflow-artifact")));
    let signer = "https://github.com/github/artifact-attestations-workflows/.github/workflows/attest.yml@09b495c3f12c7881b3cc17209a327792065c1a1d";
    verify_bundle(&bundle, &digest, &github(signer), &root_at(dir)).unwrap();
    refused_by(
        verify_bundle(
            &bundle,
            &digest,
            &github(
                "https://github.com/foo/bar/.github/workflows/attest.yml@09b495c3f12c7881b3cc17209a327792065c1a1d",
            ),
            &root_at(dir),
        ),
        Check::Identity,
    );

    // sigstore-go's: v0.1, intoto 0.0.2; a sha512 one nibble off is refused.
    let dir = "in-toto/sigstore-go-sigstore-js-2.0.0-provenance";
    let bundle = bundle_at(&format!("{dir}/bundle.sigstore.json"));
    let digest = "sha512:46d4e2f74c4877316640000a6fdf8a8b59f1e0847667973e9859f774dd31b8f1e0937813b777fb66a2ac67d50540fe34640966eee9fc2ccca387082b4c85cd3c";
    verify_bundle(&bundle, digest, &github(SIGSTORE_JS), &root_at(dir)).unwrap();
    refused_by(
        verify_bundle(
            &bundle,
            &digest.replacen(":4", ":5", 1),
            &github(SIGSTORE_JS),
            &root_at(dir),
        ),
        Check::Subject,
    );
    refused_by(
        verify_bundle(
            &bundle,
            digest,
            &github(&format!("{SIGSTORE_JS}x")),
            &root_at(dir),
        ),
        Check::Identity,
    );
    // A digest that names no algorithm a subject could hold is unreadable.
    assert!(matches!(
        verify_bundle(&bundle, "sha256:xyz", &github(SIGSTORE_JS), &root_at(dir)),
        Err(Error::Unreadable { .. })
    ));
}

#[test]
fn a_keyed_dsse_bundle_verifies_with_its_key_only() {
    let dir = "in-toto/sigstore-go-example-npm-publish-keyed";
    let bundle = bundle_at(&format!("{dir}/bundle.sigstore.json"));
    assert!(matches!(bundle.material, Material::PublicKey { .. }));
    let root = root_at(dir);
    let key = key_at(&format!("{dir}/publish_key.pub"));
    let digest = "sha512:76176ffa33808b54602c7c35de5c6e9a4deb96066dba6533f50ac234f4f1f4c6b3527515dc17c06fbe2860030f410eee69ea20079bd3a2c6f3dcf3b329b10751";
    let verified = verify_bundle(&bundle, digest, &key, &root).unwrap();
    let Policy::Key(public_key) = &key else {
        unreachable!()
    };
    assert_eq!(
        verified.signer,
        Signer::Key {
            key_id: public_key.id().to_owned()
        }
    );
    assert_eq!(
        predicate_type(&verified),
        "https://github.com/npm/attestation/tree/main/specs/publish/v0.1"
    );
    // Another key: the conformance managed key.
    let other = key_at("sigstore-bundle/conformance-managed-key-happy-path/key.pub");
    refused_by(
        verify_bundle(&bundle, digest, &other, &root),
        Check::Signature,
    );
    // No key given.
    refused_by(
        verify_bundle(&bundle, digest, &github(SIGSTORE_JS), &root),
        Check::Identity,
    );
    // Another artifact.
    refused_by(
        verify_bundle(&bundle, &sha512_digest(b"other"), &key, &root),
        Check::Subject,
    );
}

#[test]
fn a_managed_key_bundle_verifies_with_its_key_only() {
    let case = "conformance-managed-key-happy-path";
    let bundle = Bundle::from_json("b", &read(&format!("{case}/bundle.sigstore.json"))).unwrap();
    let digest = artifact_digest(case);
    let root = root(case);
    // Its RFC 3161 timestamp is present but not read: nothing depends on it.
    assert_eq!(bundle.rfc3161_timestamps.len(), 1);
    verify_bundle(&bundle, &digest, &policy(case), &root).unwrap();
    let other = key_at("in-toto/sigstore-go-example-npm-publish-keyed/publish_key.pub");
    let reason = refused_by(
        verify_bundle(&bundle, &digest, &other, &root),
        Check::Signature,
    );
    assert!(reason.contains("sha256:"), "{reason}");
    refused_by(
        verify_bundle(&bundle, &sha256_digest(b"other"), &policy(case), &root),
        Check::ArtifactDigest,
    );
    // A key given for a certificate-signed bundle.
    let keyless = Bundle::from_json(
        "b",
        &read("conformance-happy-path-v0.3/bundle.sigstore.json"),
    )
    .unwrap();
    refused_by(
        verify_bundle(
            &keyless,
            &artifact_digest("conformance-happy-path-v0.3"),
            &policy(case),
            &self::root("conformance-happy-path-v0.3"),
        ),
        Check::Identity,
    );
}

#[test]
fn a_tampered_dsse_bundle_is_refused() {
    let case = "conformance-happy-path-intoto-in-dsse-v3";
    let original = Bundle::from_json("b", &read(&format!("{case}/bundle.sigstore.json"))).unwrap();
    let digest = artifact_digest(case);
    let policy = policy(case);
    let root = root(case);
    let check = |bundle: &Bundle| verify_bundle(bundle, &digest, &policy, &root);
    let verified = check(&original).unwrap();
    assert_eq!(predicate_type(&verified), "https://slsa.dev/provenance/v1");
    let envelope = |bundle: &mut Bundle| match &mut bundle.content {
        customs_verify::bundle::Content::Dsse(envelope) => envelope.clone(),
        other => panic!("{other:?}"),
    };
    let with = |change: &dyn Fn(&mut customs_verify::dsse::Envelope)| {
        let mut bundle = original.clone();
        let mut changed = envelope(&mut bundle);
        change(&mut changed);
        bundle.content = customs_verify::bundle::Content::Dsse(changed);
        bundle
    };
    // One byte of the payload.
    let bundle = with(&|envelope| {
        let at = envelope.payload.len() / 2;
        envelope.payload[at] ^= 1;
    });
    refused_by(check(&bundle), Check::Signature);
    // One byte of the signature.
    let bundle = with(&|envelope| envelope.signatures[0].1[10] ^= 1);
    refused_by(check(&bundle), Check::Signature);
    // The payload type is signed too.
    let bundle = with(&|envelope| envelope.payload_type = "application/json".into());
    refused_by(check(&bundle), Check::Signature);
    // A second signature.
    let bundle = with(&|envelope| {
        let first = envelope.signatures[0].clone();
        envelope.signatures.push(first);
    });
    refused_by(check(&bundle), Check::Unsupported);
    // Another identity.
    let mut other = identity(case);
    other.identity = "https://github.com/sigstore-conformance/other".into();
    refused_by(
        verify_bundle(&original, &digest, &other.into(), &root),
        Check::Identity,
    );
    // Another artifact.
    refused_by(
        verify_bundle(&original, &sha256_digest(b"other"), &policy, &root),
        Check::Subject,
    );
    // The log body of another entry: the signed entry timestamp does not cover it.
    let mut bundle = original.clone();
    bundle.tlog_entries[0].body = logged_body("conformance-dsse-mismatch-envelope_fail");
    refused_by(check(&bundle), Check::TransparencyLog);
}

fn logged_body(case: &str) -> Vec<u8> {
    Bundle::from_json("b", &read(&format!("{case}/bundle.sigstore.json")))
        .unwrap()
        .tlog_entries[0]
        .body
        .clone()
}

#[test]
fn cosign_v3_image_bundles_verify_at_both_signed_times() {
    // cosign v3's image signature: DSSE logged as dsse 0.0.1 in Rekor v1,
    // and an RFC 3161 timestamp: the certificate is checked at both times.
    let dir = "cosign/sigstore-rs-cosign-v3-image-bundle";
    let bundle = bundle_at(&format!("{dir}/bundle.sigstore.json"));
    let policy = github(
        "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0",
    );
    let digest = "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";
    let verified = verify_bundle(&bundle, digest, &policy, &root_at(dir)).unwrap();
    assert_eq!(
        predicate_type(&verified),
        "https://sigstore.dev/cosign/sign/v1"
    );
    assert!(verified.integrated_time.is_some());
    assert_eq!(verified.timestamps.len(), 1);
    assert_eq!(verified.signed_times().len(), 2);
    let Signer::Certificate {
        not_before,
        not_after,
        ..
    } = verified.signer
    else {
        panic!("{verified:?}");
    };
    for time in verified.signed_times() {
        assert!(not_before <= time && time <= not_after, "{time}");
    }
    // Another image digest is not signed by it.
    let other = format!("sha256:{}", "1".repeat(64));
    refused_by(
        verify_bundle(&bundle, &other, &policy, &root_at(dir)),
        Check::Subject,
    );
}

#[test]
fn rekor_v2_entries_and_timestamps_are_checked_byte_for_byte() {
    let case = "conformance-rekor2-happy-path";
    let original = Bundle::from_json("b", &read(&format!("{case}/bundle.sigstore.json"))).unwrap();
    let digest = artifact_digest(case);
    let policy = policy(case);
    let root = root(case);
    let check = |bundle: &Bundle| verify_bundle(bundle, &digest, &policy, &root);
    let verified = check(&original).unwrap();
    assert_eq!(verified.log_index, Some(735));
    assert_eq!(verified.integrated_time, None, "Rekor v2 states no time");
    assert_eq!(verified.timestamps.len(), 1);
    assert_eq!(
        verified.signed_times()[0].to_rfc3339(),
        "2025-06-12T12:02:20+00:00"
    );
    assert!(
        verified.timestamps[0].authority.contains("sigstore-tsa"),
        "{:?}",
        verified.timestamps[0]
    );

    // The token's own signature (its last bytes) changed.
    let mut bundle = original.clone();
    *bundle.rfc3161_timestamps[0].last_mut().unwrap() ^= 1;
    refused_by(check(&bundle), Check::Timestamp);
    // A genuine timestamp, of another signature.
    let mut bundle = original.clone();
    bundle.rfc3161_timestamps = Bundle::from_json(
        "b",
        &read("conformance-rekor2-dsse-happy-path/bundle.sigstore.json"),
    )
    .unwrap()
    .rfc3161_timestamps;
    let reason = refused_by(check(&bundle), Check::Timestamp);
    assert!(reason.contains("other bytes"), "{reason}");
    // The log entry's body changed: the proof no longer leads to the root.
    let mut bundle = original.clone();
    let body = &mut bundle.tlog_entries[0].body;
    let at = body.len() / 2;
    body[at] ^= 1;
    refused_by(check(&bundle), Check::TransparencyLog);
    // A root hash changed: the checkpoint no longer commits to it.
    let mut bundle = original.clone();
    let proof = bundle.tlog_entries[0].inclusion_proof.as_mut().unwrap();
    proof.root_hash[0] ^= 1;
    refused_by(check(&bundle), Check::TransparencyLog);
    // An entry index the proof does not share: it would be reported unsigned.
    let mut bundle = original.clone();
    bundle.tlog_entries[0].log_index += 1;
    let reason = refused_by(check(&bundle), Check::TransparencyLog);
    assert!(reason.contains("index 736"), "{reason}");
    // A trust root without the timestamp authority.
    let mut untrusted = root.clone();
    untrusted.timestamp_authorities.clear();
    refused_by(
        verify_bundle(&original, &digest, &policy, &untrusted),
        Check::Timestamp,
    );

    // A key-signed bundle with a timestamp and no log entry: without the
    // timestamp nothing vouches for any time.
    let case = "sigstore-go-public-key-with-tsa";
    let mut bundle =
        Bundle::from_json("b", &read(&format!("{case}/bundle.sigstore.json"))).unwrap();
    let verified = verify_bundle(
        &bundle,
        &artifact_digest(case),
        &self::policy(case),
        &self::root(case),
    )
    .unwrap();
    assert_eq!((verified.log_index, verified.timestamps.len()), (None, 1));
    bundle.rfc3161_timestamps.clear();
    refused_by(
        verify_bundle(
            &bundle,
            &artifact_digest(case),
            &self::policy(case),
            &self::root(case),
        ),
        Check::Unsupported,
    );
}

const CONNAISSEUR: &str = "cosign/connaisseur-rekor-test-keyless";
const CONNAISSEUR_DIGEST: &str =
    "sha256:31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee";

/// The annotations of the keyless signature manifest's layer.
fn connaisseur() -> (Vec<u8>, String, String, String) {
    let manifest: serde_json::Value =
        serde_json::from_slice(&corpus(&format!("{CONNAISSEUR}/signature-manifest.json"))).unwrap();
    let annotations = &manifest["layers"][0]["annotations"];
    let annotation = |name: &str| annotations[name].as_str().unwrap().to_owned();
    (
        corpus(&format!("{CONNAISSEUR}/simplesigning-payload.json")),
        annotation("dev.cosignproject.cosign/signature"),
        annotation("dev.sigstore.cosign/certificate"),
        annotation("dev.sigstore.cosign/bundle"),
    )
}

#[test]
fn a_legacy_keyless_cosign_signature_verifies_for_its_image() {
    use customs_verify::cosign::verify_keyless_simple_signing;
    let (payload, signature, certificate, rekor) = connaisseur();
    let root = root_at(CONNAISSEUR);
    let identity = Identity {
        identity: "philipp.belitz@securesystems.de".into(),
        issuer: "https://github.com/login/oauth".into(),
    };
    let check = |payload: &[u8], rekor: &str, digest: &str, identity: &Identity| {
        verify_keyless_simple_signing(
            payload,
            &signature,
            certificate.as_bytes(),
            rekor.as_bytes(),
            digest,
            identity,
            &root,
        )
    };
    let verified = check(&payload, &rekor, CONNAISSEUR_DIGEST, &identity).unwrap();
    assert_eq!(verified.image_digest, CONNAISSEUR_DIGEST);
    assert_eq!(verified.integrated_time.timestamp(), 1717082297);
    assert_eq!(verified.log_index, 98235800);
    assert!(matches!(verified.signer, Signer::Certificate { .. }));
    // Another image.
    refused_by(
        check(&payload, &rekor, OCI_DIGEST, &identity),
        Check::ImageDigest,
    );
    // Another identity.
    let mut other = identity.clone();
    other.identity = "someone@else.example".into();
    refused_by(
        check(&payload, &rekor, CONNAISSEUR_DIGEST, &other),
        Check::Identity,
    );
    // One byte of the payload.
    let mut tampered = payload.clone();
    let at = tampered.iter().position(|b| *b == b'3').unwrap();
    tampered[at] = b'4';
    refused_by(
        check(&tampered, &rekor, CONNAISSEUR_DIGEST, &identity),
        Check::Signature,
    );
    // Another integrated time: the signed entry timestamp no longer covers it.
    let moved = rekor.replace("1717082297", "1717082298");
    assert_ne!(moved, rekor);
    refused_by(
        check(&payload, &moved, CONNAISSEUR_DIGEST, &identity),
        Check::TransparencyLog,
    );
    // The Rekor entry of another signature (sigstore-rs's 2021 one).
    let legacy = String::from_utf8(corpus(
        "cosign/sigstore-rs-legacy-keyless-2021/rekor-bundle.json",
    ))
    .unwrap();
    assert!(check(&payload, &legacy, CONNAISSEUR_DIGEST, &identity).is_err());
}

#[test]
fn the_2021_keyless_signature_has_no_sct_and_no_issuer() {
    use customs_verify::cosign::verify_keyless_simple_signing;
    let dir = "cosign/sigstore-rs-legacy-keyless-2021";
    let payload = corpus(&format!("{dir}/payload.json"));
    let signature = String::from_utf8(corpus(&format!("{dir}/signature.b64"))).unwrap();
    let certificate = corpus(&format!("{dir}/cert.pem"));
    let rekor = corpus(&format!("{dir}/rekor-bundle.json"));
    let digest = "sha256:5f481572d088dc4023afb35fced9530ced3d9b03bf7299c6f492163cb9f0452e";
    let identity = Identity {
        identity: "flavio@castelli.me".into(),
        issuer: "https://github.com/login/oauth".into(),
    };
    let mut root = root_at(dir);
    let check = |root: &TrustedRoot| {
        verify_keyless_simple_signing(
            &payload,
            &signature,
            &certificate,
            &rekor,
            digest,
            &identity,
            root,
        )
    };
    // The certificate predates embedded SCTs: a root with CT logs refuses it.
    let reason = refused_by(check(&root), Check::CertificateTransparency);
    assert!(reason.contains("no SCT"), "{reason}");
    // Without CT logs, everything verifies (the rekord 0.0.1 entry, the
    // 2021 CA at 2021-10-20) up to the identity: the certificate records no
    // OIDC issuer, so no identity policy (which names one) takes it.
    root.ctlogs.clear();
    let reason = refused_by(check(&root), Check::Identity);
    assert!(reason.contains("no OIDC issuer"), "{reason}");
}
