//! `customs sweep`: re-evaluate the facts store against the bundle, list stale
//! facts and pushed digests that never got facts (crate customs-server).

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use customs::text::escaped;
use customs_server::Store;
use customs_server::sweep::{SweepOptions, SweepReport, sweep};

#[derive(Args)]
pub struct SweepArgs {
    /// The facts store the server writes: sqlite:PATH or postgres://...
    #[arg(long, value_name = "URL")]
    store: String,
    /// Facts recorded longer ago than this are stale (the image needs a rescan).
    #[arg(long, value_name = "DAYS", default_value_t = 7)]
    stale_after_days: i64,
    /// Write the new decisions to the store (the server's periodic sweep does).
    #[arg(long)]
    write: bool,
    /// Sweep as if now were this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SweepFormat::Table)]
    format: SweepFormat,
    #[command(flatten)]
    policy: crate::PolicyArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum SweepFormat {
    Table,
    Json,
}

/// Exit 0 when nothing needs a person, 1 when an image is denied, stale,
/// pushed without facts, or its record is damaged.
pub fn run(args: SweepArgs) -> Result<u8> {
    let now = match &args.now {
        Some(text) => chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| t.timestamp())
            .with_context(|| format!("--now {text:?} is not an RFC 3339 time"))?,
        None => chrono::Utc::now().timestamp(),
    };
    let (engine, bundle) = crate::load_bundle(&args.policy)?;
    let bundle_id = customs_server::bundle_id(&bundle);
    let options = SweepOptions {
        stale_after_secs: args.stale_after_days.saturating_mul(86_400),
        now,
        update: args.write,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a runtime")?;
    let report = runtime.block_on(async {
        let store = Store::open(&args.store).await?;
        let report = sweep(&engine, &bundle, &bundle_id, &store, &options).await;
        store.close().await;
        report
    })?;
    match args.format {
        SweepFormat::Json => crate::report::print_json(&report)?,
        SweepFormat::Table => print_table(&report),
    }
    Ok(if report.needs_action() {
        crate::EXIT_DENIED
    } else {
        crate::EXIT_ALLOWED
    })
}

fn day(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map_or_else(|| t.to_string(), |t| t.format("%Y-%m-%d").to_string())
}

fn print_table(report: &SweepReport) {
    println!(
        "sweep at {} with bundle {}",
        day(report.now),
        escaped(&report.bundle)
    );
    println!("\nimages ({})", report.images.len());
    for image in &report.images {
        let change = if image.before == image.after {
            String::new()
        } else {
            format!(" (was {})", image.before)
        };
        println!(
            "  {:<6} {}{}{}",
            image.after,
            escaped(&image.digest),
            change,
            if image.denied_rules.is_empty() {
                String::new()
            } else {
                format!(": {}", escaped(&image.denied_rules.join(", ")))
            }
        );
    }
    println!("\nstale facts ({})", report.stale.len());
    for stale in &report.stale {
        println!(
            "  {}  recorded {} ({} days ago): rescan it",
            escaped(&stale.digest),
            day(stale.recorded_at),
            stale.age_days
        );
    }
    println!("\npushed, never evaluated ({})", report.unevaluated.len());
    for push in &report.unevaluated {
        println!(
            "  {}/{}{}@{}  pushed {} ({})",
            escaped(&push.registry),
            escaped(&push.repository),
            push.tag
                .as_deref()
                .map(|t| format!(":{}", escaped(t)))
                .unwrap_or_default(),
            escaped(&push.digest),
            day(push.pushed_at),
            escaped(&push.source)
        );
    }
    if !report.errors.is_empty() {
        println!("\nerrors ({})", report.errors.len());
        for error in &report.errors {
            println!("  {}", escaped(error));
        }
    }
}
