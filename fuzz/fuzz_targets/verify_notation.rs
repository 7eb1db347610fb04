//! Any bytes read as a Notation JWS and COSE envelope and verified under notation-go's
//! mock trust policy and CA trust store at a fixed time; the same bytes read
//! as a trust policy. An error, never a panic.
#![no_main]

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use customs_verify::notation::{MEDIA_TYPE_COSE, StoreType, read_certificates, verify_envelope};
use customs_verify::{TrustPolicy, TrustStores, verify_jws};

const ROOT: &[u8] = include_bytes!(
    "../../../shared/corpus/verify/notation/notation-go-mock-ca-valid/truststore/x509/ca/valid-trust-store/NotationTestRoot.pem"
);
/// notation-go's dummyOCIPolicyDocument (helpers_test.go), as verify/tests/notation.rs uses it.
const POLICY: &str = r#"{"version":"1.0","trustPolicies":[{
    "name":"test-statement-name",
    "registryScopes":["registry.acme-rockets.io/software/net-monitor"],
    "signatureVerification":{"level":"strict"},
    "trustStores":["ca:valid-trust-store","signingAuthority:valid-trust-store"],
    "trustedIdentities":["x509.subject:CN=Notation Test Root,O=Notary,L=Seattle,ST=WA,C=US"]}]}"#;
const SCOPE: &str = "registry.acme-rockets.io/software/net-monitor";
const DIGEST: &str = "sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e";

fn fixed() -> &'static (TrustPolicy, TrustStores, DateTime<Utc>) {
    static FIXED: OnceLock<(TrustPolicy, TrustStores, DateTime<Utc>)> = OnceLock::new();
    FIXED.get_or_init(|| {
        let policy = TrustPolicy::from_json("trustpolicy.json", POLICY.as_bytes())
            .expect("the mock policy reads");
        let certificates =
            read_certificates("NotationTestRoot.pem", ROOT).expect("the mock root reads");
        let mut stores = TrustStores::new();
        stores.insert(StoreType::Ca, "valid-trust-store", certificates.clone());
        stores.insert(
            StoreType::SigningAuthority,
            "valid-trust-store",
            certificates,
        );
        let now = DateTime::parse_from_rfc3339("2026-12-02T00:00:00Z")
            .expect("a fixed time")
            .to_utc();
        (policy, stores, now)
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (policy, stores, now) = fixed();
    let _ = verify_jws(data, DIGEST, policy, stores, SCOPE, *now);
    let _ = verify_envelope(MEDIA_TYPE_COSE, data, DIGEST, policy, stores, SCOPE, *now);
    let _ = TrustPolicy::from_json("fuzz", data);
});
