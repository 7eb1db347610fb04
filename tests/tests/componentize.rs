//! `customs bindgen c` and `customs componentize` from the command line: the
//! bindings a C policy compiles against, and the errors for modules that
//! cannot be policies. (Building real C and Zig policies with them is
//! tests/tests/languages.rs.)

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use assert_cmd::Command;
use predicates::str::contains;

fn customs() -> Command {
    Command::cargo_bin("customs").unwrap()
}

#[test]
fn bindgen_c_writes_the_policy_world_with_borrows_dropped_on_return() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bindings");
    customs()
        .args(["bindgen", "c"])
        .arg(&out)
        .assert()
        .success()
        .stdout(contains("policy.h"));
    let header = std::fs::read_to_string(out.join("policy.h")).unwrap();
    assert!(header.contains("bool exports_policy_evaluate(policy_borrow_image_t image"));
    assert!(header.contains("void exports_policy_metadata(policy_policy_info_t *ret)"));
    assert!(header.contains("customs_policy_facts_method_image_vulnerabilities"));
    // autodrop-borrows: the export wrapper drops the image handle itself.
    let source = std::fs::read_to_string(out.join("policy.c")).unwrap();
    let wrapper = source
        .split("__wasm_export_exports_policy_evaluate(")
        .nth(1)
        .unwrap();
    let wrapper = &wrapper[..wrapper.find("\n}\n").unwrap()];
    assert!(
        wrapper.contains("customs_policy_facts_image_drop(borrow)"),
        "{wrapper}"
    );
    let object = std::fs::read(out.join("policy_component_type.o")).unwrap();
    assert!(object.starts_with(b"\0asm"));
}

#[test]
fn componentize_refuses_what_cannot_be_a_policy_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("policy.wasm");
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let command = write(
        "command.wasm",
        &wat::parse_str(r#"(module (func (export "_start")))"#).unwrap(),
    );
    let empty = write("empty.wasm", &wat::parse_str("(module)").unwrap());
    let component = write("component.wasm", &wat::parse_str("(component)").unwrap());
    let text = write("text.wasm", b"int main() { return 0; }\n");
    let cases = [
        (command, "exports _start"),
        (empty, "exports_policy_metadata"),
        (component, "already a component"),
        (text, "magic bytes"),
        (dir.path().join("missing.wasm"), "cannot read"),
    ];
    for (input, expected) in cases {
        customs()
            .arg("componentize")
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .assert()
            .code(2)
            .stderr(contains(input.display().to_string()))
            .stderr(contains(expected));
        assert!(!out.exists(), "{} left an output", input.display());
    }
}
