//! The published vectors of `../shared/corpus/verify` (see its SOURCES.md
//! for each one's origin and expected outcome), and tampered copies of them.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use customs_verify::dsse::{Envelope, verify_attestation};
use customs_verify::{Check, Error, KeyAlgorithm, PublicKey, cosign, sha256_digest};

/// A file of the corpus (`CUSTOMS_CORPUS`, as the other corpus tests read it).
fn vector(path: &str) -> PathBuf {
    std::env::var_os("CUSTOMS_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"))
        .join("verify")
        .join(path)
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(vector(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn key(path: &str) -> PublicKey {
    PublicKey::from_pem(path, &read(path)).unwrap()
}

fn refused_by(result: Result<impl std::fmt::Debug, Error>, expected: Check) -> String {
    match result {
        Err(Error::Refused { check, reason }) if check == expected => reason,
        other => panic!("expected a refusal by the {expected} check, got {other:?}"),
    }
}

const BUSYBOX: &str = "cosign/sigstore-rs-keyed-ecdsa-busybox";
const BUSYBOX_DIGEST: &str =
    "sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b";
const TESTIMAGE: &str = "cosign/connaisseur-testimage-keyed-alice";
const TESTIMAGE_DIGEST: &str =
    "sha256:071bf7a986f1ca9cb2a1f0bc8392822a7777f90d58f2d2c6f271913e08de7c81";

#[test]
fn a_cosign_key_signature_verifies_for_its_image_digest() {
    let key = key(&format!("{BUSYBOX}/cosign.pub"));
    assert_eq!(key.algorithm(), KeyAlgorithm::EcdsaP256);
    let payload = read(&format!("{BUSYBOX}/payload.json"));
    let signature = String::from_utf8(read(&format!("{BUSYBOX}/signature.b64"))).unwrap();
    let verified =
        cosign::verify_simple_signing(&payload, &signature, &key, Some(BUSYBOX_DIGEST)).unwrap();
    assert_eq!(verified.image_digest, BUSYBOX_DIGEST);
    assert_eq!(
        verified.docker_reference.as_deref(),
        Some("registry-testing.svc.lan/busybox")
    );
    assert_eq!(verified.key_id, key.id());
    assert!(key.id().starts_with("sha256:") && key.id().len() == 71);

    // The same signature over other bytes (sigstore-rs's failure case).
    refused_by(
        cosign::verify_simple_signing(b"hello world", &signature, &key, None),
        Check::Signature,
    );
    // One byte of the payload changed.
    let mut tampered = payload.clone();
    let at = tampered.iter().position(|b| *b == b'f').unwrap();
    tampered[at] = b'e';
    refused_by(
        cosign::verify_simple_signing(&tampered, &signature, &key, None),
        Check::Signature,
    );
    // A valid signature for another image than the one decided.
    let reason = refused_by(
        cosign::verify_simple_signing(
            &payload,
            &signature,
            &key,
            Some(&format!("sha256:{}", "0".repeat(64))),
        ),
        Check::ImageDigest,
    );
    assert!(reason.contains(BUSYBOX_DIGEST), "{reason}");
}

#[test]
fn a_signature_manifest_verifies_with_alices_key_and_not_bobs() {
    let manifest = read(&format!("{TESTIMAGE}/signature-manifest.json"));
    let signatures = cosign::manifest_signatures("signature-manifest.json", &manifest).unwrap();
    assert_eq!(signatures.len(), 1);
    let (layer, signature) = (&signatures[0].layer_digest, &signatures[0].signature);
    assert_eq!(signatures[0].certificate, None);
    let payload = read(&format!("{TESTIMAGE}/simplesigning-payload.json"));
    // The layer the signature sits on is the payload.
    assert_eq!(*layer, sha256_digest(&payload));
    let alice = key(&format!("{TESTIMAGE}/alice.pub"));
    let bob = key(&format!("{TESTIMAGE}/bob.pub"));
    assert_ne!(alice.id(), bob.id());
    let verified =
        cosign::verify_simple_signing(&payload, signature, &alice, Some(TESTIMAGE_DIGEST)).unwrap();
    assert_eq!(verified.key_id, alice.id());
    refused_by(
        cosign::verify_simple_signing(&payload, signature, &bob, Some(TESTIMAGE_DIGEST)),
        Check::Signature,
    );
}

#[test]
fn identity_annotations_of_a_key_signed_payload_are_not_read() {
    // A payload whose `optional` claims a keyless identity: verified, but
    // the result carries the key, never the claimed subject or issuer.
    let key = key(&format!("{BUSYBOX}/cosign.pub"));
    let payload = read(&format!("{BUSYBOX}/payload.json"));
    let signature = String::from_utf8(read(&format!("{BUSYBOX}/signature.b64"))).unwrap();
    let verified = cosign::verify_simple_signing(&payload, &signature, &key, None).unwrap();
    let json = serde_json::to_value(&verified).unwrap();
    assert_eq!(
        json.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["docker_reference", "image_digest", "key_id"]
    );
}

const BLOB_ATTESTATIONS: &str = "in-toto/cosign-blob-attestation";

fn blob_case(case: &str) -> (Envelope, PublicKey, String) {
    let dir = format!("{BLOB_ATTESTATIONS}-{case}");
    let envelope = Envelope::from_json(
        "attestation.intoto.json",
        &read(&format!("{dir}/attestation.intoto.json")),
    )
    .unwrap();
    (
        envelope,
        key(&format!("{dir}/cosign.pub")),
        sha256_digest(&read(&format!("{dir}/blob"))),
    )
}

#[test]
fn an_slsa_attestation_verifies_for_its_blob() {
    let (envelope, key, blob) = blob_case("slsa-v0.2");
    let verified = verify_attestation(&envelope, &key, &blob).unwrap();
    assert_eq!(verified.predicate_type, "https://slsa.dev/provenance/v0.2");
    assert_eq!(verified.subject_digest, blob);
    assert_eq!(verified.statement.predicate["builder"]["id"], "2");
    // Another artifact than the one the statement is about.
    refused_by(
        verify_attestation(&envelope, &key, &sha256_digest(b"other")),
        Check::Subject,
    );
    // One byte of the payload changed: the signature no longer covers it.
    let mut tampered = envelope.clone();
    let last = tampered.payload.len() - 2;
    tampered.payload[last] ^= 1;
    refused_by(verify_attestation(&tampered, &key, &blob), Check::Signature);
    // One byte of the signature changed.
    let mut tampered = envelope.clone();
    let sig = &mut tampered.signatures[0].1;
    let middle = sig.len() / 2;
    sig[middle] ^= 0x40;
    refused_by(verify_attestation(&tampered, &key, &blob), Check::Signature);
    // The payload type is signed too.
    let mut tampered = envelope;
    tampered.payload_type = "application/json".into();
    refused_by(verify_attestation(&tampered, &key, &blob), Check::Signature);
    // Another key.
    let other = self::key(&format!("{TESTIMAGE}/bob.pub"));
    let (envelope, _, _) = blob_case("slsa-v0.2");
    refused_by(
        verify_attestation(&envelope, &other, &blob),
        Check::Signature,
    );
}

#[test]
fn attestations_whose_subjects_miss_the_blob_are_refused() {
    let (envelope, key, blob) = blob_case("empty-subject");
    let reason = refused_by(verify_attestation(&envelope, &key, &blob), Check::Subject);
    assert!(reason.contains("no subject"), "{reason}");
    let (envelope, key, blob) = blob_case("multiple-subjects-none-match");
    let reason = refused_by(verify_attestation(&envelope, &key, &blob), Check::Subject);
    assert!(reason.contains(&blob), "{reason}");
}

#[test]
fn unreadable_keys_envelopes_and_signatures_name_what_is_wrong() {
    let error = PublicKey::from_pem("k.pub", b"not a key").unwrap_err();
    assert!(!error.is_refusal());
    assert!(
        error.to_string().starts_with("k.pub: not a PEM public key"),
        "{error}"
    );
    let error = Envelope::from_json("a.json", b"{\"payloadType\":1}").unwrap_err();
    assert!(
        error.to_string().starts_with("a.json: not a DSSE envelope"),
        "{error}"
    );
    let error = Envelope::from_json(
        "a.json",
        br#"{"payloadType":"x","payload":"e30=","signatures":[]}"#,
    )
    .unwrap_err();
    assert!(error.to_string().contains("no signature"), "{error}");
    let key = key(&format!("{BUSYBOX}/cosign.pub"));
    let error = cosign::verify_simple_signing(b"{}", "%%%", &key, None).unwrap_err();
    assert!(error.to_string().contains("not base64"), "{error}");
    // A key file with a comment line before the block reads.
    let mut commented = b"# release key\n".to_vec();
    commented.extend(read(&format!("{BUSYBOX}/cosign.pub")));
    assert_eq!(
        PublicKey::from_pem("c.pub", &commented).unwrap().id(),
        key.id()
    );
}
