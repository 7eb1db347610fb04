//! The Notation vectors of `../shared/corpus/verify/notation` (see its
//! SOURCES.md for each one's origin and expected outcome), and tampered
//! copies of them.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use customs_verify::notation::{
    self, Descriptor, MEDIA_TYPE_COSE, MEDIA_TYPE_JWS, SigningScheme, StoreType, TrustedIdentities,
    read_certificates, signature_manifest_layer, verify_envelope,
};
use customs_verify::{Check, Error, TrustPolicy, TrustStores, sha256_digest, verify_jws};

/// A file of the corpus (`CUSTOMS_CORPUS`, as the other corpus tests read it).
fn vector(path: &str) -> PathBuf {
    std::env::var_os("CUSTOMS_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"))
        .join("verify/notation")
        .join(path)
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(vector(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn stores(case: &str) -> TrustStores {
    TrustStores::load(&vector(&format!("{case}/truststore"))).unwrap()
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// "Now" for the vectors that are checked at the verification time: fixed,
/// inside every such window (2024..2033), never the clock.
fn now() -> DateTime<Utc> {
    time("2026-12-02T00:00:00Z")
}

fn policy(json: &str) -> TrustPolicy {
    TrustPolicy::from_json("trustpolicy.json", json.as_bytes()).unwrap()
}

fn refused_by(result: Result<impl std::fmt::Debug, Error>, expected: Check) -> String {
    match result {
        Err(Error::Refused { check, reason }) if check == expected => reason,
        other => panic!("expected a refusal by the {expected} check, got {other:?}"),
    }
}

/// notation-go's dummyOCIPolicyDocument (helpers_test.go), as INDEX gives it.
const MOCK_POLICY: &str = r#"{"version":"1.0","trustPolicies":[{
    "name":"test-statement-name",
    "registryScopes":["registry.acme-rockets.io/software/net-monitor"],
    "signatureVerification":{"level":"strict"},
    "trustStores":["ca:valid-trust-store","signingAuthority:valid-trust-store"],
    "trustedIdentities":["x509.subject:CN=Notation Test Root,O=Notary,L=Seattle,ST=WA,C=US"]}]}"#;
const MOCK_SCOPE: &str = "registry.acme-rockets.io/software/net-monitor";
const MOCK_DIGEST: &str = "sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e";

/// notation-go's TestAuthenticTimestamp policy (timestamp_test.go).
const TIMESTAMP_POLICY: &str = r#"{"version":"1.0","trustPolicies":[{
    "name":"test-timestamp","registryScopes":["*"],
    "signatureVerification":{"level":"strict","verifyTimestamp":"always"},
    "trustStores":["ca:valid-trust-store","tsa:test-timestamp"],
    "trustedIdentities":["*"]}]}"#;
/// The same without a tsa store: the chain is checked at the verification time.
const NO_TSA_POLICY: &str = r#"{"version":"1.0","trustPolicies":[{
    "name":"no-tsa","registryScopes":["*"],
    "signatureVerification":{"level":"strict"},
    "trustStores":["ca:valid-trust-store"],
    "trustedIdentities":["*"]}]}"#;
const TIMESTAMP_DIGEST: &str =
    "sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda";
const ANY_SCOPE: &str = "registry.example/app";

fn mock(case: &str) -> Vec<u8> {
    read(&format!("{case}/signature.jws.json"))
}

fn verify_mock(
    envelope: &[u8],
    policy_json: &str,
    stores: &TrustStores,
    at: DateTime<Utc>,
) -> Result<notation::VerifiedNotation, Error> {
    verify_jws(
        envelope,
        MOCK_DIGEST,
        &policy(policy_json),
        stores,
        MOCK_SCOPE,
        at,
    )
}

#[test]
fn the_mock_ca_signature_verifies_with_its_expiry_and_trust_store() {
    let stores = stores("notation-go-mock-ca-valid");
    let verified = verify_mock(
        &mock("notation-go-mock-ca-valid"),
        MOCK_POLICY,
        &stores,
        now(),
    )
    .unwrap();
    assert_eq!(verified.signing_scheme, SigningScheme::X509);
    assert_eq!(verified.signing_time, time("2020-11-09T07:00:00Z"));
    assert_eq!(verified.expiry, Some(time("2120-11-09T07:00:00Z")));
    assert_eq!(
        verified.trust_store.as_deref(),
        Some("ca:valid-trust-store")
    );
    assert_eq!(verified.policy, "test-statement-name");
    assert!(
        verified.leaf_subject.contains("CN=Notation Test Root"),
        "{}",
        verified.leaf_subject
    );
    assert_eq!(
        verified.target_artifact,
        Descriptor {
            media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
            digest: MOCK_DIGEST.into(),
            size: 528,
        }
    );
    assert!(verified.logged.is_empty(), "{:?}", verified.logged);
    // Past the signature's expiry (the chain is still valid in 2121).
    refused_by(
        verify_mock(
            &mock("notation-go-mock-ca-valid"),
            MOCK_POLICY,
            &stores,
            time("2121-01-01T00:00:00Z"),
        ),
        Check::Expiry,
    );
}

#[test]
fn tampered_mock_ca_signatures_are_refused_by_the_check_they_break() {
    let case = "notation-go-mock-ca-valid";
    let envelope = mock(case);
    let stores = stores(case);
    let json: serde_json::Value = serde_json::from_slice(&envelope).unwrap();

    // One byte of the payload changed (still valid base64url).
    let mut tampered = json.clone();
    let payload = tampered["payload"].as_str().unwrap().to_owned();
    let mut bytes = payload.into_bytes();
    bytes[40] = if bytes[40] == b'A' { b'B' } else { b'A' };
    tampered["payload"] = String::from_utf8(bytes).unwrap().into();
    let tampered = serde_json::to_vec(&tampered).unwrap();
    refused_by(
        verify_mock(&tampered, MOCK_POLICY, &stores, now()),
        Check::Signature,
    );

    // A valid signature for another artifact.
    let reason = refused_by(
        verify_jws(
            &envelope,
            &format!("sha256:{}", "0".repeat(64)),
            &policy(MOCK_POLICY),
            &stores,
            MOCK_SCOPE,
            now(),
        ),
        Check::ArtifactDigest,
    );
    assert!(reason.contains(MOCK_DIGEST), "{reason}");

    // A trust store without the root: another certificate under the name.
    let mut other = TrustStores::new();
    let e2e = read("notation-e2e-valid-signature/truststore/x509/ca/e2e/e2e.crt");
    other.insert(
        StoreType::Ca,
        "valid-trust-store",
        read_certificates("e2e.crt", &e2e).unwrap(),
    );
    refused_by(
        verify_mock(&envelope, MOCK_POLICY, &other, now()),
        Check::Certificate,
    );
    // The root only in the signingAuthority store: the wrong kind for notary.x509.
    let mut wrong_kind = TrustStores::new();
    wrong_kind.insert(StoreType::Ca, "valid-trust-store", Vec::new());
    wrong_kind.insert(
        StoreType::SigningAuthority,
        "valid-trust-store",
        stores
            .get(StoreType::SigningAuthority, "valid-trust-store")
            .unwrap()
            .to_vec(),
    );
    refused_by(
        verify_mock(&envelope, MOCK_POLICY, &wrong_kind, now()),
        Check::Certificate,
    );

    // An identity the policy does not trust (the leaf is O=Notary).
    let untrusted = MOCK_POLICY.replace(
        "CN=Notation Test Root,O=Notary,L=Seattle,ST=WA,C=US",
        "C=US, ST=WA, O=Acme Rockets",
    );
    refused_by(
        verify_mock(&envelope, &untrusted, &stores, now()),
        Check::Identity,
    );
    // A subset of the leaf's attributes is trusted.
    let subset = MOCK_POLICY.replace(
        "CN=Notation Test Root,O=Notary,L=Seattle,ST=WA,C=US",
        "C=US, ST=WA, O=Notary",
    );
    verify_mock(&envelope, &subset, &stores, now()).unwrap();

    // Another repository than the policy covers.
    refused_by(
        verify_jws(
            &envelope,
            MOCK_DIGEST,
            &policy(MOCK_POLICY),
            &stores,
            "registry.acme-rockets.io/software/other",
            now(),
        ),
        Check::TrustPolicy,
    );

    // Padding, whitespace or standard base64 are not base64url.
    let mut padded = json.clone();
    padded["signature"] = format!("{}=", json["signature"].as_str().unwrap()).into();
    refused_by(
        verify_mock(
            &serde_json::to_vec(&padded).unwrap(),
            MOCK_POLICY,
            &stores,
            now(),
        ),
        Check::Signature,
    );
    // A header both protected and unprotected (here `alg`) is ambiguous.
    let mut doubled = json.clone();
    doubled["header"]["alg"] = "none".into();
    let reason = refused_by(
        verify_mock(
            &serde_json::to_vec(&doubled).unwrap(),
            MOCK_POLICY,
            &stores,
            now(),
        ),
        Check::Signature,
    );
    assert!(reason.contains("both"), "{reason}");
    // No x5c chain.
    let mut bare = json;
    bare["header"]["x5c"] = serde_json::json!([]);
    refused_by(
        verify_mock(
            &serde_json::to_vec(&bare).unwrap(),
            MOCK_POLICY,
            &stores,
            now(),
        ),
        Check::Signature,
    );
}

#[test]
fn the_level_decides_which_failures_refuse() {
    let envelope = mock("notation-go-mock-ca-valid");
    let mut other = TrustStores::new();
    let e2e = read("notation-e2e-valid-signature/truststore/x509/ca/e2e/e2e.crt");
    other.insert(
        StoreType::Ca,
        "valid-trust-store",
        read_certificates("e2e.crt", &e2e).unwrap(),
    );
    // Permissive enforces authenticity.
    let permissive = MOCK_POLICY.replace("\"strict\"", "\"permissive\"");
    refused_by(
        verify_mock(&envelope, &permissive, &other, now()),
        Check::Certificate,
    );
    // Audit logs it: the result says so and names no trust store.
    let audit = MOCK_POLICY.replace("\"strict\"", "\"audit\"");
    let verified = verify_mock(&envelope, &audit, &other, now()).unwrap();
    assert_eq!(verified.trust_store, None);
    assert!(
        verified
            .logged
            .iter()
            .any(|(check, _)| *check == Check::Certificate),
        "{:?}",
        verified.logged
    );
    // Integrity is enforced at every level.
    let mut bytes = envelope.clone();
    let at = bytes.len() / 3;
    bytes[at] ^= 1;
    assert!(
        verify_mock(&bytes, &audit, &other, now())
            .unwrap_err()
            .is_refusal()
    );
    // Skip verifies nothing, so nothing is reported verified.
    let skip = r#"{"version":"1.0","trustPolicies":[{"name":"s","registryScopes":["*"],
        "signatureVerification":{"level":"skip"}}]}"#;
    refused_by(
        verify_mock(&envelope, skip, &other, now()),
        Check::Unsupported,
    );
}

#[test]
fn corrupted_mock_envelopes_fail_integrity() {
    for case in ["notation-go-mock-ca-invalid", "notation-go-mock-sa-invalid"] {
        let stores = stores(case);
        let reason = refused_by(
            verify_mock(&mock(case), MOCK_POLICY, &stores, now()),
            Check::Signature,
        );
        assert!(
            reason.contains("not the leaf certificate's"),
            "{case}: {reason}"
        );
    }
}

#[test]
fn the_signing_authority_signature_verifies_until_its_expiry() {
    let case = "notation-go-mock-sa-expired";
    let stores = stores(case);
    let reason = refused_by(
        verify_mock(&mock(case), MOCK_POLICY, &stores, now()),
        Check::Expiry,
    );
    assert!(reason.contains("2022-07-29 23:59:00"), "{reason}");
    // Before its expiry it verifies, anchored in the signingAuthority store.
    let verified = verify_mock(
        &mock(case),
        MOCK_POLICY,
        &stores,
        time("2022-07-29T12:00:00Z"),
    )
    .unwrap();
    assert_eq!(verified.signing_scheme, SigningScheme::X509SigningAuthority);
    assert_eq!(verified.signing_time, time("2022-07-29T00:00:00Z"));
    assert_eq!(
        verified.trust_store.as_deref(),
        Some("signingAuthority:valid-trust-store")
    );
    // With only a ca store, the signing-authority scheme has no anchor.
    let ca_only = MOCK_POLICY.replace(",\"signingAuthority:valid-trust-store\"", "");
    refused_by(
        verify_mock(&mock(case), &ca_only, &stores, time("2022-07-29T12:00:00Z")),
        Check::Certificate,
    );
}

/// The envelope of the e2e OCI layout's signature manifest for the v1
/// manifest: index.json → signature manifest (subject v1) → its layer.
fn e2e_envelope(case: &str) -> (String, Vec<u8>, String) {
    let blob = |digest: &str| {
        let bytes = read(&format!(
            "{case}/oci-layout/blobs/sha256/{}",
            digest.trim_start_matches("sha256:")
        ));
        assert_eq!(sha256_digest(&bytes), digest);
        bytes
    };
    let index: serde_json::Value =
        serde_json::from_slice(&read(&format!("{case}/oci-layout/index.json"))).unwrap();
    let manifests = index["manifests"].as_array().unwrap();
    let target = manifests
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "v1")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let (layer, subject) = manifests
        .iter()
        .filter(|m| m["mediaType"] == "application/vnd.oci.image.manifest.v1+json")
        .find_map(|m| {
            let manifest = blob(m["digest"].as_str().unwrap());
            signature_manifest_layer(&manifest).ok()
        })
        .unwrap();
    assert_eq!(subject.unwrap().digest, target);
    (layer.media_type.clone(), blob(&layer.digest), target)
}

fn e2e_policy(case: &str) -> TrustPolicy {
    TrustPolicy::from_json(
        "trustpolicy.json",
        &read(&format!("{case}/trustpolicy.json")),
    )
    .unwrap()
}

#[test]
fn the_e2e_signature_in_its_oci_layout_verifies() {
    let case = "notation-e2e-valid-signature";
    let (media_type, envelope, target) = e2e_envelope(case);
    assert_eq!(media_type, MEDIA_TYPE_JWS);
    let policy = e2e_policy(case);
    assert_eq!(
        policy.statements[0].trusted_identities,
        TrustedIdentities::Any
    );
    let verified = verify_envelope(
        &media_type,
        &envelope,
        &target,
        &policy,
        &stores(case),
        ANY_SCOPE,
        now(),
    )
    .unwrap();
    assert_eq!(verified.trust_store.as_deref(), Some("ca:e2e"));
    assert_eq!(verified.signing_time, time("2023-06-27T05:30:33Z"));
    assert_eq!(verified.expiry, None);
    assert!(verified.leaf_subject.contains("CN=e2e"));
    // A trust store without its certificate.
    let mut empty = TrustStores::new();
    empty.insert(StoreType::Ca, "e2e", Vec::new());
    refused_by(
        verify_envelope(
            &media_type,
            &envelope,
            &target,
            &policy,
            &empty,
            ANY_SCOPE,
            now(),
        ),
        Check::Certificate,
    );
    // A trust store the policy names but the caller does not give: unreadable.
    let error = verify_envelope(
        &media_type,
        &envelope,
        &target,
        &policy,
        &TrustStores::new(),
        ANY_SCOPE,
        now(),
    )
    .unwrap_err();
    assert!(!error.is_refusal(), "{error}");
}

#[test]
fn a_signature_layer_that_is_no_envelope_fails_integrity() {
    let case = "notation-e2e-invalid-signature";
    let (media_type, envelope, target) = e2e_envelope(case);
    assert_eq!(envelope, b"invalid signature\n");
    refused_by(
        verify_envelope(
            &media_type,
            &envelope,
            &target,
            &e2e_policy(case),
            &stores(case),
            ANY_SCOPE,
            now(),
        ),
        Check::Signature,
    );
    // Even presented as JWS.
    refused_by(
        verify_jws(
            &envelope,
            &target,
            &e2e_policy(case),
            &stores(case),
            ANY_SCOPE,
            now(),
        ),
        Check::Signature,
    );
}

#[test]
fn an_expired_signing_certificate_without_a_timestamp_is_refused_now() {
    let case = "notation-e2e-expired-signing-cert";
    let (media_type, envelope, target) = e2e_envelope(case);
    let policy = e2e_policy(case);
    let stores = stores(case);
    let verify = |policy: &TrustPolicy, at| {
        verify_envelope(
            &media_type,
            &envelope,
            &target,
            policy,
            &stores,
            ANY_SCOPE,
            at,
        )
    };
    let reason = refused_by(verify(&policy, now()), Check::Timestamp);
    assert!(reason.contains("2023-06-27 06:10:00"), "{reason}");
    // Inside the certificate's day it verifies (SOURCES: 06:07:26..06:10:00).
    verify(&policy, time("2023-06-27T06:09:00Z")).unwrap();
    // Permissive logs the authentic-timestamp failure.
    let permissive = TrustPolicy::from_json(
        "p.json",
        String::from_utf8(read(&format!("{case}/trustpolicy.json")))
            .unwrap()
            .replace("\"strict\"", "\"permissive\"")
            .as_bytes(),
    )
    .unwrap();
    let verified = verify(&permissive, now()).unwrap();
    assert_eq!(verified.logged[0].0, Check::Timestamp);
}

#[test]
fn a_jws_without_timestamp_needs_one_only_when_the_policy_has_a_tsa_store() {
    let case = "notation-go-jws-without-timestamp";
    let envelope = read(&format!("{case}/withoutTimestamp.jws.json"));
    let stores = stores(case);
    let reason = refused_by(
        verify_jws(
            &envelope,
            TIMESTAMP_DIGEST,
            &policy(TIMESTAMP_POLICY),
            &stores,
            ANY_SCOPE,
            now(),
        ),
        Check::Timestamp,
    );
    assert!(reason.contains("countersignature"), "{reason}");
    let verified = verify_jws(
        &envelope,
        TIMESTAMP_DIGEST,
        &policy(NO_TSA_POLICY),
        &stores,
        ANY_SCOPE,
        now(),
    )
    .unwrap();
    assert_eq!(verified.signing_time, time("2024-06-18T09:08:35Z"));
    // After the certificate's end (2033-05-10) there is nothing to save it.
    refused_by(
        verify_jws(
            &envelope,
            TIMESTAMP_DIGEST,
            &policy(NO_TSA_POLICY),
            &stores,
            ANY_SCOPE,
            time("2034-01-01T00:00:00Z"),
        ),
        Check::Timestamp,
    );
}

/// notation-go's timestamp vectors with the tsa store swapped for another.
fn with_tsa_store(json: &str, name: &str) -> String {
    json.replace("tsa:test-timestamp", &format!("tsa:{name}"))
}

#[test]
fn a_jws_countersignature_verifies_against_the_tsa_store_of_the_policy() {
    let case = "notation-go-jws-with-timestamp";
    let envelope = read(&format!("{case}/jwsWithTimestamp.jws.json"));
    let stores = stores(case);
    let verify = |policy_json: &str| {
        verify_jws(
            &envelope,
            TIMESTAMP_DIGEST,
            &policy(policy_json),
            &stores,
            ANY_SCOPE,
            now(),
        )
    };
    let verified = verify(TIMESTAMP_POLICY).unwrap();
    let stamp = verified.timestamp.expect("the countersignature was used");
    // Signed 2024-06-18T14:29:33+08:00; the TSA stamped it the same second.
    let skew = (stamp.time - time("2024-06-18T06:29:33Z"))
        .num_seconds()
        .abs();
    assert!(skew <= 5, "stamped at {}", stamp.time);
    assert!(
        stamp.authority.contains("GlobalSign"),
        "{}",
        stamp.authority
    );
    // A tsa store the TSA does not chain to: the countersignature fails.
    let reason = refused_by(
        verify(&with_tsa_store(TIMESTAMP_POLICY, "test-mismatch")),
        Check::Timestamp,
    );
    assert!(reason.contains("does not chain"), "{reason}");
    // A tsa store the trust stores do not have is an error, not a pass.
    assert!(verify(&with_tsa_store(TIMESTAMP_POLICY, "absent")).is_err());
}

#[test]
fn a_countersignature_saves_a_certificate_that_expired_after_signing() {
    let case = "notation-go-jws-expired-cert-with-timestamp";
    let envelope = read(&format!("{case}/jwsExpiredWithTimestamp.jws.json"));
    // Its signer is in no store of the folder: trust it as its own anchor
    // (SOURCES: the vector is for the authentic-timestamp step).
    let mut stores = stores(case);
    stores.insert(StoreType::Ca, "valid-trust-store", leaf_of(&envelope));
    let verify = |policy_json: &str| {
        verify_jws(
            &envelope,
            TIMESTAMP_DIGEST,
            &policy(policy_json),
            &stores,
            ANY_SCOPE,
            now(),
        )
    };
    let verified = verify(TIMESTAMP_POLICY).unwrap();
    let stamp = verified.timestamp.expect("the countersignature was used");
    assert!(stamp.time < time("2024-06-18T07:30:31Z"), "{}", stamp.time);
    // afterCertExpiry: the certificate has expired, so the timestamp counts.
    let after = TIMESTAMP_POLICY.replace("\"always\"", "\"afterCertExpiry\"");
    assert!(verify(&after).unwrap().timestamp.is_some());
    // A countersignature from a TSA outside the store saves nothing.
    refused_by(
        verify(&with_tsa_store(TIMESTAMP_POLICY, "test-mismatch")),
        Check::Timestamp,
    );
}

#[test]
fn a_countersignature_over_other_bytes_is_refused() {
    // The token stamps the envelope's signature: graft the expired vector's
    // token onto the valid envelope and the imprint no longer matches.
    let valid = "notation-go-jws-with-timestamp";
    let expired = "notation-go-jws-expired-cert-with-timestamp";
    let mut envelope: serde_json::Value =
        serde_json::from_slice(&read(&format!("{valid}/jwsWithTimestamp.jws.json"))).unwrap();
    let other: serde_json::Value = serde_json::from_slice(&read(&format!(
        "{expired}/jwsExpiredWithTimestamp.jws.json"
    )))
    .unwrap();
    envelope["header"]["io.cncf.notary.timestampSignature"] =
        other["header"]["io.cncf.notary.timestampSignature"].clone();
    let reason = refused_by(
        verify_jws(
            &serde_json::to_vec(&envelope).unwrap(),
            TIMESTAMP_DIGEST,
            &policy(TIMESTAMP_POLICY),
            &stores(valid),
            ANY_SCOPE,
            now(),
        ),
        Check::Timestamp,
    );
    assert!(reason.contains("over other bytes"), "{reason}");
}

/// The leaf certificate of a COSE envelope's x5chain.
fn cose_leaf(envelope: &[u8]) -> Vec<customs_verify::x509::Certificate> {
    use coset::{CoseSign1, Label, TaggedCborSerializable};
    let message = CoseSign1::from_tagged_slice(envelope).unwrap();
    let chain = &message
        .unprotected
        .rest
        .iter()
        .find(|(label, _)| *label == Label::Int(33))
        .unwrap()
        .1;
    let der = match chain {
        coset::cbor::value::Value::Array(items) => items[0].as_bytes().unwrap().clone(),
        other => other.as_bytes().unwrap().clone(),
    };
    read_certificates("x5chain[0]", &der).unwrap()
}

#[test]
fn a_cose_envelope_verifies_and_its_late_timestamp_is_refused() {
    // notation-go's timestampAfterNotAfter: signed by a certificate that
    // expired in 2001, stamped in 2024. Its signer is in no store of the
    // folder: trust it as its own anchor, as for the JWS vector.
    let case = "notation-go-timestamp-after-cert-notafter";
    let envelope = read(&format!("{case}/timestampAfterNotAfter.cose"));
    assert_eq!(notation::media_type_of(&envelope), MEDIA_TYPE_COSE);
    let leaf = cose_leaf(&envelope);
    let mut stores = stores(case);
    stores.insert(StoreType::Ca, "valid-trust-store", leaf.clone());
    let verify = |envelope: &[u8], policy_json: &str, at| {
        verify_envelope(
            MEDIA_TYPE_COSE,
            envelope,
            TIMESTAMP_DIGEST,
            &policy(policy_json),
            &stores,
            ANY_SCOPE,
            at,
        )
    };
    // SOURCES' outcome: invalid, the timestamp is after the certificate's end.
    let reason = refused_by(verify(&envelope, TIMESTAMP_POLICY, now()), Check::Timestamp);
    assert!(reason.contains("2001"), "{reason}");
    // Without a tsa store, as of a time inside the certificate's validity,
    // everything else about it holds: the COSE signature, chain and payload.
    let inside = leaf[0].not_before() + chrono::Duration::hours(1);
    let verified = verify(&envelope, NO_TSA_POLICY, inside).unwrap();
    assert_eq!(verified.target_artifact.digest, TIMESTAMP_DIGEST);
    assert_eq!(verified.signing_time, time("2024-06-19T09:35:54Z"));
    refused_by(verify(&envelope, NO_TSA_POLICY, now()), Check::Timestamp);
    // One byte of the payload changed: the signature no longer holds.
    let digest_at = envelope.windows(6).position(|w| w == b"c0669e").unwrap();
    let mut tampered = envelope.clone();
    tampered[digest_at] = b'd';
    let reason = refused_by(verify(&tampered, NO_TSA_POLICY, inside), Check::Signature);
    assert!(reason.contains("PS256"), "{reason}");
    // Not COSE at all.
    refused_by(
        verify(b"\xd2\x84garbage", NO_TSA_POLICY, inside),
        Check::Signature,
    );
    // Where no manifest names the media type, the bytes tell.
    let jws = read("notation-go-jws-with-timestamp/jwsWithTimestamp.jws.json");
    assert_eq!(notation::media_type_of(&jws), MEDIA_TYPE_JWS);
    // Neither: read as JWS, whose reading says what is wrong.
    assert_eq!(
        notation::media_type_of(b"invalid signature"),
        MEDIA_TYPE_JWS
    );
}

fn leaf_of(envelope: &[u8]) -> Vec<customs_verify::x509::Certificate> {
    use base64::Engine as _;
    let json: serde_json::Value = serde_json::from_slice(envelope).unwrap();
    let der = base64::engine::general_purpose::STANDARD
        .decode(json["header"]["x5c"][0].as_str().unwrap())
        .unwrap();
    read_certificates("x5c[0]", &der).unwrap()
}

#[test]
fn timestamped_jws_verify_without_the_timestamp_only_where_it_is_not_needed() {
    // With no tsa store the countersignature is not used: the valid
    // certificate verifies now, the expired one is refused (never saved by
    // an unverified timestamp).
    let case = "notation-go-jws-with-timestamp";
    verify_jws(
        &read(&format!("{case}/jwsWithTimestamp.jws.json")),
        TIMESTAMP_DIGEST,
        &policy(NO_TSA_POLICY),
        &stores(case),
        ANY_SCOPE,
        now(),
    )
    .unwrap();
    let case = "notation-go-jws-expired-cert-with-timestamp";
    let envelope = read(&format!("{case}/jwsExpiredWithTimestamp.jws.json"));
    let mut stores = stores(case);
    stores.insert(StoreType::Ca, "valid-trust-store", leaf_of(&envelope));
    refused_by(
        verify_jws(
            &envelope,
            TIMESTAMP_DIGEST,
            &policy(NO_TSA_POLICY),
            &stores,
            ANY_SCOPE,
            now(),
        ),
        Check::Timestamp,
    );
}

#[test]
fn trust_stores_read_der_and_pem_whatever_the_extension() {
    let stores = stores("notation-go-jws-with-timestamp");
    let tsa = stores.get(StoreType::Tsa, "test-timestamp").unwrap();
    assert_eq!(tsa.len(), 1);
    assert!(
        tsa[0].subject().contains("GlobalSign"),
        "{}",
        tsa[0].subject()
    );
    assert_eq!(
        stores
            .get(StoreType::Ca, "valid-trust-store")
            .unwrap()
            .len(),
        1
    );
    assert!(
        read_certificates(
            "x.pem",
            b"-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"
        )
        .is_err()
    );
}

#[test]
fn trust_policies_are_refused_where_notation_refuses_them() {
    let refused = |json: &str, what: &str| {
        let error = TrustPolicy::from_json("p.json", json.as_bytes()).unwrap_err();
        assert!(!error.is_refusal());
        assert!(error.to_string().contains(what), "{error}");
    };
    let statement = |scopes: &str, identities: &str| {
        format!(
            r#"{{"version":"1.0","trustPolicies":[{{"name":"a","registryScopes":{scopes},
            "signatureVerification":{{"level":"strict"}},"trustStores":["ca:x"],
            "trustedIdentities":{identities}}}]}}"#
        )
    };
    refused(&statement(r#"["*","r.io/a"]"#, r#"["*"]"#), "stands alone");
    refused(
        &statement(r#"["r.io/a"]"#, r#"["x509.subject: C=US, O=Acme"]"#),
        "lacks ST",
    );
    refused(
        &statement(
            r#"["r.io/a"]"#,
            r#"["*","x509.subject: C=US, ST=WA, O=Acme"]"#,
        ),
        "stands alone",
    );
    refused(
        &statement(r#"["r.io/a"]"#, r#"["email:a@b"]"#),
        "x509.subject",
    );
    refused(
        &statement(r#"["r.io/a"]"#, r#"["*"]"#).replace("1.0", "2.0"),
        "version",
    );
    refused(
        &statement(r#"["r.io/a"]"#, r#"["*"]"#).replace("ca:x", "cert:x"),
        "ca:NAME",
    );
    refused(
        &statement(r#"["r.io/a"]"#, r#"["*"]"#).replace("strict", "lenient"),
        "level",
    );
    let two = r#"{"version":"1.0","trustPolicies":[
        {"name":"a","registryScopes":["r.io/a"],"signatureVerification":{"level":"strict"},"trustStores":["ca:x"],"trustedIdentities":["*"]},
        {"name":"b","registryScopes":["r.io/a"],"signatureVerification":{"level":"strict"},"trustStores":["ca:x"],"trustedIdentities":["*"]}]}"#;
    refused(two, "more than one statement");
    // The scope's own statement wins over *.
    let both = r#"{"version":"1.0","trustPolicies":[
        {"name":"any","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:x"],"trustedIdentities":["*"]},
        {"name":"a","registryScopes":["r.io/a"],"signatureVerification":{"level":"audit"},"trustStores":["ca:x"],"trustedIdentities":["x509.subject: C=US, ST=WA, O=A\\, Inc."]}]}"#;
    let both = policy(both);
    assert_eq!(both.statement_for("r.io/a").unwrap().name, "a");
    assert_eq!(both.statement_for("r.io/b").unwrap().name, "any");
    let TrustedIdentities::Subjects(names) =
        &both.statement_for("r.io/a").unwrap().trusted_identities
    else {
        panic!("expected subjects");
    };
    assert!(
        names[0]
            .attributes
            .contains(&("O".to_owned(), "A, Inc.".to_owned()))
    );
}

#[test]
fn a_timestamp_token_verifies_by_itself_and_no_mangled_copy_does() {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use customs_verify::{TimestampTrust, verify_timestamp};
    let case = "notation-go-jws-with-timestamp";
    let envelope: serde_json::Value =
        serde_json::from_slice(&read(&format!("{case}/jwsWithTimestamp.jws.json"))).unwrap();
    let token = STANDARD
        .decode(
            envelope["header"]["io.cncf.notary.timestampSignature"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let signature = URL_SAFE_NO_PAD
        .decode(envelope["signature"].as_str().unwrap())
        .unwrap();
    let stores = stores(case);
    let roots = stores.get(StoreType::Tsa, "test-timestamp").unwrap();
    let verify = |token: &[u8], signed: &[u8]| {
        verify_timestamp("token", token, signed, TimestampTrust::Roots(roots))
    };
    let stamp = verify(&token, &signature).unwrap();
    assert_eq!(stamp.time, time("2024-06-18T06:29:37Z"));
    // GlobalSign states an accuracy of one second.
    assert_eq!(
        stamp.bounds(),
        [time("2024-06-18T06:29:36Z"), time("2024-06-18T06:29:38Z")]
    );
    // Another signature: the imprint does not match.
    let mut other = signature.clone();
    other[0] ^= 1;
    refused_by(verify(&token, &other), Check::Timestamp);
    // Another root store: the authority is not trusted.
    let mismatch = stores.get(StoreType::Tsa, "test-mismatch").unwrap();
    refused_by(
        verify_timestamp("token", &token, &signature, TimestampTrust::Roots(mismatch)),
        Check::Timestamp,
    );
    // Every truncation fails; every single-bit flip fails or, where it lands
    // in bytes no check covers (an unused certificate), still says the same
    // time; none panics.
    for length in 0..token.len() {
        assert!(verify(&token[..length], &signature).is_err(), "{length}");
    }
    let mut still_verified = 0;
    // (Every fifth byte: each try is an RSA verification.)
    for index in (0..token.len()).step_by(5) {
        let mut flipped = token.clone();
        flipped[index] ^= 0x10;
        if let Ok(other) = verify(&flipped, &signature) {
            assert_eq!(other.time, stamp.time, "byte {index}");
            still_verified += 1;
        }
    }
    eprintln!("{still_verified} of {} flips still verify", token.len() / 5);
    assert!(still_verified < token.len() / 10, "{still_verified}");
}

#[test]
fn a_timestamp_authority_issued_by_an_end_entity_certificate_is_refused() {
    use customs_verify::{TimestampTrust, verify_timestamp};
    // tests/data/notation-forgeries/generate.py: a root R issues an
    // end-entity certificate E (CA:FALSE), whose key issues "Forged TSA".
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/notation-forgeries");
    let root = read_certificates(
        "tsaroot.der",
        &std::fs::read(data.join("tsaroot.der")).unwrap(),
    )
    .unwrap();
    let token = std::fs::read(data.join("forged.tst")).unwrap();
    let reason = refused_by(
        verify_timestamp(
            "forged.tst",
            &token,
            b"signature",
            TimestampTrust::Roots(&root),
        ),
        Check::Timestamp,
    );
    assert!(reason.contains("is not a CA"), "{reason}");
}
