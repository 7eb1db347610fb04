//! `customs`: decide whether a container image may ship, from what scanners,
//! SBOM tools and signers know about it.

mod bundle_cmd;
mod check_cmd;
mod component_cmd;
mod coverage;
mod export_cmd;
mod inputs;
mod lint_cmd;
mod new_cmd;
mod replay_cmd;
mod report;
mod serve_cmd;
mod sources;
mod sweep_cmd;
mod test_cmd;
mod trust;
mod verify_cmd;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use customs::{Bundle, Engine, EngineConfig, EvalOptions, Limits, PreparedFacts};

/// Exit codes: the CLI contract.
const EXIT_ALLOWED: u8 = 0;
const EXIT_DENIED: u8 = 1;
const EXIT_ERROR: u8 = 2;

#[derive(Parser)]
#[command(
    name = "customs",
    version,
    about = "A WebAssembly policy engine for container images: import scanner and SBOM outputs, evaluate policies, answer allow or deny with reasons.",
    after_help = "Exit codes: 0 allowed (warnings allowed), 1 denied (including a policy that failed), 2 usage, input or policy-load error."
)]
struct Cli {
    /// Log verbosity (-v info, -vv debug); logs go to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Log lines as text or as JSON objects (one per line, for log
    /// collectors; `customs serve` in a cluster).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate images against policies and print the decision.
    ///
    /// Without --bundle or --policy the embedded baseline bundle runs
    /// (trusted-base, no-root-user, vulnerabilities, no-secrets, minimal-image,
    /// signed, provenance, freshness, misconfigurations, runtime-hardening,
    /// no-setuid).
    Eval(EvalArgs),
    /// Print the merged, normalized facts of the inputs as JSON (facts v1).
    Facts(FactsArgs),
    /// Print a JSON Schema: of the facts document (the default), or of a
    /// YAML file an author writes (for editors: schemas/ in the repository).
    Schema(SchemaArgs),
    /// List the policies of a bundle (the baseline by default) with their rules and parameters.
    Policies(PolicyArgs),
    /// Build, inspect, verify, sign, push and pull policy bundles.
    Bundle(bundle_cmd::BundleArgs),
    /// Run the test cases kept next to policies (*.test.yaml files): each
    /// evaluates facts or tool outputs and checks the decision and rule ids.
    Test(test_cmd::TestArgs),
    /// Create a policy project that builds as it is: Rust, Python,
    /// JavaScript, C or Zig, from the example policy of the language guides.
    New(new_cmd::NewArgs),
    /// Write the bindings a C (or Zig) policy compiles against: the customs
    /// WIT through wit-bindgen's C generator.
    Bindgen(component_cmd::BindgenArgs),
    /// Make a policy component from a wasm32-wasip1 core module (C, Zig):
    /// embeds the customs world if missing, adds the WASI adapter, and checks
    /// that the result loads as a policy.
    Componentize(component_cmd::ComponentizeArgs),
    /// Serve the decision API, the Kubernetes admission webhook and the facts
    /// store over HTTP(S) (docs/server.md).
    Serve(serve_cmd::ServeArgs),
    /// Re-evaluate the server's facts store against a bundle; list stale
    /// facts and pushed digests that never got facts (exit 1 if any, or any deny).
    Sweep(sweep_cmd::SweepArgs),
    /// Evaluate decisions the server recorded again, from the facts they
    /// were made on, with a bundle: the same bundle must decide the same; a
    /// new one shows what changes (exit 1 if any decision differs).
    Replay(replay_cmd::ReplayArgs),
    /// Check a cosign signature or an in-toto attestation offline against a
    /// public key, for an image digest or a file: what verified, or which
    /// check failed (exit 0 verified, 1 not).
    Verify(verify_cmd::VerifyArgs),
    /// Write what customs knows about images in another tool's format:
    /// `export falco` gives Falco rules that alert on programs an image does
    /// not hold (runtime drift).
    Export(export_cmd::ExportArgs),
    /// Check that policy files load: each CEL policy file compiles (within
    /// the cost budget), each component compiles and links; other files
    /// are skipped (for pre-commit hooks). Exit 2 when one does not load.
    Check(check_cmd::CheckArgs),
    /// Find what in a bundle can never work as written: CEL validations
    /// that read no fact (true or false for every image, with the bundle's
    /// parameters), match conditions that never apply, waivers of rules no
    /// policy declares. Exit 1 when something is found.
    Lint(lint_cmd::LintArgs),
}

#[derive(Args)]
struct InputArgs {
    /// Tool outputs about one image, merged: scanner reports (Trivy, Grype,
    /// Clair v4, clair-scanner, klar, Snyk), SBOMs (CycloneDX, SPDX, Syft), OCI
    /// config/manifest/index, docker inspect, cosign verify output, in-toto/Sigstore attestations, OpenVEX,
    /// Kubernetes AdmissionReview, or a facts document from `customs facts`.
    /// `-` reads standard input. The format is detected from content.
    /// The image itself is read from oci-layout:DIR[:TAG|@DIGEST] (an OCI
    /// image layout), docker-archive:FILE[:TAG] (`docker save`) or
    /// oci://REGISTRY/REPO:TAG|@DIGEST (with the signatures, attestations,
    /// SBOMs and VEX documents the registry stores beside it): its config,
    /// installed packages (apk, dpkg) and executables.
    #[arg(value_name = "INPUT", required = true)]
    inputs: Vec<PathBuf>,
    /// Of an image input that is a multi-platform index, read this platform
    /// (os/arch[/variant], e.g. linux/arm64). Without it, `eval` decides
    /// every platform (the image is denied if one is) and `facts` prints a
    /// list of one document per platform.
    #[arg(long, value_name = "PLATFORM")]
    platform: Option<customs_image::Platform>,
    /// Read every input as this format instead of detecting it: trivy-json,
    /// grype-json, syft-json, cyclonedx-json, spdx-json, oci-config, oci-manifest,
    /// oci-index, docker-inspect, clair-v4, clair-scanner-json, klar-json,
    /// snyk-json, cosign-verify, cosign-verify-attestation (never detected),
    /// simple-signing, dsse-envelope, sigstore-bundle, openvex,
    /// admission-review, customs-facts.
    #[arg(long, value_name = "FORMAT", value_parser = inputs::parse_format)]
    input_format: Option<customs_facts::import::Format>,
    #[command(flatten)]
    trust: trust::TrustArgs,
}

#[derive(Args, Clone)]
struct PolicyArgs {
    /// A bundle: a directory (with a customs-bundle.yaml manifest, or any
    /// *.wasm components and *.yaml CEL files), an archive from `customs
    /// bundle build`, oci://HOST/REPO:TAG, or builtin:baseline. Repeatable.
    #[arg(long = "bundle", value_name = "BUNDLE")]
    bundles: Vec<String>,
    #[command(flatten)]
    trust: sources::TrustArgs,
    /// Waivers file (YAML): exceptions with an owner, a reason and an expiry
    /// date; waived findings are reported, not hidden (see docs/bundles.md).
    #[arg(long, value_name = "FILE")]
    waivers: Option<PathBuf>,
    /// A policy: a WebAssembly component (.wasm) or a CEL policy file
    /// (.yaml, see docs/cel.md). Repeatable; added to the bundles.
    #[arg(long = "policy", value_name = "FILE")]
    policies: Vec<PathBuf>,
    /// Set a policy parameter: NAME=VALUE for every policy declaring NAME,
    /// or POLICY.NAME=VALUE for one. Repeatable.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Per-policy evaluation deadline in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    deadline_ms: u64,
    /// Per-policy memory cap in MiB (a component's linear memory; the
    /// values a CEL policy builds).
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    memory_mib: usize,
    /// Per-policy CEL cost budget in units (about one per operation, element
    /// or byte; see docs/sandbox.md). A CEL policy that could cost more on
    /// modest facts is refused at load; a run that reaches it denies.
    #[arg(long, value_name = "UNITS", default_value_t = Limits::default().cel_cost_budget)]
    cel_cost_budget: u64,
    /// Do not use the on-disk cache of compiled policies.
    #[arg(long)]
    no_cache: bool,
}

#[derive(Args)]
struct EvalArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// Evaluate as if now were this time (RFC 3339), e.g. to replay a decision.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// Deny (rule evidence/missing) when the facts lack any of these, as
    /// admission does: vulnerabilities, config, secrets, packages,
    /// signatures, attestations, misconfigurations. Comma-separated or
    /// repeated. Without it a
    /// missing scan only warns. Recommended in CI: vulnerabilities,config.
    #[arg(long, value_name = "FACTS", value_delimiter = ',')]
    require: Vec<customs::RequiredFact>,
}

#[derive(Args)]
struct SchemaArgs {
    #[arg(long, value_enum, default_value_t = SchemaKind::Facts)]
    kind: SchemaKind,
}

#[derive(Clone, Copy, ValueEnum)]
enum SchemaKind {
    /// The facts document (`customs facts`, facts v1).
    Facts,
    /// A CEL policy file.
    CelPolicy,
    /// A bundle manifest, customs-bundle.yaml.
    BundleManifest,
    /// A waivers file (--waivers).
    Waivers,
    /// A policy test suite, *.test.yaml.
    TestSuite,
}

impl SchemaKind {
    fn schema(self) -> serde_json::Value {
        match self {
            SchemaKind::Facts => customs_facts::json_schema(),
            SchemaKind::CelPolicy => customs::schemas::cel_policy(),
            SchemaKind::BundleManifest => customs::schemas::bundle_manifest(),
            SchemaKind::Waivers => customs::schemas::waivers(),
            SchemaKind::TestSuite => {
                serde_json::to_value(schemars::schema_for!(test_cmd::SuiteFile)).unwrap_or_default()
            }
        }
    }
}

#[derive(Args)]
struct FactsArgs {
    #[command(flatten)]
    input: InputArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    /// Human-readable, colored when stdout is a terminal.
    Text,
    /// The customs decision document.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
    /// JUnit XML, for GitLab, Jenkins and other CI test reports.
    Junit,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.log_format);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            // The message can quote a policy or an input: shown escaped.
            eprintln!("error: {}", customs::text::escaped(&format!("{error:#}")));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn init_logging(verbose: u8, format: LogFormat) {
    use tracing_subscriber::field::MakeExt;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUSTOMS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        // Fields can quote a policy or an input: each is shown escaped, so
        // none writes a line of its own or a terminal sequence.
        LogFormat::Text => builder
            .without_time()
            .fmt_fields(
                tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
                    let text = format!("{value:?}");
                    let text = customs::text::escaped(&text);
                    match field.name() {
                        "message" => write!(writer, "{text}"),
                        name => write!(writer, "{name}={text}"),
                    }
                })
                .delimited(" "),
            )
            .init(),
        // Collectors want the time and the fields as JSON.
        LogFormat::Json => builder.json().with_current_span(false).init(),
    }
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Eval(args) => eval(args),
        Command::Facts(args) => {
            let mut images = inputs::load(
                &args.input.inputs,
                args.input.input_format,
                args.input.platform.as_ref(),
                &args.input.trust,
                None,
            )?;
            // One document; an index read whole gives one per platform, as a list.
            match images.as_slice() {
                [one] => report::print_json(one)?,
                _ => report::print_json(&std::mem::take(&mut images))?,
            }
            Ok(EXIT_ALLOWED)
        }
        Command::Schema(args) => {
            report::print_json(&args.kind.schema())?;
            Ok(EXIT_ALLOWED)
        }
        Command::Policies(args) => {
            let (_, bundle) = load_bundle_once(&args)?;
            report::print_policies(&bundle)?;
            Ok(EXIT_ALLOWED)
        }
        Command::Bundle(args) => bundle_cmd::run(args),
        Command::Test(args) => test_cmd::run(args),
        Command::New(args) => new_cmd::run(args),
        Command::Bindgen(args) => component_cmd::bindgen(args),
        Command::Componentize(args) => component_cmd::componentize(args),
        Command::Serve(args) => serve_cmd::run(args),
        Command::Sweep(args) => sweep_cmd::run(args),
        Command::Replay(args) => replay_cmd::run(args),
        Command::Verify(args) => verify_cmd::run(args),
        Command::Export(args) => export_cmd::run(args),
        Command::Check(args) => check_cmd::run(args),
        Command::Lint(args) => lint_cmd::run(args),
    }
}

fn eval(args: EvalArgs) -> Result<u8> {
    let now = args
        .now
        .as_deref()
        .map(|text| {
            chrono::DateTime::parse_from_rfc3339(text)
                .map(|t| t.to_utc())
                .with_context(|| format!("--now {text:?} is not an RFC 3339 time"))
        })
        .transpose()?;
    // Signatures checked at the clock's time are checked at --now too.
    let images = inputs::load(
        &args.input.inputs,
        args.input.input_format,
        args.input.platform.as_ref(),
        &args.input.trust,
        now,
    )?;
    let (engine, bundle) = load_bundle_once(&args.policy)?;
    let mut options = EvalOptions::default();
    options.now = now.map(|t| t.timestamp());
    options.require = args.require;
    // An index read whole is decided platform by platform; the image is
    // denied if one of them is.
    let several = images.len() > 1;
    let decided: Vec<report::Decided> = images
        .into_iter()
        .map(|facts| report::Decided {
            platform: several.then(|| inputs::platform_name(&facts)),
            decision: engine.evaluate(&bundle, &PreparedFacts::new(facts), &options),
        })
        .collect();
    let input_names: Vec<String> = args
        .input
        .inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    match args.format {
        OutputFormat::Text => report::text::print(&decided, &bundle)?,
        OutputFormat::Json => report::print_decisions_json(&decided)?,
        OutputFormat::Sarif => report::sarif::print(&decided, &bundle, &input_names)?,
        OutputFormat::Junit => report::junit::print(&decided)?,
    }
    Ok(if decided.iter().all(|d| d.decision.is_allowed()) {
        EXIT_ALLOWED
    } else {
        EXIT_DENIED
    })
}

/// Builds the engine and the bundle the arguments name (the baseline by default).
fn load_bundle(args: &PolicyArgs) -> Result<(Engine, Bundle)> {
    load_bundle_with(args, EngineConfig::with_default_cache())
}

/// [`load_bundle`] for a run that decides one image and exits (`eval`,
/// `policies`): instances on demand, since setting up a pool for a server's
/// load costs more than the few instantiations the run makes.
fn load_bundle_once(args: &PolicyArgs) -> Result<(Engine, Bundle)> {
    load_bundle_with(args, EngineConfig::with_default_cache().pool_size(0))
}

fn load_bundle_with(args: &PolicyArgs, config: EngineConfig) -> Result<(Engine, Bundle)> {
    if args.deadline_ms == 0 || args.memory_mib == 0 || args.cel_cost_budget == 0 {
        bail!("--deadline-ms, --memory-mib and --cel-cost-budget must be greater than zero");
    }
    let memory_bytes = args
        .memory_mib
        .checked_mul(1 << 20)
        .context("--memory-mib is too large")?;
    let limits = Limits::default()
        .with_deadline(Duration::from_millis(args.deadline_ms))
        .with_memory_bytes(memory_bytes)
        .with_cel_memory_bytes(memory_bytes as u64)
        .with_cel_cost_budget(args.cel_cost_budget);
    let mut config = config.limits(limits);
    if args.no_cache {
        config = config.cache_dir(None);
    }
    let engine = Engine::new(config)?;
    let bundle = bundle_from(&engine, args)?;
    Ok((engine, bundle))
}

/// The bundle the arguments name, loaded (verified, compiled) with `engine`;
/// `customs serve` calls it again to reload.
fn bundle_from(engine: &Engine, args: &PolicyArgs) -> Result<Bundle> {
    let trust = args.trust.resolve()?;
    if trust.key().is_some() && !args.policies.is_empty() {
        bail!("--policy files carry no signature; put them in a signed bundle to use --key");
    }
    let mut bundles = args
        .bundles
        .iter()
        .map(|text| sources::load(engine, &sources::Source::parse(text)?, &trust))
        .collect::<Result<Vec<Bundle>>>()?;
    let mut bundle = if bundles.len() == 1 && args.policies.is_empty() {
        bundles.remove(0)
    } else if bundles.is_empty() && args.policies.is_empty() {
        engine.baseline()?
    } else {
        let mut merged = Bundle::new("policies");
        for other in bundles {
            merged.extend(other)?;
        }
        merged
    };
    for file in &args.policies {
        bundle.add(engine.load_policy_file(file)?)?;
    }
    if let Some(path) = &args.waivers {
        bundle.set_waivers(customs::Waivers::load_file(path)?);
    }
    for param in &args.params {
        let (key, value) = param.split_once('=').with_context(|| {
            format!("--param {param:?} must be NAME=VALUE or POLICY.NAME=VALUE")
        })?;
        bundle.set_param(key.trim(), value)?;
    }
    Ok(bundle)
}
