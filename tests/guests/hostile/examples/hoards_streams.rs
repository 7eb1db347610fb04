//! Asks for its stdout stream 20,000 times, never dropping one: every stream
//! takes an entry in the host's resource table, which holds 10,000 at most
//! (`Limits::resource_table_entries`).

#[link(wasm_import_module = "wasi:cli/stdout@0.2.0")]
unsafe extern "C" {
    #[link_name = "get-stdout"]
    fn get_stdout() -> i32;
}

hostile::hostile_case!("hoards-streams", "holds 20,000 stdout streams", |image| {
    let mut last = 0;
    for _ in 0..20_000 {
        // SAFETY: the canonical ABI's signature of get-stdout; the handle is
        // never used, and never dropped: that is the misuse under test.
        #[allow(unsafe_code)]
        {
            last = unsafe { get_stdout() };
        }
    }
    Ok(vec![hostile::report(
        "hoards-streams",
        format!("the host gave 20000 streams, the last {last}"),
    )])
});
