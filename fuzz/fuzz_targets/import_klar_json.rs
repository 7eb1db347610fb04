#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| customs_fuzz::import_as_format("klar-json", data));
