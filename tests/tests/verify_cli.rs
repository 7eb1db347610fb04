//! `customs verify` on the published vectors of ../shared/corpus/verify:
//! exit 0 and what verified, exit 1 and the check that failed, exit 2 for
//! input that cannot be read.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use assert_cmd::Command;

fn vector(path: &str) -> PathBuf {
    customs_tests::corpus_dir().join("verify").join(path)
}

/// Runs `customs verify ARGS`: (exit code, stdout, stderr).
fn verify(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (i32, String, String) {
    let output = Command::cargo_bin("customs")
        .unwrap()
        .arg("verify")
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

const BUSYBOX: &str = "cosign/sigstore-rs-keyed-ecdsa-busybox";
const BUSYBOX_DIGEST: &str =
    "sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b";
const TESTIMAGE: &str = "cosign/connaisseur-testimage-keyed-alice";
const TESTIMAGE_DIGEST: &str =
    "sha256:071bf7a986f1ca9cb2a1f0bc8392822a7777f90d58f2d2c6f271913e08de7c81";

#[test]
fn cosign_signatures_verify_for_their_digest_and_key_only() {
    let key = vector(&format!("{BUSYBOX}/cosign.pub"));
    let signature = vector(&format!("{BUSYBOX}/signature.b64"));
    let payload = vector(&format!("{BUSYBOX}/payload.json"));
    let (code, out, _) = verify(&[
        &"--key",
        &key,
        &"--signature",
        &signature,
        &"--payload",
        &payload,
        &BUSYBOX_DIGEST,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with(&format!("verified: cosign signature of {BUSYBOX_DIGEST}")),
        "{out}"
    );

    let other = format!("sha256:{}", "1".repeat(64));
    let (code, out, _) = verify(&[
        &"--key",
        &key,
        &"--signature",
        &signature,
        &"--payload",
        &payload,
        &other,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("NOT VERIFIED (image-digest)"), "{out}");

    // The signature manifest stored beside the image, with alice's and bob's keys.
    let manifest = vector(&format!("{TESTIMAGE}/signature-manifest.json"));
    let payload = vector(&format!("{TESTIMAGE}/simplesigning-payload.json"));
    for (owner, expected) in [("alice", 0), ("bob", 1)] {
        let key = vector(&format!("{TESTIMAGE}/{owner}.pub"));
        let (code, out, _) = verify(&[
            &"--key",
            &key,
            &"--signature",
            &manifest,
            &"--payload",
            &payload,
            &TESTIMAGE_DIGEST,
            &"--format",
            &"json",
        ]);
        assert_eq!(code, expected, "{owner}: {out}");
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json["verified"], expected == 0, "{out}");
        if expected == 1 {
            assert_eq!(json["check"], "signature", "{out}");
        }
    }
}

#[test]
fn attestations_verify_for_the_blob_their_subject_names() {
    for (case, expected, check) in [
        ("slsa-v0.2", 0, None),
        ("empty-subject", 1, Some("(subject)")),
        ("multiple-subjects-none-match", 1, Some("(subject)")),
    ] {
        let dir = format!("in-toto/cosign-blob-attestation-{case}");
        let (code, out, err) = verify(&[
            &"--key",
            &vector(&format!("{dir}/cosign.pub")),
            &"--attestation",
            &vector(&format!("{dir}/attestation.intoto.json")),
            &vector(&format!("{dir}/blob")),
        ]);
        assert_eq!(code, expected, "{case}: {out}{err}");
        match check {
            None => assert!(out.contains("https://slsa.dev/provenance/v0.2"), "{out}"),
            Some(check) => assert!(out.contains(check), "{case}: {out}"),
        }
    }
}

#[test]
fn unreadable_input_exits_2_naming_the_file() {
    let dir = "in-toto/cosign-blob-attestation-slsa-v0.2";
    let key = vector(&format!("{dir}/cosign.pub"));
    let envelope = vector(&format!("{dir}/attestation.intoto.json"));
    let blob = vector(&format!("{dir}/blob"));
    let not_json = vector("SOURCES.md");
    for (args, names) in [
        (
            vec![
                &"--key" as &dyn AsRef<std::ffi::OsStr>,
                &not_json,
                &"--attestation",
                &envelope,
                &blob,
            ],
            "SOURCES.md",
        ),
        (
            vec![&"--key", &key, &"--attestation", &not_json, &blob],
            "SOURCES.md: not a DSSE envelope",
        ),
        (
            vec![&"--key", &key, &"--attestation", &envelope, &"missing-file"],
            "cannot read missing-file",
        ),
        (
            vec![&"--key", &key, &"--attestation", &envelope, &"sha256:12"],
            "64 hex digits",
        ),
    ] {
        let (code, out, err) = verify(&args);
        assert_eq!(code, 2, "{out}{err}");
        assert!(err.contains(names), "{err}");
        assert!(out.is_empty(), "{out}");
    }
}

const BEACON: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ACTIONS: &str = "https://token.actions.githubusercontent.com";

/// `customs verify` as the sigstore-conformance client protocol calls it.
fn verify_bundle_case(case: &str, identity: &str, issuer: &str) -> (i32, String, String) {
    let dir = format!("sigstore-bundle/{case}");
    verify(&[
        &"--bundle",
        &vector(&format!("{dir}/bundle.sigstore.json")),
        &"--certificate-identity",
        &identity,
        &"--certificate-oidc-issuer",
        &issuer,
        &"--trusted-root",
        &vector(&format!("{dir}/trusted_root.json")),
        &vector(&format!("{dir}/artifact")),
    ])
}

#[test]
fn sigstore_bundles_verify_for_the_identity_and_issuer_asked() {
    let (code, out, err) = verify_bundle_case("conformance-happy-path-v0.1", BEACON, ACTIONS);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("signed by {BEACON} ({ACTIONS})")),
        "{out}"
    );
    // Only the certificate says who signed: another identity or issuer is refused.
    let (code, out, _) = verify_bundle_case(
        "conformance-happy-path-v0.1",
        "release@acme.example",
        ACTIONS,
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("NOT VERIFIED (identity)"), "{out}");
    let (code, out, _) = verify_bundle_case(
        "conformance-happy-path-v0.1",
        BEACON,
        "https://accounts.google.com",
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("NOT VERIFIED (identity)"), "{out}");
    for (case, check) in [
        ("conformance-signature-mismatch_fail", "(signature)"),
        ("conformance-wrong-material_fail", "(artifact-digest)"),
        (
            "conformance-invalid-inclusion-proof_fail",
            "(transparency-log)",
        ),
    ] {
        let (code, out, err) = verify_bundle_case(case, BEACON, ACTIONS);
        assert_eq!(code, 1, "{case}: {out}{err}");
        assert!(out.contains(check), "{case}: {out}");
    }
    let (code, out, err) =
        verify_bundle_case("conformance-bundle-malformed-json_fail", BEACON, ACTIONS);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("bundle.sigstore.json: not JSON"), "{err}");
}

#[test]
fn key_signed_and_attestation_bundles_verify() {
    let dir = "sigstore-bundle/conformance-managed-key-happy-path";
    let bundle = vector(&format!("{dir}/bundle.sigstore.json"));
    let root = vector(&format!("{dir}/trusted_root.json"));
    let artifact = vector(&format!("{dir}/artifact"));
    let key = vector(&format!("{dir}/key.pub"));
    let (code, out, err) = verify(&[
        &"--bundle",
        &bundle,
        &"--key",
        &key,
        &"--trusted-root",
        &root,
        &artifact,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("signed by key sha256:"), "{out}");
    // A key-signed bundle does not pass for an identity (its hint is no key).
    let (code, out, _) = verify(&[
        &"--bundle",
        &bundle,
        &"--trusted-root",
        &root,
        &"--certificate-identity",
        &BEACON,
        &"--certificate-oidc-issuer",
        &ACTIONS,
        &artifact,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("NOT VERIFIED (identity)"), "{out}");

    // cosign attest's bundle for an image: the statement must name the digest decided.
    let dir = "in-toto/cosign-oci-attestation-bundle";
    let image = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4";
    let other = format!("sha256:{}", "7".repeat(64));
    for (digest, expected) in [(image, 0), (other.as_str(), 1)] {
        let (code, out, err) = verify(&[
            &"--bundle",
            &vector(&format!("{dir}/bundle.sigstore.json")),
            &"--trusted-root",
            &vector(&format!("{dir}/trusted_root.json")),
            &"--certificate-identity",
            &"cody@soyland.com",
            &"--certificate-oidc-issuer",
            &"https://github.com/login/oauth",
            &digest,
        ]);
        assert_eq!(code, expected, "{digest}: {out}{err}");
        if expected == 0 {
            assert!(
                out.starts_with("verified: Sigstore bundle attestation ("),
                "{out}"
            );
        }
    }
}

/// `customs eval --format json ARGS`: the `signed` policy's decision and
/// findings, and stderr.
fn signed_policy(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (String, Vec<String>, String) {
    signed_policy_at("2026-12-01T00:00:00Z", args)
}

/// [`signed_policy`] as of `now`.
fn signed_policy_at(
    now: &str,
    args: &[&dyn AsRef<std::ffi::OsStr>],
) -> (String, Vec<String>, String) {
    let output = Command::cargo_bin("customs")
        .unwrap()
        .args(["eval", "--format", "json", "--now", now])
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    let decision: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not a decision ({e}): {stderr}"));
    let signed = decision["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "signed")
        .unwrap()
        .clone();
    let findings = signed["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap().to_owned())
        .collect();
    (
        signed["decision"].as_str().unwrap().to_owned(),
        findings,
        stderr,
    )
}

#[test]
fn eval_counts_the_signatures_customs_verified_itself() {
    let key = vector(&format!("{BUSYBOX}/cosign.pub"));
    let bob = vector(&format!("{TESTIMAGE}/bob.pub"));
    let signature = vector(&format!("{BUSYBOX}/signature.b64"));
    let payload = vector(&format!("{BUSYBOX}/payload.json"));

    // Correctly signed: allowed by the baseline's `signed` rule.
    let (decision, findings, _) =
        signed_policy(&[&"--trusted-key", &key, &"--signature", &signature, &payload]);
    assert_eq!(decision, "allow", "{findings:?}");
    // Signed with another key than the trusted one: denied, and said why.
    let (decision, _, stderr) =
        signed_policy(&[&"--trusted-key", &bob, &"--signature", &signature, &payload]);
    assert_eq!(decision, "deny");
    assert!(stderr.contains("not verified (signature)"), "{stderr}");
    // A payload without its signature checked: denied.
    let (decision, _, _) = signed_policy(&[&payload]);
    assert_eq!(decision, "deny");
    // A key signature names no signer: an identity requirement is not met.
    let (decision, findings, _) = signed_policy(&[
        &"--trusted-key",
        &key,
        &"--signature",
        &signature,
        &payload,
        &"--param",
        &"signed.identity=release@acme.com",
    ]);
    assert_eq!(decision, "deny", "{findings:?}");
}

#[test]
fn signer_annotations_written_by_the_signer_do_not_make_an_identity() {
    // `cosign sign --key k -a Subject=release@acme.com -a Issuer=...` makes
    // cosign verify print these as if they named the signer.
    let payload: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vector(&format!("{BUSYBOX}/payload.json"))).unwrap())
            .unwrap();
    let forged = serde_json::json!([{
        "critical": payload["critical"],
        "optional": {
            "Subject": "release@acme.com",
            "Issuer": "https://token.actions.githubusercontent.com"
        }
    }]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cosign-verify.json");
    std::fs::write(&path, forged.to_string()).unwrap();
    let identity = "signed.identity=release@acme.com";
    let (decision, findings, _) = signed_policy(&[&path, &"--param", &identity]);
    assert_eq!(decision, "deny", "{findings:?}");
    assert!(
        findings[0].contains("0 verified by customs, 1 reported verified by a tool"),
        "{findings:?}"
    );
    // Only a bundle that relaxes the rule (documented as weaker) takes the tool's word.
    let (decision, _, _) = signed_policy(&[
        &path,
        &"--param",
        &identity,
        &"--param",
        &"signed.accept-reported=true",
    ]);
    assert_eq!(decision, "allow");
}

#[test]
fn notation_envelopes_verify_against_the_trust_store_and_policy() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("trustpolicy.json");
    std::fs::write(
        &policy,
        serde_json::json!({"version": "1.0", "trustPolicies": [{
            "name": "net-monitor",
            "registryScopes": ["registry.acme-rockets.io/software/net-monitor"],
            "signatureVerification": {"level": "strict"},
            "trustStores": ["ca:valid-trust-store", "signingAuthority:valid-trust-store"],
            "trustedIdentities": ["x509.subject:CN=Notation Test Root,O=Notary,L=Seattle,ST=WA,C=US"]
        }]})
        .to_string(),
    )
    .unwrap();
    let store = vector("notation/notation-go-mock-ca-valid/truststore");
    let digest = "sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e";
    let scope = "registry.acme-rockets.io/software/net-monitor";
    let run = |case: &str, scope: &str| {
        verify(&[
            &"--notation-envelope",
            &vector(&format!("notation/{case}/signature.jws.json")),
            &"--trust-store",
            &store,
            &"--trust-policy",
            &policy,
            &"--scope",
            &scope,
            &digest,
        ])
    };
    let (code, out, err) = run("notation-go-mock-ca-valid", scope);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("trust store ca:valid-trust-store"), "{out}");
    let (code, out, _) = run("notation-go-mock-ca-invalid", scope);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("NOT VERIFIED (signature)"), "{out}");
    let (code, out, _) = run("notation-go-mock-ca-valid", "registry.example/other");
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("NOT VERIFIED (trust-policy)"), "{out}");
    // A trust policy that is not one: exit 2, naming the file.
    std::fs::write(&policy, "{}").unwrap();
    let (code, _, err) = run("notation-go-mock-ca-valid", scope);
    assert_eq!(code, 2);
    assert!(
        err.contains("trustpolicy.json: not a Notation trust policy"),
        "{err}"
    );
}

#[test]
fn keyless_cosign_signatures_beside_the_image_verify_for_their_signer() {
    let dir = "cosign/connaisseur-rekor-test-keyless";
    let manifest = vector(&format!("{dir}/signature-manifest.json"));
    let payload = vector(&format!("{dir}/simplesigning-payload.json"));
    let root = vector(&format!("{dir}/trusted_root.json"));
    let digest = "sha256:31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee";
    let signer = "philipp.belitz@securesystems.de";
    let issuer = "https://github.com/login/oauth";
    let (code, out, err) = verify(&[
        &"--signature",
        &manifest,
        &"--payload",
        &payload,
        &"--trusted-root",
        &root,
        &"--certificate-identity",
        &signer,
        &"--certificate-oidc-issuer",
        &issuer,
        &digest,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("by {signer} ({issuer})")), "{out}");
    let (code, out, _) = verify(&[
        &"--signature",
        &manifest,
        &"--payload",
        &payload,
        &"--trusted-root",
        &root,
        &"--certificate-identity",
        &"release@acme.example",
        &"--certificate-oidc-issuer",
        &issuer,
        &digest,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("NOT VERIFIED (identity)"), "{out}");

    // In eval, the identity comes from the certificate customs checked.
    let identity = format!("signed.identity={signer}");
    let trusted = [
        &"--signature" as &dyn AsRef<std::ffi::OsStr>,
        &manifest,
        &"--trusted-root",
        &root,
        &"--certificate-identity",
        &signer,
        &"--certificate-oidc-issuer",
        &issuer,
        &"--param",
        &identity,
        &payload,
    ];
    let (decision, findings, _) = signed_policy(&trusted);
    assert_eq!(decision, "allow", "{findings:?}");
    let other = "signed.identity=release@acme.example";
    let (decision, _, _) = signed_policy(&[
        &"--signature",
        &manifest,
        &"--trusted-root",
        &root,
        &"--certificate-identity",
        &signer,
        &"--certificate-oidc-issuer",
        &issuer,
        &"--param",
        &other,
        &payload,
    ]);
    assert_eq!(decision, "deny");
}

/// notation's end-to-end vectors: the image manifest (tagged v1) and the
/// layer of its signature manifest, in the vector's OCI layout.
fn notation_e2e(case: &str) -> (PathBuf, PathBuf) {
    let layout = vector(&format!("notation/{case}/oci-layout"));
    let blob = |digest: &str| {
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let json = |path: &PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let index = json(&layout.join("index.json"));
    let manifests = index["manifests"].as_array().unwrap();
    let image = manifests
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "v1")
        .unwrap()["digest"]
        .as_str()
        .unwrap();
    let envelope = manifests
        .iter()
        .map(|m| json(&blob(m["digest"].as_str().unwrap())))
        .find(|m| m["config"]["mediaType"] == "application/vnd.cncf.notary.signature")
        .unwrap()["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    (blob(image), blob(&envelope))
}

#[test]
fn eval_counts_notation_signatures_customs_verified_itself() {
    let run_at = |case: &str, now: &str| {
        let (image, envelope) = notation_e2e(case);
        let dir = vector(&format!("notation/{case}"));
        signed_policy_at(
            now,
            &[
                &image,
                &"--notation-envelope",
                &envelope,
                &"--trust-store",
                &dir.join("truststore"),
                &"--trust-policy",
                &dir.join("trustpolicy.json"),
            ],
        )
    };
    let run = |case: &str, now: Option<&str>| run_at(case, now.unwrap_or("2026-12-01T00:00:00Z"));
    let (decision, findings, stderr) = run("notation-e2e-valid-signature", None);
    assert_eq!(decision, "allow", "{findings:?} {stderr}");
    // The envelope's signature bytes were changed: not counted, and said why.
    let (decision, _, stderr) = run("notation-e2e-invalid-signature", None);
    assert_eq!(decision, "deny");
    assert!(stderr.contains("not verified (signature)"), "{stderr}");
    // The signing certificate lived for minutes on 2023-06-27: verified as
    // of --now inside them, refused as of today's --now.
    let (decision, _, stderr) = run("notation-e2e-expired-signing-cert", None);
    assert_eq!(decision, "deny");
    assert!(stderr.contains("not verified (timestamp)"), "{stderr}");
    let (decision, findings, _) = run(
        "notation-e2e-expired-signing-cert",
        Some("2023-06-27T06:09:00Z"),
    );
    assert_eq!(decision, "allow", "{findings:?}");
}

/// tests/data/notation-forgeries (generate.py): envelopes over the digest of
/// notation's e2e image, with a ca store, a tsa store and three policies.
fn forgery(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/notation-forgeries")
        .join(name)
}

#[test]
fn no_lenient_level_or_forged_timestamp_makes_a_notation_signature_count() {
    let (image, _) = notation_e2e("notation-e2e-valid-signature");
    let run = |envelope: &str, policy: &str| {
        signed_policy(&[
            &image,
            &"--notation-envelope",
            &forgery(envelope),
            &"--trust-store",
            &forgery("store"),
            &"--trust-policy",
            &forgery(policy),
        ])
    };
    // The control: a signer whose certificate expired in 2021, stamped in
    // 2020 by a TSA its tsa root issued.
    let (decision, findings, stderr) = run("real-tsa.jws", "policy-strict-tsa.json");
    assert_eq!(decision, "allow", "{findings:?} {stderr}");
    // The same, stamped by a "TSA" an end-entity certificate under the root
    // issued: the timestamp does not count, so the expired signer does not.
    let (decision, _, stderr) = run("forged-tsa.jws", "policy-strict-tsa.json");
    assert_eq!(decision, "deny");
    assert!(stderr.contains("not a CA"), "{stderr}");
    // A self-signed signer under an audit statement, an expired one under a
    // permissive one: accepted by Notation's levels, never verified here.
    let (decision, _, stderr) = run("selfsigned.jws", "policy-audit.json");
    assert_eq!(decision, "deny");
    assert!(stderr.contains("only logs checks that failed"), "{stderr}");
    let (decision, _, stderr) = run("expired-no-ts.jws", "policy-permissive.json");
    assert_eq!(decision, "deny");
    assert!(stderr.contains("only logs checks that failed"), "{stderr}");
    // customs verify says the same.
    let digest = "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9";
    let (code, out, _) = verify(&[
        &"--notation-envelope",
        &forgery("selfsigned.jws"),
        &"--trust-store",
        &forgery("store"),
        &"--trust-policy",
        &forgery("policy-audit.json"),
        &digest,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("NOT VERIFIED (trust-policy)"), "{out}");
    // "O=Evil, O=Acme" under a statement that trusts O=Acme.
    let (code, out, _) = verify(&[
        &"--notation-envelope",
        &forgery("repeated-o.jws"),
        &"--trust-store",
        &forgery("store"),
        &"--trust-policy",
        &forgery("policy-identity.json"),
        &digest,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("NOT VERIFIED (identity)"), "{out}");
}
