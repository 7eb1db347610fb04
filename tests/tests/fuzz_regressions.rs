//! Inputs kept from fuzzing the importers (fuzz/, `cargo +nightly fuzz run`),
//! replayed on the stable toolchain: each ends in facts or a typed error that
//! names the input, never a panic. Files live in
//! tests/data/fuzz-regressions/<format name>/.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use customs_facts::import::{Format, Origin, import_as};

#[test]
fn saved_fuzz_inputs_never_panic() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/fuzz-regressions");
    let mut replayed = 0;
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let format = Format::from_name(&name)
            .unwrap_or_else(|| panic!("{}: not a format name", dir.display()));
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            let bytes = std::fs::read(&file).unwrap();
            let origin = Origin::named(file.display().to_string());
            if let Err(e) = import_as(&origin, &bytes, format) {
                assert!(e.to_string().starts_with(origin.as_str()), "{e}");
            }
            replayed += 1;
        }
    }
    assert!(
        replayed > 0,
        "no saved fuzz inputs under {}",
        root.display()
    );
}
