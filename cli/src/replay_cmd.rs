//! `customs replay`: evaluate recorded decisions again (crate
//! customs-server's decision records) and show what would be decided now.
//! With the bundle that made them, a replay must decide the same; with
//! another bundle it shows what changes.

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use customs::text::escaped;
use customs_server::Store;
use customs_server::decisions::{ReplayError, Replayed, replay};
use customs_server::store::DecisionRecord;

/// Decisions read from the store at a time.
const PAGE: i64 = 500;

#[derive(Args)]
pub struct ReplayArgs {
    /// The decision to replay: its id, as the admission message, the
    /// `customs-decision` header and GET /v1/decisions name it.
    #[arg(
        value_name = "ID",
        required_unless_present = "since",
        conflicts_with = "since"
    )]
    id: Option<String>,
    /// Replay every decision made at or after this time (RFC 3339 or Unix seconds).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// With --since: only the decisions about this manifest digest.
    #[arg(long, value_name = "DIGEST", requires = "since")]
    digest: Option<String>,
    /// The facts store the server writes: sqlite:PATH or postgres://...
    #[arg(long, value_name = "URL")]
    store: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReplayFormat::Table)]
    format: ReplayFormat,
    #[command(flatten)]
    policy: crate::PolicyArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReplayFormat {
    Table,
    Json,
}

/// Exit 0 when every replayed decision is the same as recorded, 1 when one
/// differs (with the recorded bundle that is a defect, and says so) or
/// cannot be replayed (its facts are gone).
pub fn run(args: ReplayArgs) -> Result<u8> {
    let since = match &args.since {
        Some(text) => Some(customs_server::parse_time(text).with_context(|| {
            format!("--since {text:?} is neither an RFC 3339 time nor Unix seconds")
        })?),
        None => None,
    };
    let (engine, bundle) = crate::load_bundle(&args.policy)?;
    let bundle_id = customs_server::bundle_id(&bundle);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a runtime")?;
    let (replayed, unreplayable) = runtime.block_on(async {
        let store = Store::open_existing(&args.store).await?;
        let mut replayed = Vec::new();
        let mut unreplayable = Vec::new();
        let mut replay_one = async |record: &DecisionRecord| {
            match replay(&engine, &bundle, &bundle_id, &store, record).await {
                Ok(one) => replayed.push(one),
                // One record that cannot be replayed is reported, not the end of the run.
                Err(ReplayError::Unreplayable { id, reason }) => {
                    unreplayable.push(format!("{id}: {reason}"));
                }
                Err(ReplayError::Store(e)) => return Err(anyhow::Error::from(e)),
            }
            Ok(())
        };
        match (&args.id, since) {
            (Some(id), _) => replay_one(&store.decision(id).await?).await?,
            (None, Some(since)) => {
                // A page at a time, so memory stays bounded however many there are.
                let mut after = String::new();
                loop {
                    let page = store
                        .decisions(since, &after, args.digest.as_deref(), PAGE)
                        .await?;
                    for record in &page {
                        replay_one(record).await?;
                    }
                    match page.last() {
                        Some(last) if page.len() as i64 == PAGE => after = last.id.clone(),
                        _ => break,
                    }
                }
            }
            (None, None) => bail!("name a decision ID or --since TIME"),
        }
        store.close().await;
        Ok::<_, anyhow::Error>((replayed, unreplayable))
    })?;
    for line in &unreplayable {
        eprintln!("customs: cannot replay {}", escaped(line));
    }
    match args.format {
        ReplayFormat::Json => crate::report::print_json(&serde_json::json!({
            "bundle": bundle_id,
            "decisions": replayed,
        }))?,
        ReplayFormat::Table => print_table(&bundle_id, &replayed),
    }
    Ok(
        if replayed.iter().any(Replayed::differs) || !unreplayable.is_empty() {
            crate::EXIT_DENIED
        } else {
            crate::EXIT_ALLOWED
        },
    )
}

fn print_table(bundle_id: &str, replayed: &[Replayed]) {
    println!("replayed with bundle {}", escaped(bundle_id));
    for one in replayed {
        let at = chrono::DateTime::from_timestamp(one.decided_at, 0)
            .map_or_else(|| one.decided_at.to_string(), |t| t.to_rfc3339());
        let verdict = match (one.differs(), one.same_bundle) {
            (false, _) => "same",
            (true, true) => "NOT REPRODUCED with the bundle that made it",
            (true, false) => "changed",
        };
        println!(
            "{}  {:<9} {}  {} -> {}  {}",
            escaped(&one.id),
            one.kind_name(),
            at,
            one.recorded.decision,
            one.replayed.decision,
            verdict
        );
        if !one.same_bundle {
            println!("    recorded with {}", escaped(&one.recorded_bundle));
        }
        for line in &one.diff {
            println!("    {}", escaped(line));
        }
    }
    let changed = replayed.iter().filter(|r| r.differs()).count();
    println!(
        "{} decisions replayed, {} the same, {} different",
        replayed.len(),
        replayed.len() - changed,
        changed
    );
}
