//! Compiles the guest workspaces (the baseline policies, and the test guests)
//! to wasm32-wasip2 components, so the baseline can be embedded in the crate
//! and tests can load real components.
//!
//! The nested cargo gets its own target directory (no lock contention with the
//! outer build) that lives beside the outer one, so it stays warm across
//! `cargo build`, `cargo test` and `cargo clippy`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("guests");

    for watched in ["wit", "guest-sdk", "policies/baseline", "tests/guests"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-changed=build.rs");

    let baseline = build_workspace(&root.join("policies"), &target_dir, &[]);
    // The hostile suite: one component per example.
    let guests =
        build_workspace(&root.join("tests/guests"), &target_dir, &["--examples"]).join("examples");

    // One embedded component per baseline rule, in a stable order.
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let mut entries = String::from("&[\n");
    for rule in [
        "trusted-base",
        "no-root-user",
        "vulnerabilities",
        "no-secrets",
        "minimal-image",
        "signed",
        "provenance",
        "freshness",
    ] {
        let file = baseline.join(format!("baseline_{}.wasm", rule.replace('-', "_")));
        if !file.exists() {
            fail(&format!(
                "the baseline build produced no {}",
                file.display()
            ));
        }
        entries.push_str(&format!(
            "    ({rule:?}, include_bytes!({:?}) as &[u8]),\n",
            file.display().to_string()
        ));
    }
    entries.push(']');
    if let Err(e) = std::fs::write(out_dir.join("baseline.rs"), entries) {
        fail(&format!("cannot write baseline.rs: {e}"));
    }
    println!(
        "cargo:rustc-env=CUSTOMS_TEST_GUESTS_DIR={}",
        guests.display()
    );
}

/// Builds every member of a guest workspace; returns the directory of the `.wasm` files.
fn build_workspace(workspace: &Path, target_dir: &Path, extra_args: &[&str]) -> PathBuf {
    // Fuzzing builds the host on nightly, which may lack the wasm target:
    // CUSTOMS_GUEST_TOOLCHAIN names an installed toolchain that has it.
    println!("cargo:rerun-if-env-changed=CUSTOMS_GUEST_TOOLCHAIN");
    let mut command = match env::var("CUSTOMS_GUEST_TOOLCHAIN") {
        Ok(toolchain) => {
            let mut command = Command::new("rustup");
            command.args(["run", &toolchain, "cargo"]);
            for var in ["CARGO", "RUSTC", "RUSTDOC", "RUSTUP_TOOLCHAIN"] {
                command.env_remove(var);
            }
            command
        }
        Err(_) => Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into())),
    };
    command
        .current_dir(workspace)
        .args(["build", "--release", "--quiet", "--target", WASM_TARGET])
        .args(extra_args)
        .arg("--target-dir")
        .arg(target_dir);
    // Settings meant for the outer (host) build must not leak into the guest build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        command.env_remove(var);
    }
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => fail(&format!(
            "building the guest workspace {} for {WASM_TARGET} failed ({status}); is the target installed? `rustup target add {WASM_TARGET}`",
            workspace.display()
        )),
        Err(e) => fail(&format!(
            "cannot run cargo to build {}: {e}",
            workspace.display()
        )),
    }
    target_dir.join(WASM_TARGET).join("release")
}

fn fail(message: &str) -> ! {
    println!("cargo:warning={message}");
    eprintln!("error: {message}");
    std::process::exit(1);
}
