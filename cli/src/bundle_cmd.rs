//! `customs bundle ...`: make, sign, share and check policy bundles.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use customs::text::escaped;
use customs::{BundleFiles, Engine, EngineConfig, MANIFEST_FILE, Manifest};
use customs_registry::Registry;
use customs_registry::signing::{SigningKey, generate_key_pair};

use crate::sources::{self, Source, TrustArgs};
use customs::{DIR_SIGNATURE_FILE, read_archive_file, signature_path_of};

#[derive(Subcommand)]
pub enum BundleCommand {
    /// Write a customs-bundle.yaml for the policies in DIR (*.wasm, *.yaml),
    /// each pinned by its sha256.
    Init {
        dir: PathBuf,
        /// Bundle name (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
        /// Overwrite an existing manifest.
        #[arg(long)]
        force: bool,
    },
    /// Build the single-file archive of a bundle directory (every digest
    /// checked and every policy compiled first).
    Build {
        dir: PathBuf,
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Show a bundle's manifest: policies, kinds, digests, parameters, enforcement.
    Inspect {
        /// DIR, archive FILE or oci://HOST/REPO:TAG.
        bundle: String,
        #[command(flatten)]
        trust: TrustArgs,
        /// Print the manifest as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a bundle: every digest, every policy compiles and, with --key,
    /// its signature.
    Verify {
        bundle: String,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Sign a bundle with a cosign private key (password from COSIGN_PASSWORD):
    /// a directory's manifest (DIR/customs-bundle.yaml.sig), an archive
    /// (FILE.sig, as `cosign sign-blob`), or a pushed bundle (a cosign
    /// signature in the registry, as `cosign sign`).
    Sign {
        bundle: String,
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
    },
    /// Push a bundle (directory or archive) to an OCI registry; prints its digest.
    Push {
        bundle: PathBuf,
        /// oci://HOST[:PORT]/REPOSITORY:TAG
        reference: String,
    },
    /// Pull a bundle into the local cache (and optionally write the archive).
    Pull {
        reference: String,
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Create a cosign-compatible ECDSA P-256 key pair (PREFIX.key encrypted
    /// with COSIGN_PASSWORD, PREFIX.pub).
    Keygen {
        #[arg(long, default_value = "cosign")]
        prefix: String,
    },
}

#[derive(Args)]
pub struct BundleArgs {
    #[command(subcommand)]
    pub command: BundleCommand,
}

pub fn run(args: BundleArgs) -> Result<u8> {
    match args.command {
        BundleCommand::Init { dir, name, force } => init(&dir, name, force),
        BundleCommand::Build { dir, output } => build(&dir, &output),
        BundleCommand::Inspect {
            bundle,
            trust,
            json,
        } => inspect(&bundle, &trust, json),
        BundleCommand::Verify { bundle, trust } => verify(&bundle, &trust),
        BundleCommand::Sign { bundle, key } => sign(&bundle, &key),
        BundleCommand::Push { bundle, reference } => push(&bundle, &reference),
        BundleCommand::Pull {
            reference,
            output,
            trust,
        } => pull(&reference, output.as_deref(), &trust),
        BundleCommand::Keygen { prefix } => keygen(&prefix),
    }
}

fn init(dir: &Path, name: Option<String>, force: bool) -> Result<u8> {
    let manifest_path = dir.join(MANIFEST_FILE);
    if manifest_path.exists() && !force {
        bail!(
            "{} exists; use --force to overwrite it",
            manifest_path.display()
        );
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let is_policy = file_name != MANIFEST_FILE
            && path.is_file()
            && matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("wasm" | "yaml" | "yml")
            );
        if is_policy {
            files.push((file_name.to_owned(), std::fs::read(&path)?));
        }
    }
    files.sort();
    if files.is_empty() {
        bail!("{}: no policies (*.wasm, *.yaml, *.yml)", dir.display());
    }
    let name = match name {
        Some(name) => name,
        None => {
            let from_dir = std::fs::canonicalize(dir)?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !customs::is_valid_name(&from_dir) {
                bail!(
                    "the directory name {from_dir:?} is not a valid bundle name (letters, digits, - _ / :); pass --name"
                );
            }
            from_dir
        }
    };
    let text = Manifest::for_files(&name, files.iter().map(|(n, b)| (n.as_str(), b.as_slice())))?;
    std::fs::write(&manifest_path, text)
        .with_context(|| format!("cannot write {}", manifest_path.display()))?;
    println!(
        "wrote {} ({} policies)",
        manifest_path.display(),
        files.len()
    );
    Ok(0)
}

fn engine() -> Result<Engine> {
    Ok(Engine::new(EngineConfig::with_default_cache())?)
}

fn build(dir: &Path, output: &Path) -> Result<u8> {
    let files = BundleFiles::read_dir(dir)?;
    // Everything must load before it is shipped.
    let bundle = customs::Bundle::load_files(&engine()?, &files)?;
    let archive = files.to_archive()?;
    std::fs::write(output, &archive)
        .with_context(|| format!("cannot write {}", output.display()))?;
    println!(
        "built {} {} ({} policies, {} bytes, sha256:{})",
        bundle.name(),
        output.display(),
        bundle.entries().len(),
        archive.len(),
        customs_sha256(&archive)
    );
    Ok(0)
}

fn customs_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn inspect(bundle: &str, trust: &TrustArgs, json: bool) -> Result<u8> {
    let source = Source::parse(bundle)?;
    let files = sources::read_files(&source, &trust.resolve()?)?
        .with_context(|| format!("{bundle}: has no {MANIFEST_FILE}"))?;
    let manifest = files.verify()?;
    if json {
        let value = serde_json::json!({
            "name": manifest.name,
            "version": manifest.version,
            "description": manifest.description,
            "minCustomsVersion": manifest.min_customs_version,
            "witVersion": manifest.wit_version,
            "policies": manifest.policies.iter().map(|p| serde_json::json!({
                "path": p.path,
                "kind": p.kind.as_str(),
                "sha256": p.sha256,
                "enforcement": p.enforcement,
                "params": p.params.iter().map(|(k, v)| (k.clone(), v.as_param_text())).collect::<std::collections::BTreeMap<_, _>>(),
            })).collect::<Vec<_>>(),
        });
        crate::report::print_json(&value)?;
        return Ok(0);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "bundle {} {}",
        escaped(&manifest.name),
        escaped(&manifest.version)
    )?;
    if !manifest.description.is_empty() {
        writeln!(out, "  {}", escaped(&manifest.description))?;
    }
    writeln!(
        out,
        "  customs >= {}, customs:policy@{}",
        manifest.min_customs_version.as_deref().unwrap_or("any"),
        manifest.wit_version
    )?;
    for policy in &manifest.policies {
        writeln!(
            out,
            "\n{}  {}  {}\n  sha256 {}",
            escaped(&policy.path),
            policy.kind.as_str(),
            policy.enforcement.as_str(),
            policy.sha256
        )?;
        for (name, value) in &policy.params {
            writeln!(
                out,
                "  param {} = {}",
                escaped(name),
                escaped(&value.as_param_text())
            )?;
        }
    }
    Ok(0)
}

fn verify(bundle: &str, trust: &TrustArgs) -> Result<u8> {
    let source = Source::parse(bundle)?;
    let trust = trust.resolve()?;
    let loaded = sources::load(&engine()?, &source, &trust)?;
    println!(
        "verified {} {}: {} policies, every sha256 matches{}",
        loaded.name(),
        loaded.version().unwrap_or("(no manifest)"),
        loaded.entries().len(),
        if trust.key().is_some() {
            ", signature valid"
        } else {
            " (signature not checked: no --key)"
        }
    );
    Ok(0)
}

fn read_signing_key(path: &Path) -> Result<SigningKey> {
    let pem =
        std::fs::read(path).with_context(|| format!("cannot read the key {}", path.display()))?;
    let password = std::env::var("COSIGN_PASSWORD").unwrap_or_default();
    Ok(SigningKey::from_pem(
        &path.display().to_string(),
        &pem,
        password.as_bytes(),
    )?)
}

fn sign(bundle: &str, key_path: &Path) -> Result<u8> {
    let key = read_signing_key(key_path)?;
    match Source::parse(bundle)? {
        Source::Builtin(_) => {
            bail!("the builtin bundles are part of the binary and need no signature")
        }
        Source::Oci(reference) => {
            let registry = Registry::with_default_cache();
            let digest = sources::runtime()?.block_on(registry.sign(&reference, &key))?;
            println!("signed {reference} ({digest})");
        }
        Source::Dir(dir) => {
            // The manifest pins every file, so its signature covers the bundle.
            let files = BundleFiles::read_dir(&dir)?;
            files.verify()?;
            let manifest = files
                .files()
                .get(MANIFEST_FILE)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let path = dir.join(DIR_SIGNATURE_FILE);
            std::fs::write(&path, key.sign(manifest)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("signed {} -> {}", dir.display(), path.display());
        }
        Source::Archive(file) => {
            let bytes = read_archive_file(&file)?;
            BundleFiles::read_archive(&file.display().to_string(), &bytes, &Default::default())?
                .verify()?;
            let path = signature_path_of(&file);
            std::fs::write(&path, key.sign(&bytes)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("signed {} -> {}", file.display(), path.display());
        }
    }
    Ok(0)
}

fn push(bundle: &Path, reference: &str) -> Result<u8> {
    let (files, archive) = if bundle.is_dir() {
        let files = BundleFiles::read_dir(bundle)?;
        let archive = files.to_archive()?;
        (files, archive)
    } else {
        let archive = read_archive_file(bundle)?;
        let files = BundleFiles::read_archive(
            &bundle.display().to_string(),
            &archive,
            &Default::default(),
        )?;
        (files, archive)
    };
    // Only bundles that load are shipped.
    customs::Bundle::load_files(&engine()?, &files)?;
    let manifest = files.verify()?;
    let registry = Registry::with_default_cache();
    let digest = sources::runtime()?.block_on(registry.push(reference, &archive, &manifest))?;
    println!(
        "pushed {} {} to {reference}@{digest}",
        manifest.name, manifest.version
    );
    Ok(0)
}

fn pull(reference: &str, output: Option<&Path>, trust: &TrustArgs) -> Result<u8> {
    let registry = Registry::with_default_cache();
    let runtime = sources::runtime()?;
    let pulled = runtime.block_on(registry.pull(reference, trust.pull.into()))?;
    if let Some(key) = trust.verifying_key()? {
        runtime.block_on(registry.verify(reference, &pulled.digest, &key, trust.pull.into()))?;
    }
    let files = BundleFiles::read_archive(&pulled.pinned, &pulled.archive, &Default::default())?;
    let manifest = files.verify()?;
    if let Some(output) = output {
        std::fs::write(output, &pulled.archive)
            .with_context(|| format!("cannot write {}", output.display()))?;
    }
    println!(
        "pulled {} {} ({}{})",
        manifest.name,
        manifest.version,
        pulled.pinned,
        if pulled.from_cache {
            ", from the cache"
        } else {
            ""
        }
    );
    Ok(0)
}

fn keygen(prefix: &str) -> Result<u8> {
    let private_path = PathBuf::from(format!("{prefix}.key"));
    let public_path = PathBuf::from(format!("{prefix}.pub"));
    for path in [&private_path, &public_path] {
        if path.exists() {
            bail!("{} exists; refusing to overwrite a key", path.display());
        }
    }
    let password = std::env::var("COSIGN_PASSWORD").unwrap_or_default();
    let (private, public) = generate_key_pair(password.as_bytes())?;
    write_private(&private_path, private.as_bytes())?;
    std::fs::write(&public_path, public)
        .with_context(|| format!("cannot write {}", public_path.display()))?;
    println!(
        "wrote {} (private, encrypted with COSIGN_PASSWORD{}) and {}",
        private_path.display(),
        if password.is_empty() {
            ", which is empty"
        } else {
            ""
        },
        public_path.display()
    );
    Ok(0)
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}
