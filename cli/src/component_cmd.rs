//! `customs bindgen c DIR` and `customs componentize CORE -o OUT`: what a
//! policy in C (or Zig, or any language that compiles to a wasm32-wasip1
//! core module) needs besides its compiler, so that its authors install
//! nothing else (no wit-bindgen CLI, no wasm-tools, no adapter download).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use customs::{Engine, EngineConfig};
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::{Resolve, WorldId};

const WIT: &str = include_str!("../../wit/policy.wit");

#[derive(Args)]
pub struct BindgenArgs {
    /// The language of the bindings.
    #[arg(value_enum)]
    lang: BindgenLang,
    /// The directory to write them to (created if missing; files are replaced).
    #[arg(value_name = "DIR")]
    out_dir: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum BindgenLang {
    /// policy.h, policy.c and policy_component_type.o, from wit-bindgen's C
    /// generator (also what Zig translates with `zig translate-c`)
    C,
}

#[derive(Args)]
pub struct ComponentizeArgs {
    /// A core WebAssembly module built for wasm32-wasip1 (wasm32-wasi) as a
    /// reactor: clang or `zig cc` with -mexec-model=reactor, `zig build-exe`
    /// with -fno-entry -rdynamic.
    #[arg(value_name = "CORE_WASM")]
    core: PathBuf,
    /// Where to write the component.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
}

/// The customs world, parsed from the WIT this binary was built with.
fn policy_world() -> Result<(Resolve, WorldId)> {
    let mut resolve = Resolve::default();
    let package = resolve
        .push_str("policy.wit", WIT)
        .context("the built-in WIT does not parse (a bug in customs)")?;
    let world = resolve
        .select_world(&[package], Some("policy"))
        .context("the built-in WIT has no policy world (a bug in customs)")?;
    Ok((resolve, world))
}

pub fn bindgen(args: BindgenArgs) -> Result<u8> {
    let (mut resolve, world) = policy_world()?;
    let mut files = wit_bindgen_core::Files::default();
    match args.lang {
        BindgenLang::C => {
            // The image handle an export borrows is dropped by the bindings
            // on return, so a policy cannot forget it (the host would fail
            // the call: "borrow handles still remain").
            let opts = wit_bindgen_c::Opts {
                autodrop_borrows: wit_bindgen_c::Enabled::Yes,
                ..Default::default()
            };
            opts.build()
                .generate(&mut resolve, world, &mut files)
                .context("cannot generate the C bindings")?
        }
    }
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
    for (name, bytes) in files.iter() {
        let path = args.out_dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(crate::EXIT_ALLOWED)
}

pub fn componentize(args: ComponentizeArgs) -> Result<u8> {
    let origin = args.core.display().to_string();
    let core = std::fs::read(&args.core)
        .with_context(|| format!("cannot read {}", args.core.display()))?;
    let component = component_from_core(&core).with_context(|| origin.clone())?;
    // The same checks `eval` makes: the world, the WIT version, the metadata.
    let engine = Engine::new(EngineConfig::default().cache_dir(None))?;
    let policy = engine
        .load_wasm_policy(&origin, &component)
        .context("the component does not load as a customs policy")?;
    write_atomically(&args.output, &component)?;
    let info = policy.info();
    let rules: Vec<&str> = info.rules.iter().map(|r| r.id.as_str()).collect();
    println!(
        "wrote {} ({} bytes): policy {} {} with rules {}",
        args.output.display(),
        component.len(),
        info.name,
        info.version,
        rules.join(", ")
    );
    Ok(crate::EXIT_ALLOWED)
}

/// Wraps a wasm32-wasip1 core module into a component of the policy world,
/// adapting its WASI preview 1 imports to WASI 0.2 with the adapter
/// wasmtime publishes (a crate, pinned to the wasmtime release customs runs on).
fn component_from_core(core: &[u8]) -> Result<Vec<u8>> {
    let shape = inspect(core)?;
    if shape.has_start {
        bail!(
            "the module is a command (it exports _start); a policy is a library: \
             build it as a reactor (clang or `zig cc`: -mexec-model=reactor; \
             `zig build-exe`: -fno-entry -rdynamic)"
        );
    }
    let mut module = core.to_vec();
    if !shape.has_component_type {
        // Not linked with policy_component_type.o (Zig, or a hand-written
        // link line): the world the exports implement is the customs one.
        let (resolve, world) = policy_world()?;
        wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)
            .context("cannot embed the customs world in the module")?;
    }
    let mut encoder = ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .context("the module does not implement the customs policy world")?;
    if shape.imports_preview1 {
        encoder = encoder
            .adapter(
                "wasi_snapshot_preview1",
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )
            .context("cannot add the WASI preview 1 adapter")?;
    }
    encoder.encode().context(
        "the module does not make a customs policy component (it must export the \
             policy world's functions; in C: exports_policy_metadata and exports_policy_evaluate)",
    )
}

struct Shape {
    has_start: bool,
    has_component_type: bool,
    imports_preview1: bool,
}

fn inspect(bytes: &[u8]) -> Result<Shape> {
    if !bytes.starts_with(b"\0asm") {
        bail!("not WebAssembly: the file does not start with the WebAssembly magic bytes");
    }
    if wasmparser::Parser::is_component(bytes) {
        bail!("already a component; load it with `customs eval --policy`");
    }
    let mut shape = Shape {
        has_start: false,
        has_component_type: false,
        imports_preview1: false,
    };
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.context("not a valid WebAssembly module")? {
            wasmparser::Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    let import = import.context("not a valid WebAssembly module")?;
                    shape.imports_preview1 |= import.module == "wasi_snapshot_preview1";
                }
            }
            wasmparser::Payload::ExportSection(exports) => {
                for export in exports {
                    let export = export.context("not a valid WebAssembly module")?;
                    shape.has_start |= export.name == "_start";
                }
            }
            wasmparser::Payload::CustomSection(section) => {
                shape.has_component_type |= section.name().starts_with("component-type");
            }
            _ => {}
        }
    }
    Ok(shape)
}

/// Writes beside the target and renames, so a failed write leaves no half file.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    std::io::Write::write_all(&mut file, bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_world_parses() {
        let (resolve, world) = policy_world().unwrap();
        assert_eq!(resolve.worlds[world].name, "policy");
    }

    #[test]
    fn a_command_module_is_refused_with_how_to_build_a_reactor() {
        let core = wat::parse_str(r#"(module (func (export "_start")))"#).unwrap();
        let error = component_from_core(&core).unwrap_err().to_string();
        assert!(error.contains("-mexec-model=reactor"), "{error}");
    }

    #[test]
    fn a_module_without_the_exports_says_so() {
        let core = wat::parse_str("(module)").unwrap();
        let error = format!("{:#}", component_from_core(&core).unwrap_err());
        assert!(error.contains("does not"), "{error}");
    }

    #[test]
    fn a_component_or_other_bytes_are_refused() {
        let component = wat::parse_str("(component)").unwrap();
        let error = component_from_core(&component).unwrap_err().to_string();
        assert!(error.contains("already a component"), "{error}");
        let error = component_from_core(b"PK\x03\x04").unwrap_err().to_string();
        assert!(error.contains("magic bytes"), "{error}");
    }
}
