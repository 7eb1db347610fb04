//! Asks wasi:random for the most bytes the host gives in one call (64 KiB,
//! `Limits::wasi_random_bytes`), then for one byte more: the host must refuse
//! the second call before allocating it.

#[link(wasm_import_module = "wasi:random/insecure@0.2.0")]
unsafe extern "C" {
    // The canonical ABI: the list comes back as (pointer, length) at `ret`.
    #[link_name = "get-insecure-random-bytes"]
    fn get_insecure_random_bytes(len: i64, ret: *mut [usize; 2]);
}

#[link(wasm_import_module = "wasi:random/random@0.2.0")]
unsafe extern "C" {
    #[link_name = "get-random-bytes"]
    fn get_random_bytes(len: i64, ret: *mut [usize; 2]);
}

hostile::hostile_case!(
    "huge-random",
    "asks for 64 KiB of random bytes, then 64 KiB + 1",
    |image| {
        let mut within = [0usize; 2];
        let mut over = [0usize; 2];
        // SAFETY: the signatures are the canonical ABI's for these WASI functions.
        #[allow(unsafe_code)]
        unsafe {
            get_insecure_random_bytes(64 << 10, &mut within);
            get_random_bytes((64 << 10) + 1, &mut over);
        }
        Ok(vec![hostile::report(
            "huge-random",
            format!("the host gave {} then {} bytes", within[1], over[1]),
        )])
    }
);
