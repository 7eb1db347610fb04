//! Any bytes read as a Sigstore bundle, and what reads verified against the
//! conformance happy path's trust root: an error, never a panic.
#![no_main]

use std::sync::OnceLock;

use customs_verify::{Bundle, Identity, Policy, TrustedRoot, verify_bundle};

const TRUSTED_ROOT: &[u8] = include_bytes!(
    "../../../shared/corpus/verify/sigstore-bundle/conformance-happy-path-v0.1/trusted_root.json"
);
/// The happy path's artifact, identity and issuer, so that its bundle (a
/// seed) verifies and mutations of it reach every check.
const DIGEST: &str = "sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf";
const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn fixed() -> &'static (TrustedRoot, Policy) {
    static FIXED: OnceLock<(TrustedRoot, Policy)> = OnceLock::new();
    FIXED.get_or_init(|| {
        let root = TrustedRoot::from_json("trusted_root.json", TRUSTED_ROOT)
            .expect("the corpus trust root reads");
        let policy = Policy::Identity(Identity {
            identity: IDENTITY.into(),
            issuer: ISSUER.into(),
        });
        (root, policy)
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (root, policy) = fixed();
    if let Ok(bundle) = Bundle::from_json("fuzz", data) {
        let _ = verify_bundle(&bundle, DIGEST, policy, root);
    }
});
