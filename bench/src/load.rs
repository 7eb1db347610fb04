//! The server under load: `customs serve` (the library the CLI runs, in this
//! process) on 127.0.0.1, driven by wrk (Debian's package), the whole
//! baseline deciding each request: the decision API with small facts in the
//! body, and the admission webhook judging a Pod whose image's small facts
//! are in the store (read, judged and the decision recorded per request).
//! Reports decisions per second, latency percentiles, errors, and the
//! process's resident memory before and after the run.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use customs::Engine;
use customs_server::{Server, ServerConfig};
use serde::Serialize;

/// Which endpoint the load drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `POST /v1/evaluate` with the facts as the body.
    Evaluate,
    /// `POST /v1/admission` with a Pod review; the facts are stored first.
    Admission,
}

#[derive(Debug, Serialize)]
pub struct Load {
    pub endpoint: Endpoint,
    pub seconds: u64,
    pub connections: u32,
    pub facts_bytes: usize,
    pub decisions_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Non-2xx answers plus socket errors (connect, read, write, timeout).
    pub errors: u64,
    pub requests: u64,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
}

const SCRIPT: &str = r#"
local f = assert(io.open(os.getenv("CUSTOMS_LOAD_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
"#;

/// The digest the admission load's Pod runs.
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Runs wrk against a server on a free loopback port for `seconds` (after a
/// one-second warm-up that is not counted).
pub fn run(
    engine: &Engine,
    facts_json: &[u8],
    endpoint: Endpoint,
    seconds: u64,
    work: &Path,
) -> Result<Load> {
    if Command::new("wrk").arg("--version").output().is_err() {
        bail!("wrk is not installed (apt-get install wrk; .ci/run does)");
    }
    let body_path = work.join("load-body.json");
    let script_path = work.join("load.lua");
    std::fs::write(&script_path, SCRIPT)?;
    let store = format!("sqlite:{}", work.join("load.db").display());
    let _ = std::fs::remove_file(work.join("load.db"));
    let config = ServerConfig {
        store: store.clone(),
        sweep_interval_secs: 0,
        ..ServerConfig::default()
    };
    let bundle = engine.baseline()?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (path, body) = match endpoint {
        Endpoint::Evaluate => ("/v1/evaluate", facts_json.to_vec()),
        Endpoint::Admission => {
            runtime.block_on(store_facts(&store, facts_json))?;
            ("/v1/admission", review().to_string().into_bytes())
        }
    };
    std::fs::write(&body_path, &body)?;
    let url = format!("http://{address}{path}");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.block_on(Server::start(engine.clone(), bundle, config))?;
    let serving = runtime.spawn(server.serve_on(listener, async {
        let _ = stopped.await;
    }));

    let connections = 16;
    let wrk = |seconds: u64| -> Result<String> {
        let output = Command::new("wrk")
            .args([
                "-t2",
                &format!("-c{connections}"),
                &format!("-d{seconds}s"),
                "--latency",
                "-s",
            ])
            .arg(&script_path)
            .arg(&url)
            .env("CUSTOMS_LOAD_BODY", &body_path)
            .output()
            .context("cannot run wrk")?;
        if !output.status.success() {
            bail!("wrk failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    if endpoint == Endpoint::Admission {
        check_admission(address, &body)?;
    }
    wrk(1)?;
    let rss_before_kib = crate::status_kib("VmRSS")?;
    let text = wrk(seconds)?;
    let rss_after_kib = crate::status_kib("VmRSS")?;
    let _ = stop.send(());
    runtime.block_on(async {
        let _ = tokio::time::timeout(Duration::from_secs(15), serving).await;
    });
    let mut load = parse(&text).with_context(|| format!("unexpected wrk output:\n{text}"))?;
    load.endpoint = endpoint;
    load.seconds = seconds;
    load.connections = connections;
    load.facts_bytes = facts_json.len();
    load.rss_before_kib = rss_before_kib;
    load.rss_after_kib = rss_after_kib;
    Ok(load)
}

/// Records the facts for [`DIGEST`] as a pipeline would, now.
async fn store_facts(store: &str, facts_json: &[u8]) -> Result<()> {
    let mut facts: serde_json::Value = serde_json::from_slice(facts_json)?;
    facts["image"]["digest"] = serde_json::json!(DIGEST);
    let store = customs_server::Store::open(store).await?;
    let now = chrono::Utc::now().timestamp();
    store
        .put(&customs_server::ImageRecord {
            digest: DIGEST.to_owned(),
            facts,
            recorded_at: now,
            decision: "allow".to_owned(),
            result: serde_json::json!({}),
            evaluated_at: now,
            bundle: "bench".to_owned(),
            facts_digest: None,
            writer: None,
        })
        .await?;
    store.close().await;
    Ok(())
}

/// A Pod running the stored image as non-root.
fn review() -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "7f0b2e2c-bench",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "operation": "CREATE",
            "namespace": "default",
            "object": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "bench", "namespace": "default"},
                "spec": {"containers": [{
                    "name": "app",
                    "image": format!("ghcr.io/acme/app@{DIGEST}"),
                    "securityContext": {"runAsNonRoot": true}
                }]}
            }
        }
    })
}

/// One review before timing: it must reach the bundle (not stop at a
/// missing or incomplete record), or the figures would time something else.
fn check_admission(address: std::net::SocketAddr, body: &[u8]) -> Result<()> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "POST /v1/admission HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    if !answer.starts_with("HTTP/1.1 200") || !answer.contains("\"decision\"") {
        bail!("the admission review was not judged: {answer}");
    }
    for early in [
        "pipeline-facts",
        "incomplete-facts",
        "stale-facts",
        "digest-pinned",
    ] {
        if answer.contains(early) {
            bail!("the admission review stopped before the bundle ({early}): {answer}");
        }
    }
    Ok(())
}

/// Milliseconds of a wrk duration ("850.00us", "3.01ms", "1.02s").
fn millis(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => value / 1000.0,
        "ms" => value,
        "s" => value * 1000.0,
        "m" => value * 60_000.0,
        _ => return None,
    })
}

fn parse(text: &str) -> Option<Load> {
    let mut load = Load {
        endpoint: Endpoint::Evaluate,
        seconds: 0,
        connections: 0,
        facts_bytes: 0,
        decisions_per_s: 0.0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        errors: 0,
        requests: 0,
        rss_before_kib: 0,
        rss_after_kib: 0,
    };
    let mut seen = (false, false, false);
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", rate] => {
                load.decisions_per_s = rate.parse().ok()?;
                seen.0 = true;
            }
            ["50%", value] => load.p50_ms = millis(value)?,
            ["99%", value] => {
                load.p99_ms = millis(value)?;
                seen.1 = true;
            }
            [count, "requests", "in", ..] => {
                load.requests = count.parse().ok()?;
                seen.2 = true;
            }
            ["Non-2xx", "or", "3xx", "responses:", count] => {
                load.errors += count.parse::<u64>().ok()?
            }
            ["Socket", "errors:", rest @ ..] => {
                // "connect 0, read 0, write 0, timeout 0"
                for pair in rest.chunks(2) {
                    if let [_, count] = pair {
                        load.errors += count.trim_end_matches(',').parse::<u64>().ok()?;
                    }
                }
            }
            _ => {}
        }
    }
    (seen == (true, true, true)).then_some(load)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let text = "Running 10s test @ http://127.0.0.1:1/v1/evaluate\n  2 threads and 16 connections\n  Latency Distribution\n     50%    3.01ms\n     75%    3.71ms\n     90%    4.49ms\n     99%  850.00us\n  51614 requests in 10.02s, 133.75MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\n  Non-2xx or 3xx responses: 4\nRequests/sec:   5149.65\n";
        let load = parse(text).unwrap();
        assert_eq!(load.requests, 51614);
        assert!((load.decisions_per_s - 5149.65).abs() < 1e-9);
        assert!((load.p50_ms - 3.01).abs() < 1e-9);
        assert!((load.p99_ms - 0.85).abs() < 1e-9);
        assert_eq!(load.errors, 7);
        assert!(parse("garbage").is_none());
    }
}
