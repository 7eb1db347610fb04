//! Any bytes read as a Sigstore trust root: a value or an error, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = customs_verify::TrustedRoot::from_json("fuzz", data);
});
