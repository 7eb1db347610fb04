//! `customs-bench`: customs against its peers, in one run, on the same facts
//! and the same rules. Writes `target/bench/report.json` and `report.md`.
//!
//! ```sh
//! cargo run --release -p customs-bench            # the full run (a few minutes)
//! cargo run --release -p customs-bench -- --quick # a smoke run (seconds), as CI does
//! cargo run --release -p customs-bench -- --load  # only the server under wrk (printed, not written)
//! cargo run --release -p customs-bench -- --image # only image reading (printed, not written)
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use customs::{Bundle, Engine, EngineConfig, EvalOptions, PreparedFacts};
use customs_bench::load::Endpoint;
use customs_bench::naive_cel::NaiveCel;
use customs_bench::rego::{RegoBaseline, RegoInput};
use customs_bench::{Verdict, generate, guest_path, status_kib};
use serde::Serialize;

/// 2026-11-01T00:00:00Z: every peer evaluates at the same instant.
const NOW: i64 = 1_793_491_200;

#[derive(Serialize)]
struct Stats {
    median_us: f64,
    p99_us: f64,
    iterations: usize,
}

/// Runs `f` repeatedly for about `budget` (at least 20 times, after a warm-up
/// of a tenth as long) and reports the median and 99th percentile.
fn measure(budget: Duration, f: impl FnMut()) -> Stats {
    measure_at_least(20, budget, f)
}

fn measure_at_least(min_samples: usize, budget: Duration, mut f: impl FnMut()) -> Stats {
    let warm_up = Instant::now();
    while warm_up.elapsed() < budget / 10 {
        f();
    }
    let mut samples = Vec::new();
    let started = Instant::now();
    while samples.len() < min_samples || (started.elapsed() < budget && samples.len() < 1_000_000) {
        let t = Instant::now();
        f();
        samples.push(t.elapsed());
    }
    stats(samples)
}

/// Times the `N` peers in ten interleaved rounds, about `budget` each in all,
/// so a slow spell of the machine falls on every peer alike and the ratios
/// between them hold.
fn measure_together<const N: usize>(
    budget: Duration,
    mut peers: [&mut dyn FnMut(); N],
) -> [Stats; N] {
    const ROUNDS: u32 = 10;
    for peer in peers.iter_mut() {
        let warm_up = Instant::now();
        while warm_up.elapsed() < budget / 10 {
            peer();
        }
    }
    let mut samples: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::new());
    for _ in 0..ROUNDS {
        for (peer, samples) in peers.iter_mut().zip(samples.iter_mut()) {
            let started = Instant::now();
            let mut count = 0;
            while count < 2 || started.elapsed() < budget / ROUNDS {
                let t = Instant::now();
                peer();
                samples.push(t.elapsed());
                count += 1;
            }
        }
    }
    samples.map(stats)
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort_unstable();
    let at = |q: f64| {
        let index = ((samples.len() - 1) as f64 * q).round() as usize;
        samples[index].as_secs_f64() * 1e6
    };
    Stats {
        median_us: at(0.5),
        p99_us: at(0.99),
        iterations: samples.len(),
    }
}

#[derive(Serialize)]
struct Latency {
    input: String,
    packages: usize,
    vulnerabilities: usize,
    wasm: Stats,
    cel: Stats,
    rego: Stats,
    /// The same CEL file on the `cel` crate, facts converted per evaluation.
    cel_plain: Stats,
    /// regorus time / customs WASM time.
    rego_over_wasm: f64,
    /// customs CEL time / customs WASM time.
    cel_over_wasm: f64,
    /// plain `cel` time / customs CEL time.
    cel_plain_over_cel: f64,
}

#[derive(Serialize)]
struct Target {
    name: String,
    target: String,
    value: String,
    met: bool,
}

#[derive(Serialize)]
struct Report {
    machine: String,
    mode: &'static str,
    now: i64,
    latency: Vec<Latency>,
    import: Option<ImportFigures>,
    noop: NoopFigures,
    cold_load: ColdLoad,
    /// Reading an image's layers against decompressing and listing them.
    image: Option<ImageFigures>,
    /// `customs eval` and the regorus peer as whole processes.
    processes: Option<ProcessFigures>,
    throughput: Throughput,
    memory: Vec<Memory>,
    soak: Option<Soak>,
    /// The server under wrk: the decision API, then admission.
    loads: Vec<customs_bench::load::Load>,
    targets: Vec<Target>,
    not_measured: Vec<String>,
}

/// Whole processes on a facts document on disk, as a CI job runs them.
#[derive(Serialize)]
struct ProcessFigures {
    /// `customs schema`: this binary's start and exit, nothing evaluated.
    floor: Stats,
    rows: Vec<ProcessRow>,
}

#[derive(Serialize)]
struct ProcessRow {
    input: String,
    bytes: usize,
    /// `customs eval FACTS` with the embedded baseline.
    customs: Stats,
    /// `rego-eval FACTS`: the Rego baseline on regorus, in its own process.
    regorus: Stats,
    customs_over_regorus: f64,
}

#[derive(Serialize)]
struct ImportFigures {
    file: String,
    bytes: usize,
    import: Stats,
    serde_json_parse: Stats,
    import_over_parse: f64,
}

#[derive(Serialize)]
struct NoopFigures {
    wasm: Option<Stats>,
    cel: Stats,
}

#[derive(Serialize)]
struct ColdLoad {
    no_cache: Stats,
    warm_cache: Stats,
}

#[derive(Serialize)]
struct Throughput {
    input: String,
    threads: usize,
    one_thread_per_s: f64,
    all_threads_per_s: f64,
    speedup: f64,
}

/// Peak resident memory while `concurrent` evaluations run at once, above
/// what the process held before, divided among them.
#[derive(Serialize)]
struct Memory {
    input: String,
    baseline: &'static str,
    concurrent: usize,
    peak_kib_per_evaluation: f64,
}

/// Resident memory before and after many evaluations of good and hostile
/// policies on every core: flat when nothing leaks.
#[derive(Serialize)]
struct Soak {
    evaluations: usize,
    policies: Vec<&'static str>,
    rss_before_kib: u64,
    rss_after_kib: u64,
}

struct Input {
    name: String,
    facts: customs_facts::Facts,
}

fn main() -> Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = if quick {
        Duration::from_millis(40)
    } else {
        Duration::from_secs(2)
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the bench crate lives in the workspace")?
        .to_path_buf();
    let out_dir = root.join("target").join("bench");
    std::fs::create_dir_all(&out_dir)?;

    let engine = Engine::new(EngineConfig::default())?;
    if std::env::args().any(|a| a == "--load") {
        // While working on the server: its two loads alone, nothing written.
        for endpoint in [Endpoint::Evaluate, Endpoint::Admission] {
            let load = load_figures(&engine, endpoint, if quick { 2 } else { 10 })?;
            println!("{}", serde_json::to_string(&load)?);
        }
        return Ok(());
    }
    if std::env::args().any(|a| a == "--image") {
        let mut not_measured = Vec::new();
        let image = image_figures(budget, quick, &mut not_measured)?;
        println!("{}", serde_json::to_string(&image)?);
        for note in not_measured {
            println!("not measured: {note}");
        }
        return Ok(());
    }
    let wasm = engine.baseline()?;
    let cel = engine.cel_baseline()?;
    let mut rego = RegoBaseline::new().map_err(anyhow::Error::msg)?;
    let cel_plain = NaiveCel::new().map_err(anyhow::Error::msg)?;
    let options = EvalOptions::at(NOW);

    let mut inputs: Vec<Input> = generate::SIZES
        .iter()
        .map(|(name, packages, vulnerabilities)| Input {
            name: (*name).to_owned(),
            facts: generate::facts(*packages, *vulnerabilities, NOW, 30),
        })
        .collect();
    let corpus = root.join("../shared/corpus");
    let largest = largest_report(&corpus);
    if let Some((path, facts)) = &largest {
        inputs.push(Input {
            name: format!(
                "corpus: {}",
                path.strip_prefix(&corpus).unwrap_or(path).display()
            ),
            facts: facts.clone(),
        });
    }

    let mut latency = Vec::new();
    for input in &inputs {
        let prepared = PreparedFacts::new(input.facts.clone());
        let rego_input = RegoInput::new(&input.facts).map_err(anyhow::Error::msg)?;
        // Equivalent before timed: the same decision and (rule, effect) pairs.
        let expected = Verdict::of(&engine.evaluate(&wasm, &prepared, &options))
            .map_err(anyhow::Error::msg)?;
        let from_cel =
            Verdict::of(&engine.evaluate(&cel, &prepared, &options)).map_err(anyhow::Error::msg)?;
        let from_rego = rego.verdict(&rego_input, NOW).map_err(anyhow::Error::msg)?;
        let from_plain = cel_plain
            .verdict(&input.facts, NOW)
            .map_err(anyhow::Error::msg)?;
        if from_cel != expected || from_rego != expected || from_plain != expected {
            bail!(
                "{}: the peers disagree, nothing timed\nwasm: {expected:?}\ncel: {from_cel:?}\nrego: {from_rego:?}\nplain cel: {from_plain:?}",
                input.name
            );
        }
        let [wasm_stats, cel_stats, rego_stats, plain_stats] = measure_together(
            budget,
            [
                &mut || {
                    std::hint::black_box(engine.evaluate(&wasm, &prepared, &options));
                },
                &mut || {
                    std::hint::black_box(engine.evaluate(&cel, &prepared, &options));
                },
                &mut || {
                    std::hint::black_box(rego.findings(&rego_input, NOW).ok());
                },
                &mut || {
                    std::hint::black_box(cel_plain.findings(&input.facts, NOW).ok());
                },
            ],
        );
        eprintln!(
            "{}: wasm {:.0} µs, cel {:.0} µs, rego {:.0} µs, plain cel {:.0} µs",
            input.name,
            wasm_stats.median_us,
            cel_stats.median_us,
            rego_stats.median_us,
            plain_stats.median_us
        );
        latency.push(Latency {
            input: input.name.clone(),
            packages: input.facts.packages.as_ref().map_or(0, Vec::len),
            vulnerabilities: input.facts.vulnerabilities.as_ref().map_or(0, Vec::len),
            rego_over_wasm: rego_stats.median_us / wasm_stats.median_us,
            cel_over_wasm: cel_stats.median_us / wasm_stats.median_us,
            cel_plain_over_cel: plain_stats.median_us / cel_stats.median_us,
            wasm: wasm_stats,
            cel: cel_stats,
            rego: rego_stats,
            cel_plain: plain_stats,
        });
    }

    let mut not_measured = Vec::new();
    let import = largest
        .as_ref()
        .map(|(path, _)| import_figures(path, budget))
        .transpose()?;
    if import.is_none() {
        not_measured.push(format!("import time: no corpus at {}", corpus.display()));
    }
    let noop = noop_figures(&engine, budget, &options, &mut not_measured)?;
    let cold_load = cold_load_figures(budget)?;
    let image = match image_figures(budget, quick, &mut not_measured) {
        Ok(image) => Some(image),
        Err(e) => {
            not_measured.push(format!("image reading: {e:#}"));
            None
        }
    };
    // Peers that disagree, or a process that fails, end the run (as the
    // in-process peers do): a missing binary is only "not measured".
    let processes = process_figures(budget, &inputs, &mut not_measured)?;
    let throughput = throughput_figures(&engine, &wasm, &inputs[1], budget, &options);
    let large = &inputs[2];
    let mut memory = Vec::new();
    for (name, bundle) in [("WASM", &wasm), ("CEL", &cel)] {
        for concurrent in [1, 8] {
            match memory_figure(&engine, bundle, large, concurrent, quick, &options) {
                Ok(peak) => memory.push(Memory {
                    input: large.name.clone(),
                    baseline: name,
                    concurrent,
                    peak_kib_per_evaluation: peak,
                }),
                Err(e) => {
                    not_measured.push(format!("peak memory: {e:#}"));
                    break;
                }
            }
        }
    }

    let soak = match soak_figure(&engine, if quick { 5_000 } else { 100_000 }) {
        Ok(soak) => Some(soak),
        Err(e) => {
            not_measured.push(format!("soak: {e:#}"));
            None
        }
    };
    let mut loads = Vec::new();
    for endpoint in [Endpoint::Evaluate, Endpoint::Admission] {
        match load_figures(&engine, endpoint, if quick { 2 } else { 10 }) {
            Ok(load) => loads.push(load),
            Err(e) => not_measured.push(format!("server load ({endpoint:?}): {e:#}")),
        }
    }
    let targets = targets(
        &latency,
        import.as_ref(),
        &noop,
        &throughput,
        &loads,
        image.as_ref(),
        processes.as_ref(),
    );
    let report = Report {
        machine: machine(),
        mode: match (quick, cfg!(debug_assertions)) {
            (_, true) => "debug build (smoke: timings say nothing; judge targets on a release run)",
            (true, false) => "quick (smoke: figures are rough)",
            (false, false) => "full",
        },
        now: NOW,
        latency,
        import,
        noop,
        cold_load,
        image,
        processes,
        throughput,
        memory,
        soak,
        loads,
        targets,
        not_measured,
    };
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(out_dir.join("report.json"), json)?;
    let markdown = markdown(&report);
    std::fs::write(out_dir.join("report.md"), &markdown)?;
    println!("{markdown}");
    println!("written: {}", out_dir.join("report.json").display());
    Ok(())
}

/// The largest scanner report or SBOM of the corpus that imports.
fn largest_report(corpus: &Path) -> Option<(PathBuf, customs_facts::Facts)> {
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(corpus)
        .ok()?
        .flatten()
        .filter(|dir| dir.path().is_dir())
        .flat_map(|dir| {
            std::fs::read_dir(dir.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter_map(|entry| Some((entry.metadata().ok()?.len(), entry.path())))
        .collect();
    files.sort();
    files.into_iter().rev().find_map(|(_, path)| {
        let bytes = std::fs::read(&path).ok()?;
        let mut facts = customs_facts::import::import_bytes(
            &customs_facts::import::Origin::file(&path),
            &bytes,
        )
        .ok()?;
        facts.normalize();
        Some((path, facts))
    })
}

fn import_figures(path: &Path, budget: Duration) -> Result<ImportFigures> {
    let bytes = std::fs::read(path)?;
    let origin = customs_facts::import::Origin::file(path);
    let [import, parse] = measure_together(
        budget,
        [
            &mut || {
                std::hint::black_box(customs_facts::import::import_bytes(&origin, &bytes).ok());
            },
            &mut || {
                std::hint::black_box(serde_json::from_slice::<serde_json::Value>(&bytes).ok());
            },
        ],
    );
    Ok(ImportFigures {
        file: path.display().to_string(),
        bytes: bytes.len(),
        import_over_parse: import.median_us / parse.median_us,
        import,
        serde_json_parse: parse,
    })
}

/// A policy that reads nothing and finds nothing: the fixed cost of one call.
fn noop_figures(
    engine: &Engine,
    budget: Duration,
    options: &EvalOptions,
    not_measured: &mut Vec<String>,
) -> Result<NoopFigures> {
    let prepared = PreparedFacts::new(generate::facts(1, 1, NOW, 1));
    let mut cel = Bundle::new("noop");
    cel.add(engine.load_cel_policy(
        "noop.yaml",
        "name: noop\nvalidations:\n  - rule: noop\n    expression: 'true'\n",
    )?)?;
    let cel_stats = measure(budget, || {
        std::hint::black_box(engine.evaluate(&cel, &prepared, options));
    });
    // The hostile suite's control case returns no findings at once.
    let guest = guest_path("allow");
    let wasm_stats = match std::fs::read(&guest) {
        Ok(bytes) => {
            let mut bundle = Bundle::new("noop");
            bundle.add(engine.load_policy("allow.wasm", &bytes)?)?;
            Some(measure(budget, || {
                std::hint::black_box(engine.evaluate(&bundle, &prepared, options));
            }))
        }
        Err(e) => {
            not_measured.push(format!(
                "no-op WASM policy: cannot read {} ({e}); build the workspace first",
                guest.display()
            ));
            None
        }
    };
    Ok(NoopFigures {
        wasm: wasm_stats,
        cel: cel_stats,
    })
}

/// Loading the baseline bundle in a new engine: compiling every component
/// (no cache), or reading them from a warm precompile cache.
fn cold_load_figures(budget: Duration) -> Result<ColdLoad> {
    let cache = tempfile_dir()?;
    let load = |dir: Option<PathBuf>| -> Result<()> {
        let engine = Engine::new(EngineConfig::default().cache_dir(dir))?;
        std::hint::black_box(engine.baseline()?);
        Ok(())
    };
    load(Some(cache.clone()))?;
    let mut failure = None;
    // Each load takes a second or more without the cache: a few suffice.
    let no_cache = measure_at_least(3, budget, || {
        if let Err(e) = load(None) {
            failure = Some(e);
        }
    });
    let warm_cache = measure_at_least(3, budget, || {
        if let Err(e) = load(Some(cache.clone())) {
            failure = Some(e);
        }
    });
    let _ = std::fs::remove_dir_all(&cache);
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(ColdLoad {
        no_cache,
        warm_cache,
    })
}

#[derive(Serialize)]
struct ImageFigures {
    uncompressed_mib: u64,
    files: usize,
    /// `customs_image::read`: digests, decompression, tar, whiteouts,
    /// executables, package database, facts.
    customs_read: Stats,
    /// Decompressing every layer and walking its tar entries, nothing else.
    list_floor: Stats,
    read_over_floor: f64,
    /// The same as users run it: a whole `customs facts` process against
    /// `tar -tzf` processes over the layers.
    process: Option<ImageProcess>,
}

#[derive(Serialize)]
struct ImageProcess {
    customs_facts: Stats,
    tar_list: Stats,
    customs_over_tar: f64,
}

fn image_figures(
    budget: Duration,
    quick: bool,
    not_measured: &mut Vec<String>,
) -> Result<ImageFigures> {
    let dir = tempfile_dir()?.join("image");
    let bytes: u64 = if quick { 8 << 20 } else { 100 << 20 };
    let image = customs_bench::image::write(&dir, bytes)?;
    let source = customs_image::ImageSource::parse(&image.source)?;
    let options = customs_image::ReadOptions::default();
    // Checked before timed: the reader sees every file the floor lists.
    let facts = customs_image::read(&source, &options)?;
    let listed = customs_bench::image::list_layers(&image.layers)?;
    let counted = facts
        .first()
        .and_then(|f| f.files.as_ref())
        .map_or(0, |f| f.file_count);
    if counted as usize != listed {
        bail!("the image reader counted {counted} files, the listing {listed}");
    }
    let mut failure = None;
    let [customs_read, list_floor] = measure_together(
        budget,
        [
            &mut || {
                if let Err(e) = customs_image::read(&source, &options) {
                    failure = Some(anyhow::Error::from(e));
                }
            },
            &mut || {
                std::hint::black_box(customs_bench::image::list_layers(&image.layers).ok());
            },
        ],
    );
    if let Some(e) = failure {
        return Err(e);
    }
    let customs = std::env::current_exe()?.with_file_name("customs");
    let process = if !customs.exists() {
        not_measured.push(format!(
            "image reading as a process: no customs binary at {} (cargo build --release -p customs-cli)",
            customs.display()
        ));
        None
    } else if std::process::Command::new("tar")
        .arg("--version")
        .output()
        .is_err()
    {
        not_measured.push("image reading as a process: no tar on PATH".to_owned());
        None
    } else {
        let run = |command: &mut std::process::Command| {
            let ok = command
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            std::hint::black_box(ok);
        };
        let [customs_facts, tar_list] = measure_together(
            budget,
            [
                &mut || run(std::process::Command::new(&customs).args(["facts", &image.source])),
                &mut || {
                    for layer in &image.layers {
                        run(std::process::Command::new("tar").arg("-tzf").arg(layer));
                    }
                },
            ],
        );
        Some(ImageProcess {
            customs_over_tar: customs_facts.median_us / tar_list.median_us,
            customs_facts,
            tar_list,
        })
    };
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ImageFigures {
        uncompressed_mib: image.uncompressed_bytes >> 20,
        files: image.files,
        read_over_floor: customs_read.median_us / list_floor.median_us,
        customs_read,
        list_floor,
        process,
    })
}

/// `customs eval` (embedded baseline) against the regorus peer as a process
/// (`rego-eval`), each reading the same facts document from disk, small and
/// large, interleaved; `customs schema` is the floor of the binary itself.
/// Both must reach the same verdict before anything is timed.
fn process_figures(
    budget: Duration,
    inputs: &[Input],
    not_measured: &mut Vec<String>,
) -> Result<Option<ProcessFigures>> {
    let customs = std::env::current_exe()?.with_file_name("customs");
    let rego = std::env::current_exe()?.with_file_name("rego-eval");
    for binary in [&customs, &rego] {
        if !binary.exists() {
            not_measured.push(format!(
                "whole processes: no {} (cargo build --release -p customs-cli -p customs-bench)",
                binary.display()
            ));
            return Ok(None);
        }
    }
    let now = chrono::DateTime::from_timestamp(NOW, 0)
        .context("NOW is a valid time")?
        .to_rfc3339();
    let dir = tempfile_dir()?;
    // The compile cache of these runs is their own (warm after the first
    // run, as on a CI runner that keeps ~/.cache), not the user's.
    let cache = dir.join("cache");
    let quiet = |command: &mut std::process::Command| {
        let ok = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.code().is_some_and(|code| code <= 1));
        std::hint::black_box(ok);
    };
    let schema = || {
        let mut command = std::process::Command::new(&customs);
        command.arg("schema").env("XDG_CACHE_HOME", &cache);
        command
    };
    let mut floor = None;
    let mut rows = Vec::new();
    for input in inputs
        .iter()
        .filter(|i| i.name == "small" || i.name == "large")
    {
        let path = dir.join(format!("{}.json", input.name));
        // A document on disk is a claim: customs records its signatures as
        // reported, not verified. Both peers read it as customs reads it.
        let as_read = customs_facts::import::import_as(
            &customs_facts::import::Origin::named(input.name.clone()),
            &serde_json::to_vec(&input.facts)?,
            customs_facts::import::Format::CustomsFacts,
        )?;
        let json = serde_json::to_vec(&as_read)?;
        std::fs::write(&path, &json)?;
        let eval = || {
            let mut command = std::process::Command::new(&customs);
            command
                .args(["eval", "--now", &now, "--format", "json"])
                .arg(&path)
                .env("XDG_CACHE_HOME", &cache);
            command
        };
        let regorus = || {
            let mut command = std::process::Command::new(&rego);
            command.arg(&path).arg(NOW.to_string());
            command
        };
        let customs_verdict = process_verdict(&eval().output()?)?;
        let rego_verdict = rego_process_verdict(&regorus().output()?)?;
        if customs_verdict != rego_verdict {
            bail!(
                "{}: customs eval and rego-eval disagree: {customs_verdict:?} vs {rego_verdict:?}",
                input.name
            );
        }
        // The floor is timed in the same rounds as the small document.
        let (customs_stats, rego_stats) = if floor.is_none() {
            let [schema_stats, customs_stats, rego_stats] = measure_together(
                budget,
                [
                    &mut || quiet(&mut schema()),
                    &mut || quiet(&mut eval()),
                    &mut || quiet(&mut regorus()),
                ],
            );
            floor = Some(schema_stats);
            (customs_stats, rego_stats)
        } else {
            let [customs_stats, rego_stats] = measure_together(
                budget,
                [&mut || quiet(&mut eval()), &mut || quiet(&mut regorus())],
            );
            (customs_stats, rego_stats)
        };
        eprintln!(
            "{} as processes: customs eval {:.1} ms, rego-eval {:.1} ms",
            input.name,
            customs_stats.median_us / 1000.0,
            rego_stats.median_us / 1000.0
        );
        rows.push(ProcessRow {
            input: input.name.clone(),
            bytes: json.len(),
            customs_over_regorus: customs_stats.median_us / rego_stats.median_us,
            customs: customs_stats,
            regorus: rego_stats,
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    let floor = floor.context("no small facts document to time the floor with")?;
    Ok(Some(ProcessFigures { floor, rows }))
}

/// The verdict `customs eval --format json` printed (exit 0 allow, 1 deny).
fn process_verdict(output: &std::process::Output) -> Result<Verdict> {
    let decision: serde_json::Value =
        serde_json::from_slice(&output.stdout).with_context(|| {
            format!(
                "customs eval printed no decision: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    let allowed = decision["decision"] == "allow";
    if output.status.code() != Some(if allowed { 0 } else { 1 }) {
        bail!(
            "customs eval exited {:?} for {}",
            output.status.code(),
            decision["decision"]
        );
    }
    let mut rules = std::collections::BTreeSet::new();
    for policy in decision["policies"].as_array().into_iter().flatten() {
        for finding in policy["findings"].as_array().into_iter().flatten() {
            let text = |field: &str| finding[field].as_str().unwrap_or_default().to_owned();
            rules.insert((text("rule"), text("effect")));
        }
    }
    Ok(Verdict { allowed, rules })
}

/// The verdict `rego-eval` printed: the decision, then "rule effect" lines.
fn rego_process_verdict(output: &std::process::Output) -> Result<Verdict> {
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    let allowed = match lines.next() {
        Some("allow") => true,
        Some("deny") => false,
        _ => bail!(
            "rego-eval printed no decision: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
    };
    let rules = lines
        .filter_map(|line| line.split_once(' '))
        .map(|(rule, effect)| (rule.to_owned(), effect.to_owned()))
        .collect();
    Ok(Verdict { allowed, rules })
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("customs-bench-cache-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Evaluations per second of the WASM baseline on one thread and on every core.
fn throughput_figures(
    engine: &Engine,
    bundle: &Bundle,
    input: &Input,
    budget: Duration,
    options: &EvalOptions,
) -> Throughput {
    let prepared = PreparedFacts::new(input.facts.clone());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Five alternating rounds of each, as the latency peers are interleaved.
    const ROUNDS: u32 = 5;
    let slice = budget / ROUNDS;
    let run = |threads: usize| -> f64 {
        let deadline = Instant::now() + slice;
        let total: usize = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut count = 0;
                        while Instant::now() < deadline {
                            std::hint::black_box(engine.evaluate(bundle, &prepared, options));
                            count += 1;
                        }
                        count
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
        });
        total as f64 / slice.as_secs_f64()
    };
    let (mut one, mut all) = (0.0, 0.0);
    for _ in 0..ROUNDS {
        one += run(1) / f64::from(ROUNDS);
        all += run(threads) / f64::from(ROUNDS);
    }
    Throughput {
        input: input.name.clone(),
        threads,
        one_thread_per_s: one,
        all_threads_per_s: all,
        speedup: all / one,
    }
}

/// Peak resident memory per evaluation with `concurrent` threads evaluating
/// at once: Linux's high-water mark is reset (`/proc/self/clear_refs`), the
/// threads run, and the rise above the resident size before is shared out.
fn memory_figure(
    engine: &Engine,
    bundle: &Bundle,
    input: &Input,
    concurrent: usize,
    quick: bool,
    options: &EvalOptions,
) -> Result<f64> {
    let prepared = PreparedFacts::new(input.facts.clone());
    // Warm: pool slots touched, facts converted for CEL, lazy state built.
    std::hint::black_box(engine.evaluate(bundle, &prepared, options));
    std::fs::write("/proc/self/clear_refs", "5").context("cannot reset the peak RSS")?;
    let before = status_kib("VmRSS")?;
    let rounds = if quick { 2 } else { 20 };
    std::thread::scope(|scope| {
        for _ in 0..concurrent {
            scope.spawn(|| {
                for _ in 0..rounds {
                    std::hint::black_box(engine.evaluate(bundle, &prepared, options));
                }
            });
        }
    });
    let peak = status_kib("VmHWM")?;
    Ok(peak.saturating_sub(before) as f64 / concurrent as f64)
}

/// `evaluations` of hostile-suite policies that allow, deny, trap, panic and
/// err, spread over every core, after a warm-up of a tenth as many.
fn soak_figure(engine: &Engine, evaluations: usize) -> Result<Soak> {
    const POLICIES: [&str; 5] = ["allow", "deny", "unreachable", "panics", "policy_error"];
    let bundles = POLICIES
        .iter()
        .map(|name| {
            let guest = guest_path(name);
            let bytes = std::fs::read(&guest)
                .with_context(|| format!("cannot read {}", guest.display()))?;
            let mut bundle = Bundle::new("soak");
            bundle.add(engine.load_policy(&format!("{name}.wasm"), &bytes)?)?;
            Ok(bundle)
        })
        .collect::<Result<Vec<_>>>()?;
    let prepared = PreparedFacts::new(generate::facts(50, 20, NOW, 30));
    let options = EvalOptions::at(NOW);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let run = |count: usize| {
        std::thread::scope(|scope| {
            for t in 0..threads {
                let (bundles, prepared, options) = (&bundles, &prepared, &options);
                scope.spawn(move || {
                    for i in (t..count).step_by(threads) {
                        let bundle = &bundles[i % bundles.len()];
                        std::hint::black_box(engine.evaluate(bundle, prepared, options));
                    }
                });
            }
        });
    };
    run(evaluations / 10);
    let rss_before_kib = status_kib("VmRSS")?;
    run(evaluations);
    let rss_after_kib = status_kib("VmRSS")?;
    Ok(Soak {
        evaluations,
        policies: POLICIES.to_vec(),
        rss_before_kib,
        rss_after_kib,
    })
}

/// The server under wrk, with small facts (the generator's "small").
fn load_figures(
    engine: &Engine,
    endpoint: Endpoint,
    seconds: u64,
) -> Result<customs_bench::load::Load> {
    let (_, packages, vulnerabilities) = generate::SIZES
        .iter()
        .find(|(name, _, _)| *name == "small")
        .context("no small size")?;
    let facts = generate::facts(*packages, *vulnerabilities, NOW, 30);
    let json = serde_json::to_vec(&facts)?;
    let work = tempfile_dir()?.join("load");
    std::fs::create_dir_all(&work)?;
    let load = customs_bench::load::run(engine, &json, endpoint, seconds, &work);
    let _ = std::fs::remove_dir_all(&work);
    load
}

fn targets(
    latency: &[Latency],
    import: Option<&ImportFigures>,
    noop: &NoopFigures,
    throughput: &Throughput,
    loads: &[customs_bench::load::Load],
    image: Option<&ImageFigures>,
    processes: Option<&ProcessFigures>,
) -> Vec<Target> {
    let mut targets = Vec::new();
    let mut add = |name: &str, target: &str, value: f64, unit: &str, met: bool| {
        targets.push(Target {
            name: name.to_owned(),
            target: target.to_owned(),
            value: format!("{value:.2}{unit}"),
            met,
        });
    };
    for row in latency
        .iter()
        .filter(|r| r.input == "large" || r.input == "small")
    {
        let want = if row.input == "large" { 3.0 } else { 2.0 };
        add(
            &format!("WASM baseline vs regorus, {} facts", row.input),
            &format!(">= {want}x faster"),
            row.rego_over_wasm,
            "x",
            row.rego_over_wasm >= want,
        );
    }
    if let Some(processes) = processes {
        for row in &processes.rows {
            if row.input == "small" {
                let over_floor = row.customs.median_us / processes.floor.median_us;
                add(
                    "whole process: `customs eval` small facts vs `customs schema` (the process floor)",
                    "<= 2x the floor",
                    over_floor,
                    "x",
                    over_floor <= 2.0,
                );
                add(
                    "whole process: `customs eval` vs a regorus process, small facts",
                    "<= 3x the regorus time",
                    row.customs_over_regorus,
                    "x",
                    row.customs_over_regorus <= 3.0,
                );
            } else {
                let faster = 1.0 / row.customs_over_regorus;
                add(
                    &format!(
                        "whole process: `customs eval` vs a regorus process, {} facts",
                        row.input
                    ),
                    ">= 2x faster",
                    faster,
                    "x",
                    faster >= 2.0,
                );
            }
        }
    }
    if let Some(image) = image {
        add(
            "image read vs decompress-and-list floor",
            "<= 1.5x the floor",
            image.read_over_floor,
            "x",
            image.read_over_floor <= 1.5,
        );
    }
    for row in latency {
        add(
            &format!("CEL baseline vs WASM baseline, {}", row.input),
            "<= 1.5x the WASM time",
            row.cel_over_wasm,
            "x",
            row.cel_over_wasm <= 1.5,
        );
    }
    if let Some(wasm) = &noop.wasm {
        add(
            "no-op WASM policy overhead",
            "< 5 µs",
            wasm.median_us,
            " µs",
            wasm.median_us < 5.0,
        );
    }
    if let Some(import) = import {
        add(
            "import vs plain serde_json parse",
            "<= 1.5x",
            import.import_over_parse,
            "x",
            import.import_over_parse <= 1.5,
        );
    }
    if throughput.threads >= 2 {
        add(
            &format!("throughput, {} cores vs 1", throughput.threads),
            ">= 1.8x",
            throughput.speedup,
            "x",
            throughput.speedup >= 1.8,
        );
    }
    for load in loads {
        let what = match load.endpoint {
            Endpoint::Evaluate => "server",
            Endpoint::Admission => "admission webhook (stored facts, recorded decisions)",
        };
        add(
            &format!("{what}: decisions per second, small facts (wrk on this machine)"),
            ">= 3000",
            load.decisions_per_s,
            "/s",
            load.decisions_per_s >= 3000.0,
        );
        add(
            &format!("{what}: p99 latency under that load"),
            "< 10 ms",
            load.p99_ms,
            " ms",
            load.p99_ms < 10.0,
        );
        add(
            &format!("{what}: errors under load"),
            "0",
            load.errors as f64,
            "",
            load.errors == 0,
        );
        let growth = load.rss_after_kib.saturating_sub(load.rss_before_kib) as f64 / 1024.0;
        add(
            &format!("{what}: memory growth over the run"),
            "<= 8 MiB (flat)",
            growth,
            " MiB",
            growth <= 8.0,
        );
    }
    targets
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{cpus} cores, {model}, {}", std::env::consts::OS)
}

fn markdown(report: &Report) -> String {
    let mut md = format!(
        "Measured on {} ({} run). Median / p99 per image, whole baseline ({} rules), facts prepared once.\n\n",
        report.machine,
        report.mode,
        customs::baseline::POLICIES.len()
    );
    md.push_str("| input | packages / vulns | customs WASM | customs CEL | regorus (Rego) | plain `cel` crate | regorus ÷ WASM | CEL ÷ WASM | plain ÷ customs CEL |\n|---|---|---|---|---|---|---|---|---|\n");
    for row in &report.latency {
        md.push_str(&format!(
            "| {} | {} / {} | {:.0} / {:.0} µs | {:.0} / {:.0} µs | {:.0} / {:.0} µs | {:.0} / {:.0} µs | {:.1}x | {:.2}x | {:.1}x |\n",
            row.input,
            row.packages,
            row.vulnerabilities,
            row.wasm.median_us,
            row.wasm.p99_us,
            row.cel.median_us,
            row.cel.p99_us,
            row.rego.median_us,
            row.rego.p99_us,
            row.cel_plain.median_us,
            row.cel_plain.p99_us,
            row.rego_over_wasm,
            row.cel_over_wasm,
            row.cel_plain_over_cel
        ));
    }
    md.push_str("\n| figure | value |\n|---|---|\n");
    if let Some(import) = &report.import {
        md.push_str(&format!(
            "| import {} ({} bytes) vs serde_json parse | {:.0} vs {:.0} µs ({:.2}x) |\n",
            import.file.rsplit('/').next().unwrap_or(&import.file),
            import.bytes,
            import.import.median_us,
            import.serde_json_parse.median_us,
            import.import_over_parse
        ));
    }
    if let Some(wasm) = &report.noop.wasm {
        md.push_str(&format!(
            "| no-op WASM policy | {:.1} µs |\n",
            wasm.median_us
        ));
    }
    md.push_str(&format!(
        "| no-op CEL policy | {:.1} µs |\n",
        report.noop.cel.median_us
    ));
    md.push_str(&format!(
        "| load the baseline in a new engine: no cache / warm cache | {:.0} / {:.0} ms |\n",
        report.cold_load.no_cache.median_us / 1000.0,
        report.cold_load.warm_cache.median_us / 1000.0
    ));
    if let Some(image) = &report.image {
        md.push_str(&format!(
            "| read an image ({} MiB uncompressed, {} files, gzip) vs decompress and list its layers | {:.0} vs {:.0} ms ({:.2}x) |\n",
            image.uncompressed_mib,
            image.files,
            image.customs_read.median_us / 1000.0,
            image.list_floor.median_us / 1000.0,
            image.read_over_floor
        ));
        if let Some(process) = &image.process {
            md.push_str(&format!(
                "| the same as processes: `customs facts oci-layout:` vs `tar -tzf` over the layers | {:.0} vs {:.0} ms ({:.2}x) |\n",
                process.customs_facts.median_us / 1000.0,
                process.tar_list.median_us / 1000.0,
                process.customs_over_tar
            ));
        }
    }
    if let Some(processes) = &report.processes {
        md.push_str(&format!(
            "| process floor: `customs schema` | {:.1} ms |\n",
            processes.floor.median_us / 1000.0
        ));
        for row in &processes.rows {
            md.push_str(&format!(
                "| whole process, {} facts document ({} KiB): `customs eval` (compile cache warm) vs a regorus process (`rego-eval`) | {:.1} vs {:.1} ms ({:.2}x) |\n",
                row.input,
                row.bytes >> 10,
                row.customs.median_us / 1000.0,
                row.regorus.median_us / 1000.0,
                row.customs_over_regorus
            ));
        }
    }
    md.push_str(&format!(
        "| throughput ({} facts, WASM baseline): 1 thread / {} threads | {:.0} / {:.0} per s ({:.2}x) |\n",
        report.throughput.input,
        report.throughput.threads,
        report.throughput.one_thread_per_s,
        report.throughput.all_threads_per_s,
        report.throughput.speedup
    ));
    for m in &report.memory {
        md.push_str(&format!(
            "| peak memory per evaluation, {} baseline, {} facts, {} at once | {:.0} KiB |\n",
            m.baseline, m.input, m.concurrent, m.peak_kib_per_evaluation
        ));
    }
    if let Some(soak) = &report.soak {
        md.push_str(&format!(
            "| soak: {} evaluations ({}) on all cores, RSS before / after | {} / {} KiB |\n",
            soak.evaluations,
            soak.policies.join(", "),
            soak.rss_before_kib,
            soak.rss_after_kib
        ));
    }
    for load in &report.loads {
        let what = match load.endpoint {
            Endpoint::Evaluate => "POST /v1/evaluate",
            Endpoint::Admission => {
                "POST /v1/admission (facts read from the store, decision recorded)"
            }
        };
        md.push_str(&format!(
            "| server under wrk, {what} ({} connections, {} s, {}-byte facts, whole baseline): decisions per s, p50 / p99, errors | {:.0} per s, {:.2} / {:.2} ms, {} errors of {} requests |\n",
            load.connections,
            load.seconds,
            load.facts_bytes,
            load.decisions_per_s,
            load.p50_ms,
            load.p99_ms,
            load.errors,
            load.requests
        ));
        md.push_str(&format!(
            "| server RSS before / after the load, {what} | {} / {} KiB |\n",
            load.rss_before_kib, load.rss_after_kib
        ));
    }
    md.push_str("\n| target | wanted | measured | met |\n|---|---|---|---|\n");
    for target in &report.targets {
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            target.name,
            target.target,
            target.value,
            match (cfg!(debug_assertions), target.met) {
                (true, _) => "not judged (debug build)",
                (false, true) => "yes",
                (false, false) => "**no**",
            }
        ));
    }
    for missing in &report.not_measured {
        md.push_str(&format!("\nNot measured: {missing}"));
    }
    md.push('\n');
    md
}
