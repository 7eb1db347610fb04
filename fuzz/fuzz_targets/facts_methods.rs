#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| customs_fuzz::facts_methods(data));
