//! Compiles the guest workspaces the tests load to wasm32-wasip2 components:
//! `policies` (the baseline rules and the Rust example) and `tests/guests`
//! (the hostile suite, one component per example). Only tests and benchmarks
//! depend on this crate, so a user's build of customs compiles no guest.
//!
//! The nested cargo gets its own target directory (no lock contention with
//! the outer build) beside the outer one, so it stays warm across `cargo
//! build`, `cargo test` and `cargo clippy`. Paths are remapped so the
//! components are the same bytes on every machine: the baseline test
//! compares them with the ones committed in `host/baseline/`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("guests");

    for watched in ["wit", "guest-sdk", "policies", "tests/guests"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-changed=build.rs");
    // Fuzzing builds on nightly, which may lack the wasm target:
    // CUSTOMS_GUEST_TOOLCHAIN names an installed toolchain that has it.
    println!("cargo:rerun-if-env-changed=CUSTOMS_GUEST_TOOLCHAIN");
    let toolchain = env::var("CUSTOMS_GUEST_TOOLCHAIN").ok();

    ensure_target(toolchain.as_deref());
    build_workspace(&root, "policies", &target_dir, toolchain.as_deref(), &[]);
    build_workspace(
        &root,
        "tests/guests",
        &target_dir,
        toolchain.as_deref(),
        &["--examples"],
    );
    println!(
        "cargo:rustc-env=CUSTOMS_GUESTS_TARGET_DIR={}",
        target_dir.display()
    );
}

/// A cargo (or rustup) command for the guest toolchain, without the outer
/// build's settings, which are meant for the host.
fn command(program: &str, toolchain: Option<&str>) -> Command {
    let mut command = match toolchain {
        Some(toolchain) => {
            let mut command = Command::new("rustup");
            command.args(["run", toolchain, program]);
            for var in ["CARGO", "RUSTC", "RUSTDOC", "RUSTUP_TOOLCHAIN"] {
                command.env_remove(var);
            }
            command
        }
        None if program == "cargo" => {
            Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        }
        None => Command::new(env::var_os("RUSTC").unwrap_or_else(|| program.into())),
    };
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
    command
}

/// Installs the wasm target with rustup when the toolchain lacks it (rustup
/// adds `rust-toolchain.toml`'s targets only when it installs the toolchain
/// itself); without rustup, fails at once with what to do.
fn ensure_target(toolchain: Option<&str>) {
    let libdir = command("rustc", toolchain)
        .args(["--print", "target-libdir", "--target", WASM_TARGET])
        .output();
    // An uninstalled target's library directory is missing or empty.
    let installed = libdir.is_ok_and(|out| {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        out.status.success()
            && std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
    });
    if installed {
        return;
    }
    println!(
        "cargo:warning=installing the {WASM_TARGET} target with rustup (the test guests need it)"
    );
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", WASM_TARGET]);
    match toolchain {
        Some(toolchain) => {
            rustup.args(["--toolchain", toolchain]);
        }
        // rustup's proxies set RUSTUP_TOOLCHAIN to the toolchain running this build.
        None => {
            if let Ok(toolchain) = env::var("RUSTUP_TOOLCHAIN") {
                rustup.args(["--toolchain", &toolchain]);
            }
        }
    }
    match rustup.status() {
        Ok(status) if status.success() => {}
        Ok(status) => fail(&format!(
            "`rustup target add {WASM_TARGET}` failed ({status}); the test guests need the target"
        )),
        Err(e) => fail(&format!(
            "the {WASM_TARGET} target is not installed and rustup cannot be run ({e}); install the target for this toolchain, then build again"
        )),
    }
}

/// Builds every member of a guest workspace in release mode.
fn build_workspace(
    root: &Path,
    workspace: &str,
    target_dir: &Path,
    toolchain: Option<&str>,
    extra_args: &[&str],
) {
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .unwrap_or_default();
    // Nothing of this machine's paths in the components.
    let rustflags = [
        format!("--remap-path-prefix={}=/customs", root.display()),
        format!("--remap-path-prefix={}=/cargo", cargo_home.display()),
    ]
    .join("\x1f");
    let status = command("cargo", toolchain)
        .current_dir(root.join(workspace))
        .args([
            "build",
            "--release",
            "--quiet",
            "--locked",
            "--target",
            WASM_TARGET,
        ])
        .args(extra_args)
        .arg("--target-dir")
        .arg(target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags)
        .status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => fail(&format!(
            "building the guest workspace {workspace} for {WASM_TARGET} failed ({status})"
        )),
        Err(e) => fail(&format!("cannot run cargo to build {workspace}: {e}")),
    }
}

fn fail(message: &str) -> ! {
    println!("cargo:warning={message}");
    eprintln!("error: {message}");
    std::process::exit(1);
}
