//! Runs one benchmark case in a loop, for a profiler to watch:
//!
//! ```sh
//! cargo build --release -p customs-bench --examples
//! perf record -g target/release/examples/profile noop 5
//! CUSTOMS_BENCH_THREADS=2 target/release/examples/profile medium 5
//! ```
//!
//! Cases: `noop` (the hostile suite's `allow` policy), `small`, `medium`,
//! `large` (the WASM baseline on generated facts), `cel-small`, `cel-large`,
//! and `policy:FILE@INPUT` (any policy on the facts of one tool output, e.g.
//! a language guide's example on a corpus report).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use customs::{Bundle, Engine, EngineConfig, EvalOptions, PreparedFacts};
use customs_bench::generate;

const NOW: i64 = 1_793_491_200;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let case = args.next().unwrap_or_else(|| "noop".to_owned());
    let seconds: f64 = args.next().map_or(Ok(5.0), |s| s.parse())?;
    let pool: u32 = std::env::var("CUSTOMS_BENCH_POOL").map_or(Ok(64), |s| s.parse())?;
    let mut config = EngineConfig::default();
    config.pool_size = pool;
    let engine = Engine::new(config)?;
    let size = |name: &str| {
        generate::SIZES
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, p, v)| (*p, *v))
    };
    let (bundle, facts) = match case.as_str() {
        other if other.starts_with("policy:") => {
            let (policy, input) = other["policy:".len()..]
                .split_once('@')
                .context("policy:FILE@INPUT")?;
            let mut bundle = Bundle::new("file");
            bundle.add(engine.load_policy_file(Path::new(policy))?)?;
            let facts = customs_facts::import::import_file(Path::new(input))?;
            (bundle, facts)
        }
        "noop" => {
            let guest = customs_bench::guest_path("allow");
            let bytes = std::fs::read(&guest).with_context(|| guest.display().to_string())?;
            let mut bundle = Bundle::new("noop");
            bundle.add(engine.load_policy("allow.wasm", &bytes)?)?;
            (bundle, generate::facts(1, 1, NOW, 1))
        }
        other => {
            let (cel, name) = match other.strip_prefix("cel-") {
                Some(name) => (true, name),
                None => (false, other),
            };
            let Some((packages, vulns)) = size(name) else {
                bail!("unknown case {other}");
            };
            let bundle = if cel {
                engine.cel_baseline()?
            } else {
                engine.baseline()?
            };
            (bundle, generate::facts(packages, vulns, NOW, 30))
        }
    };
    let threads: usize = std::env::var("CUSTOMS_BENCH_THREADS").map_or(Ok(1), |s| s.parse())?;
    let prepared = PreparedFacts::new(facts);
    let options = EvalOptions::at(NOW);
    let started = Instant::now();
    let budget = Duration::from_secs_f64(seconds);
    let n: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut n = 0u64;
                    while started.elapsed() < budget {
                        std::hint::black_box(engine.evaluate(&bundle, &prepared, &options));
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    let per_s = n as f64 / started.elapsed().as_secs_f64();
    println!(
        "{case}: {n} evaluations on {threads} threads, {per_s:.0} per s, {:.1} µs each (pool {pool}, pooling {})",
        1e6 * threads as f64 / per_s,
        engine.is_pooling()
    );
    Ok(())
}
