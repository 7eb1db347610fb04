//! Any bytes read as a DSSE envelope, and what reads verified as an in-toto
//! attestation with a fixed key; the same bytes read as a PEM public key.
//! An error, never a panic.
#![no_main]

use std::sync::OnceLock;

use customs_verify::{PublicKey, dsse};

const KEY: &[u8] = include_bytes!(
    "../../../shared/corpus/verify/in-toto/cosign-blob-attestation-slsa-v0.2/cosign.pub"
);
/// The SHA-256 of that vector's blob, the subject its attestation names.
const DIGEST: &str = "sha256:658781cd4ed9bca60dacd09f7bb914bb51502e8b5d619f57f39a1d652596cc24";

fn key() -> &'static PublicKey {
    static KEY_: OnceLock<PublicKey> = OnceLock::new();
    KEY_.get_or_init(|| PublicKey::from_pem("cosign.pub", KEY).expect("the corpus key reads"))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = dsse::Envelope::from_json("fuzz", data) {
        let _ = envelope.pae();
        let _ = dsse::verify_attestation(&envelope, key(), DIGEST);
    }
    let _ = PublicKey::from_pem("fuzz", data);
});
