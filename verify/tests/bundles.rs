//! The Sigstore bundles of `../shared/corpus/verify/sigstore-bundle` (see
//! its SOURCES.md and INDEX.json for each one's origin and expected
//! outcome): every keyless message-signature bundle logged in Rekor v1 is
//! verified or refused by the check that should refuse it; every other
//! kind is known to be unsupported and must never verify.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use customs_verify::bundle::Material;
use customs_verify::{
    Bundle, Check, Error, Identity, TrustedRoot, VerifiedBundle, sha256_digest, verify_bundle,
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

/// Every keyless message-signature bundle with a Rekor v1 entry, and how it ends.
const REKOR_V1_KEYLESS: &[(&str, Expect)] = &[
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
];

const DSSE: &str = "DSSE envelope content";
const REKOR_V2: &str = "Rekor v2 entry (hashedrekord/dsse 0.0.2, RFC 3161 time source)";
const PUBLIC_KEY: &str = "public-key verification material (and RFC 3161 timestamps)";

/// The other bundles of the corpus, and why they are not verified yet.
const KNOWN_UNSUPPORTED: &[(&str, &str)] = &[
    ("conformance-bundle-with-sct-with-extensions", REKOR_V2),
    ("conformance-dsse-invalid-sig_fail", DSSE),
    ("conformance-dsse-mismatch-envelope_fail", DSSE),
    ("conformance-happy-path-intoto-in-dsse-v3", DSSE),
    ("conformance-intoto-expired-certificate_fail", DSSE),
    ("conformance-intoto-log-entry-mismatch_fail", DSSE),
    ("conformance-intoto-missing-inclusion-proof_fail", DSSE),
    (
        "conformance-intoto-tsa-timestamp-outside-cert-validity_fail",
        DSSE,
    ),
    ("conformance-intoto-with-custom-trust-root", DSSE),
    ("conformance-managed-key-happy-path", PUBLIC_KEY),
    ("conformance-managed-key-no-key_fail", PUBLIC_KEY),
    ("conformance-rekor2-checkpoint-cosigned", REKOR_V2),
    (
        "conformance-rekor2-checkpoint-missing-log-signature_fail",
        REKOR_V2,
    ),
    (
        "conformance-rekor2-checkpoint-missing-origin_fail",
        REKOR_V2,
    ),
    ("conformance-rekor2-checkpoint-missing-size_fail", REKOR_V2),
    ("conformance-rekor2-checkpoint-multiple-cosigs", REKOR_V2),
    (
        "conformance-rekor2-checkpoint-no-matching-signature_fail",
        REKOR_V2,
    ),
    (
        "conformance-rekor2-checkpoint-two-sigs-from-origin",
        REKOR_V2,
    ),
    ("conformance-rekor2-dsse-happy-path", REKOR_V2),
    ("conformance-rekor2-dsse-invalid-sig_fail", REKOR_V2),
    ("conformance-rekor2-dsse-mismatch-sig_fail", REKOR_V2),
    ("conformance-rekor2-happy-path", REKOR_V2),
    ("conformance-rekor2-no-inclusion-proof_fail", REKOR_V2),
    ("conformance-rekor2-no-timestamp_fail", REKOR_V2),
    (
        "conformance-rekor2-timestamp-outside-trust-root-tsa-validity_fail",
        REKOR_V2,
    ),
    (
        "conformance-rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail",
        REKOR_V2,
    ),
    ("conformance-rekor2-timestamp-with-embedded-cert", REKOR_V2),
    (
        "conformance-rekor2-timestamp-with-incorrect-time_fail",
        REKOR_V2,
    ),
    ("sigstore-go-public-key-with-tsa", PUBLIC_KEY),
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

fn verify_case(case: &str) -> Result<VerifiedBundle, Error> {
    let bundle = Bundle::from_json(
        "bundle.sigstore.json",
        &read(&format!("{case}/bundle.sigstore.json")),
    )?;
    verify_bundle(
        &bundle,
        &artifact_digest(case),
        &identity(case),
        &root(case),
    )
}

fn outcome(result: &Result<VerifiedBundle, Error>) -> Expect {
    match result {
        Ok(_) => Verified,
        Err(Error::Unreadable { .. }) => Unreadable,
        Err(Error::Refused { check, .. }) => Refused(*check),
    }
}

#[test]
fn every_rekor_v1_keyless_bundle_verifies_or_is_refused_by_its_check() {
    let mut wrong = Vec::new();
    for (case, expected) in REKOR_V1_KEYLESS {
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
fn unsupported_bundles_never_verify() {
    for (case, why) in KNOWN_UNSUPPORTED {
        let result = verify_case(case);
        if std::env::var_os("CUSTOMS_SHOW_OUTCOMES").is_some() {
            eprintln!("{case}: {result:?}");
        }
        assert!(
            matches!(
                result,
                Err(Error::Unreadable { .. } | Error::Refused { .. })
            ),
            "{case} ({why}): {result:?}"
        );
        // Readable ones are refused as unsupported, never by chance.
        if let Err(Error::Refused { check, reason }) = &result {
            assert_eq!(*check, Check::Unsupported, "{case}: {reason}");
        }
    }
}

#[test]
fn the_lists_cover_every_bundle_of_the_corpus() {
    let mut listed: Vec<&str> = REKOR_V1_KEYLESS
        .iter()
        .map(|(case, _)| *case)
        .chain(KNOWN_UNSUPPORTED.iter().map(|(case, _)| *case))
        .collect();
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
    assert_eq!(verified.identity, CONFORMANCE_IDENTITY);
    assert_eq!(verified.issuer, CONFORMANCE_ISSUER);
    assert_eq!(verified.log_index, 27246492);
    assert_eq!(verified.integrated_time.timestamp(), 1689177396);
    assert!(verified.certificate_not_before <= verified.integrated_time);
    assert!(verified.integrated_time <= verified.certificate_not_after);
}

fn refused_by(result: Result<VerifiedBundle, Error>, expected: Check) -> String {
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
    let policy = identity(case);
    let mut other = policy.clone();
    other.identity.push('x');
    let reason = refused_by(
        verify_bundle(&bundle, &digest, &other, &root),
        Check::Identity,
    );
    assert!(reason.contains(CONFORMANCE_IDENTITY), "{reason}");
    let mut other = policy.clone();
    other.issuer = "https://accounts.google.com".into();
    refused_by(
        verify_bundle(&bundle, &digest, &other, &root),
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
    let policy = Identity {
        identity: "foo@oidc.local".into(),
        issuer: "http://oidc.local:8080".into(),
    };
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
    let policy = identity("conformance-happy-path-v0.1");
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
    let policy = identity(case);
    let trusted = root(case);
    let signed = verify_case(case).unwrap().integrated_time;
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
    let policy = identity(case);
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
