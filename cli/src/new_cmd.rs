//! `customs new --lang rust|python|js|c|zig NAME`: a policy project that builds as
//! it is, from the example policy of the language guides (docs/languages)
//! renamed to NAME, with the language's helper and the customs WIT copied in.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

#[derive(Args)]
pub struct NewArgs {
    /// The policy's name (lowercase letters, digits and '-'); also the directory created.
    #[arg(value_name = "NAME")]
    name: String,
    /// The language of the policy.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    lang: Lang,
    /// Where to create the project [default: ./NAME].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Lang {
    /// Rust with customs-guest (cargo, target wasm32-wasip2)
    Rust,
    /// Python with componentize-py
    Python,
    /// JavaScript with componentize-js
    Js,
    /// C with `zig cc` (or clang and wasi-libc), `customs bindgen c` and `customs componentize`
    C,
    /// Zig, with the C bindings translated by `zig translate-c`
    Zig,
}

const WIT: &str = include_str!("../../wit/policy.wit");
const RUST_POLICY: &str = include_str!("../../policies/examples/rust/src/lib.rs");
const RUST_SDK: &str = include_str!("../../guest-sdk/src/lib.rs");
const PYTHON_POLICY: &str = include_str!("../../policies/examples/python/app.py");
const PYTHON_HELPER: &str = include_str!("../../guest-sdk/python/customs_policy.py");
const JS_POLICY: &str = include_str!("../../policies/examples/javascript/app.js");
const JS_HELPER: &str = include_str!("../../guest-sdk/js/customs-policy.js");
const JS_BUILD: &str = include_str!("../../policies/examples/javascript/build.mjs");
const C_POLICY: &str = include_str!("../../policies/examples/c/policy.c");
const C_MAKEFILE: &str = include_str!("../../policies/examples/c/Makefile");
const C_HELPER_H: &str = include_str!("../../guest-sdk/c/customs_policy.h");
const C_HELPER_C: &str = include_str!("../../guest-sdk/c/customs_policy.c");
const ZIG_POLICY: &str = include_str!("../../policies/examples/zig/policy.zig");
const ZIG_MAKEFILE: &str = include_str!("../../policies/examples/zig/Makefile");
const ZIG_HELPER: &str = include_str!("../../guest-sdk/zig/customs.zig");

pub fn run(args: NewArgs) -> Result<u8> {
    // Stricter than a policy name: it is also a directory, a crate and a package.
    let valid = args.name.len() <= 64
        && args.name.starts_with(|c: char| c.is_ascii_lowercase())
        && args
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!(
            "{:?} is not a policy name: use lowercase letters, digits and '-', starting with a letter",
            args.name
        );
    }
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() {
        bail!(
            "{} already exists; pick another NAME or --dir",
            dir.display()
        );
    }
    let files = match args.lang {
        Lang::Rust => rust(&args.name)?,
        Lang::Python => python(&args.name)?,
        Lang::Js => javascript(&args.name)?,
        Lang::C => c(&args.name)?,
        Lang::Zig => zig(&args.name)?,
    };
    for (path, content) in &files {
        write(&dir.join(path), content)?;
    }
    println!(
        "created {} ({} files); build it as its README.md says",
        dir.display(),
        files.len()
    );
    Ok(crate::EXIT_ALLOWED)
}

fn write(path: &Path, content: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, content).with_context(|| format!("cannot write {}", path.display()))
}

/// `text` with `from` replaced once by `to`; the templates are this
/// repository's examples, so a miss is a bug in customs, said plainly.
fn rename(text: &str, from: &str, to: &str) -> Result<String> {
    if !text.contains(from) {
        bail!("the {from:?} template changed; `customs new` needs updating");
    }
    Ok(text.replacen(from, to, 1))
}

/// The Rust SDK's manifest, for its copy inside a project: the SDK is not on
/// crates.io, and a path into the customs sources would tie the project to
/// this machine. Its bindings are generated from the project's `wit/`.
/// The wit-bindgen the SDK copy asks for: the workspace's (a test keeps them equal).
const WIT_BINDGEN: &str = "0.61";

fn rust_sdk_manifest() -> String {
    format!(
        r#"# customs-guest {version}, copied by `customs new`: the Rust SDK of customs
# (guest-sdk/ in the customs repository). Its bindings come from ../wit.
[package]
name = "customs-guest"
version = "{version}"
edition = "2024"
publish = false
license = "Apache-2.0"

[dependencies]
wit-bindgen = "{WIT_BINDGEN}"
"#,
        version = env!("CARGO_PKG_VERSION")
    )
}

fn rust(name: &str) -> Result<Vec<(String, String)>> {
    let cargo = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
customs-guest = {{ path = "customs-guest" }}

[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = true
panic = "abort"

# A project of its own, also when created inside another workspace.
[workspace]
"#
    );
    let wasm = name.replace('-', "_");
    let readme = format!(
        "# {name}\n\nA customs policy in Rust (docs/languages/rust.md in the customs repository).\n\n```sh\nrustup target add wasm32-wasip2\ncargo build --release --target wasm32-wasip2\ncustoms eval --policy target/wasm32-wasip2/release/{wasm}.wasm REPORT.json\n```\n"
    );
    Ok(vec![
        ("Cargo.toml".into(), cargo),
        (
            "src/lib.rs".into(),
            rename(RUST_POLICY, "\"example\",", &format!("{name:?},"))?,
        ),
        ("customs-guest/Cargo.toml".into(), rust_sdk_manifest()),
        ("customs-guest/src/lib.rs".into(), RUST_SDK.into()),
        ("wit/policy.wit".into(), WIT.into()),
        ("README.md".into(), readme),
        (".gitignore".into(), "target/\n".into()),
    ])
}

fn python(name: &str) -> Result<Vec<(String, String)>> {
    let readme = format!(
        "# {name}\n\nA customs policy in Python (docs/languages/python.md in the customs repository).\n\n```sh\npip install componentize-py==0.25.1\ncomponentize-py -d wit -w policy componentize app -p . -o {name}.wasm\ncustoms eval --policy {name}.wasm REPORT.json\n```\n"
    );
    Ok(vec![
        (
            "app.py".into(),
            rename(
                PYTHON_POLICY,
                "name=\"example\",",
                &format!("name={name:?},"),
            )?,
        ),
        ("customs_policy.py".into(), PYTHON_HELPER.into()),
        ("wit/policy.wit".into(), WIT.into()),
        ("README.md".into(), readme),
        (".gitignore".into(), "__pycache__/\n*.wasm\n".into()),
    ])
}

fn javascript(name: &str) -> Result<Vec<(String, String)>> {
    let package = format!(
        r#"{{
  "name": "{name}",
  "version": "0.1.0",
  "private": true,
  "type": "module",
  "scripts": {{
    "build": "node build.mjs app.js wit {name}.wasm"
  }},
  "devDependencies": {{
    "@bytecodealliance/componentize-js": "0.23.0",
    "@bytecodealliance/preview2-shim": "0.25.0"
  }}
}}
"#
    );
    let readme = format!(
        "# {name}\n\nA customs policy in JavaScript (docs/languages/javascript.md in the customs repository).\n\n```sh\nnpm install\nnpm run build\ncustoms eval --policy {name}.wasm REPORT.json\n```\n"
    );
    Ok(vec![
        (
            "app.js".into(),
            rename(JS_POLICY, "name: \"example\",", &format!("name: {name:?},"))?,
        ),
        ("customs-policy.js".into(), JS_HELPER.into()),
        ("build.mjs".into(), JS_BUILD.into()),
        ("package.json".into(), package),
        ("wit/policy.wit".into(), WIT.into()),
        ("README.md".into(), readme),
        (".gitignore".into(), "node_modules/\n*.wasm\n".into()),
    ])
}

fn c(name: &str) -> Result<Vec<(String, String)>> {
    let readme = format!(
        "# {name}\n\nA customs policy in C (docs/languages/c.md in the customs repository).\n\n```sh\npip install ziglang==0.17.1   # or: make CC=\"clang --target=wasm32-wasi\"\nmake\ncustoms eval --policy build/{name}.wasm REPORT.json\n```\n"
    );
    Ok(vec![
        (
            "policy.c".into(),
            rename(
                C_POLICY,
                "customs_info(info, \"example\",",
                &format!("customs_info(info, {name:?},"),
            )?,
        ),
        ("customs_policy.h".into(), C_HELPER_H.into()),
        ("customs_policy.c".into(), C_HELPER_C.into()),
        (
            "Makefile".into(),
            rename(C_MAKEFILE, "NAME ?= example", &format!("NAME ?= {name}"))?,
        ),
        ("README.md".into(), readme),
        (".gitignore".into(), "build/\n".into()),
    ])
}

fn zig(name: &str) -> Result<Vec<(String, String)>> {
    let readme = format!(
        "# {name}\n\nA customs policy in Zig (docs/languages/zig.md in the customs repository).\n\n```sh\npip install ziglang==0.17.1\nmake\ncustoms eval --policy build/{name}.wasm REPORT.json\n```\n"
    );
    Ok(vec![
        (
            "policy.zig".into(),
            rename(
                ZIG_POLICY,
                "pub const name = \"example\";",
                &format!("pub const name = {name:?};"),
            )?,
        ),
        ("customs.zig".into(), ZIG_HELPER.into()),
        (
            "Makefile".into(),
            rename(ZIG_MAKEFILE, "NAME ?= example", &format!("NAME ?= {name}"))?,
        ),
        ("README.md".into(), readme),
        (".gitignore".into(), "build/\n".into()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_copy_asks_for_the_workspaces_wit_bindgen() {
        let workspace = include_str!("../../Cargo.toml");
        assert!(
            workspace.contains(&format!("\nwit-bindgen = \"{WIT_BINDGEN}\"\n")),
            "update WIT_BINDGEN to the workspace's wit-bindgen"
        );
    }

    #[test]
    fn every_template_takes_the_name() {
        for files in [
            rust("my-policy").unwrap(),
            python("my-policy").unwrap(),
            javascript("my-policy").unwrap(),
            c("my-policy").unwrap(),
            zig("my-policy").unwrap(),
        ] {
            let source = &files[0].1;
            let policy = files
                .iter()
                .find(|(path, _)| {
                    path.ends_with("lib.rs")
                        || path.starts_with("app.")
                        || path.starts_with("policy.")
                })
                .map(|(_, content)| content)
                .unwrap_or(source);
            assert!(policy.contains("\"my-policy\""), "{policy}");
            assert!(!policy.contains("\"example\""), "{policy}");
        }
    }
}
