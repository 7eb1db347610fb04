//! Any bytes read as an RFC 3161 timestamp (response or bare token) and
//! verified against GlobalSign's root from notation-go's tsa trust store,
//! over fixed signature bytes. An error, never a panic.
#![no_main]

use std::sync::OnceLock;

use customs_verify::notation::read_certificates;
use customs_verify::x509::Certificate;
use customs_verify::{TimestampTrust, verify_timestamp};

const ROOT: &[u8] = include_bytes!(
    "../../../shared/corpus/verify/notation/notation-go-jws-with-timestamp/truststore/x509/tsa/test-timestamp/globalsignRoot.cer"
);

fn roots() -> &'static [Certificate] {
    static ROOTS: OnceLock<Vec<Certificate>> = OnceLock::new();
    ROOTS.get_or_init(|| read_certificates("globalsignRoot.cer", ROOT).expect("the root reads"))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = verify_timestamp("fuzz", data, b"signature", TimestampTrust::Roots(roots()));
});
