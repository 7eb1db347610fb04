//! `customs serve` end to end over real TCP on 127.0.0.1: the decision API
//! answers as `customs eval --format json`, the facts store keeps what a
//! pipeline recorded (behind its token), the admission webhook admits only
//! digest-pinned images with pipeline facts that pass the bundle, and bad
//! requests get clear errors. The OpenAPI description is checked against
//! the routes and the answers.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use customs::Bundle;
use customs_server::{ROUTES, Server, ServerConfig};
use customs_tests::{baseline, corpus_dir, engine, missing_evidence};
use serde_json::{Value, json};

pub(crate) const TOKEN: &str = "test-token-0123456789";
const NOW: &str = "2026-11-01T00:00:00Z";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn digest(n: char) -> String {
    format!("sha256:{}", n.to_string().repeat(64))
}

/// A server on a free port with its own SQLite file; stops when dropped.
pub(crate) struct Running {
    pub(crate) url: String,
    store: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Running {
    pub(crate) async fn start(bundle: Bundle, adjust: impl FnOnce(&mut ServerConfig)) -> Running {
        Running::start_reloadable(bundle, adjust, None).await.0
    }

    async fn start_reloadable(
        bundle: Bundle,
        adjust: impl FnOnce(&mut ServerConfig),
        loader: Option<customs_server::BundleLoader>,
    ) -> (Running, customs_server::ReloadHandle) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig {
            store: format!("sqlite:{}", dir.path().join("facts.db").display()),
            token: Some(TOKEN.to_owned()),
            ..ServerConfig::default()
        };
        adjust(&mut config);
        let tls = config.tls.is_some();
        let store = config.store.clone();
        let mut server = Server::start(engine().clone(), bundle, config)
            .await
            .unwrap();
        if let Some(loader) = loader {
            server = server.with_loader(loader);
        }
        let reload = server.reload_handle();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            server
                .serve_on(listener, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        let scheme = if tls { "https" } else { "http" };
        let running = Running {
            url: format!("{scheme}://127.0.0.1:{port}"),
            store,
            stop: Some(stop),
            done: Some(done),
            _dir: dir,
        };
        (running, reload)
    }

    /// `POST /v1/images/{digest}/facts` with the token: the tool output and
    /// a part naming the digest (the corpus reports name none).
    async fn record(&self, digest: &str, body: Vec<u8>) -> reqwest::Response {
        self.record_as(TOKEN, digest, body).await
    }

    async fn record_as(&self, token: &str, digest: &str, body: Vec<u8>) -> reqwest::Response {
        let form = reqwest::multipart::Form::new()
            .part("report", reqwest::multipart::Part::bytes(body))
            .part(
                "digest",
                reqwest::multipart::Part::bytes(
                    json!({"schema_version": "1", "image": {"digest": digest}})
                        .to_string()
                        .into_bytes(),
                ),
            );
        client()
            .post(format!("{}/v1/images/{digest}/facts", self.url))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// `POST /v1/events/{source}` (distribution, harbor) with the token.
    async fn post_event(&self, source: &str, event: &Value) -> reqwest::Response {
        client()
            .post(format!("{}/v1/events/{source}", self.url))
            .bearer_auth(TOKEN)
            .json(event)
            .send()
            .await
            .unwrap()
    }

    /// `GET path` with a bearer token, as JSON.
    async fn read_json(&self, path: &str, token: &str) -> Value {
        client()
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        client()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }

    async fn metrics(&self) -> String {
        self.get("/metrics").await.text().await.unwrap()
    }

    pub(crate) async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        tokio::time::timeout(
            std::time::Duration::from_secs(20),
            self.done.take().unwrap(),
        )
        .await
        .expect("graceful shutdown within 20 s")
        .unwrap();
    }
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
}

fn report(path: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join(path)).unwrap()
}

/// The decision without its timings, which differ from run to run.
fn without_durations(mut decision: Value) -> Value {
    for policy in decision["policies"].as_array_mut().unwrap() {
        policy.as_object_mut().unwrap().remove("duration_us");
    }
    decision
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluate_answers_as_customs_eval_json() {
    let server = Running::start(baseline(), |_| {}).await;
    let input = corpus_dir().join("trivy/alpine-310.json");
    let response = client()
        .post(format!("{}/v1/evaluate?now={NOW}", server.url))
        .body(std::fs::read(&input).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let served: Value = response.json().await.unwrap();

    let output = assert_cmd::Command::cargo_bin("customs")
        .unwrap()
        .args(["eval", "--format", "json", "--now", NOW])
        .arg(&input)
        .output()
        .unwrap();
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(without_durations(served), without_durations(printed));

    // Several tool outputs about one image: one multipart part each, merged
    // as `customs eval` merges files.
    let vex = corpus_dir().join("openvex/go-vex-alpine-v0.2.0.openvex.json");
    let form = reqwest::multipart::Form::new()
        .part(
            "trivy",
            reqwest::multipart::Part::bytes(std::fs::read(&input).unwrap()).file_name("trivy.json"),
        )
        .part(
            "vex",
            reqwest::multipart::Part::bytes(std::fs::read(&vex).unwrap()).file_name("vex.json"),
        );
    let response = client()
        .post(format!("{}/v1/evaluate?now={NOW}", server.url))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let served: Value = response.json().await.unwrap();
    let output = assert_cmd::Command::cargo_bin("customs")
        .unwrap()
        .args(["eval", "--format", "json", "--now", NOW])
        .arg(&input)
        .arg(&vex)
        .output()
        .unwrap();
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(without_durations(served), without_durations(printed));

    // A part that is no tool output is named in the error.
    let form = reqwest::multipart::Form::new()
        .part(
            "trivy",
            reqwest::multipart::Part::bytes(report("trivy/alpine-310.json"))
                .file_name("trivy.json"),
        )
        .part(
            "vex",
            reqwest::multipart::Part::bytes(b"{}".to_vec()).file_name("empty.json"),
        );
    let response = client()
        .post(format!("{}/v1/evaluate", server.url))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"].as_str().unwrap().starts_with("empty.json: "),
        "{error}"
    );
    server.stop().await;
}

/// What `customs eval` says on stderr about skipped input comes back as
/// `Warning` headers; the body stays the same JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn importer_warnings_come_back_as_warning_headers() {
    let server = Running::start(baseline(), |_| {}).await;
    let warnings = |response: &reqwest::Response| -> Vec<String> {
        response
            .headers()
            .get_all("warning")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    let input = corpus_dir().join("grype/dd-debian-10-same-cve-different-paths.json");
    let response = client()
        .post(format!("{}/v1/evaluate?now={NOW}", server.url))
        .body(std::fs::read(&input).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let served = warnings(&response);
    let output = assert_cmd::Command::cargo_bin("customs")
        .unwrap()
        .args(["eval", "--format", "json", "--now", NOW])
        .arg(&input)
        .output()
        .unwrap();
    let prefix = format!("warning: {}: ", input.display());
    let printed: Vec<String> = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .map(|text| format!("299 customs \"body: {}\"", text.replace('"', "\\\"")))
        .collect();
    assert_eq!(
        printed.len(),
        2,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(served, printed);
    assert!(
        served[0].contains(r#"ignored manifestDigest \"sha256:test\""#),
        "{served:?}"
    );

    // 21 warnings: 20 shown, the rest counted.
    let response = client()
        .post(format!("{}/v1/evaluate", server.url))
        .body(std::fs::read(corpus_dir().join("openvex/trivy-project.openvex.json")).unwrap())
        .send()
        .await
        .unwrap();
    let served = warnings(&response);
    assert_eq!(served.len(), 21, "{served:?}");
    assert!(
        served[0].starts_with("299 customs \"body: the VEX statement for "),
        "{served:?}"
    );
    assert_eq!(
        served[20],
        "299 customs \"1 more importer warnings not shown\""
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors() {
    let server = Running::start(baseline(), |c| c.max_body_bytes = 64 << 10).await;
    let post = |path: &str, body: Vec<u8>| {
        client()
            .post(format!("{}{path}", server.url))
            .body(body)
            .send()
    };
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "/v1/evaluate",
            b"{\"SchemaVersion\": 2,".to_vec(),
            400,
            "not valid JSON",
        ),
        ("/v1/evaluate", b"{\"hello\": 1}".to_vec(), 400, "body"),
        (
            "/v1/evaluate?format=nope",
            b"{}".to_vec(),
            400,
            "unknown format \"nope\"",
        ),
        (
            "/v1/evaluate?now=yesterday",
            b"{}".to_vec(),
            400,
            "RFC 3339",
        ),
        (
            "/v1/evaluate",
            vec![b' '; 100 << 10],
            413,
            "larger than 65536 bytes",
        ),
        (
            "/v1/admission",
            b"[]".to_vec(),
            400,
            "not an AdmissionReview",
        ),
        (
            "/v1/admission",
            b"{\"request\": {}}".to_vec(),
            400,
            "not an AdmissionReview",
        ),
        ("/v1/admission", b"{}".to_vec(), 400, "no request.uid"),
    ];
    for (path, body, status, expected) in cases {
        let response = post(path, body).await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        let error: Value = response.json().await.unwrap();
        let text = error["error"].as_str().unwrap();
        assert!(text.contains(expected), "{path}: {text}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_facts_store_keeps_what_the_pipeline_recorded_behind_its_token() {
    let server = Running::start(baseline(), |_| {}).await;
    let image = digest('a');
    let url = format!("{}/v1/images/{image}/facts", server.url);
    let body = report("trivy/alpine-310.json");

    let no_token = client().post(&url).body(body.clone()).send().await.unwrap();
    assert_eq!(no_token.status(), 401);
    let wrong = client()
        .post(&url)
        .bearer_auth("not-the-token-000000")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let bad_digest = client()
        .post(format!("{}/v1/images/sha256:ABC/facts", server.url))
        .bearer_auth(TOKEN)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(bad_digest.status(), 400);
    // Nothing was written by the refused requests.
    let missing = client()
        .get(format!("{}/v1/images/{image}", server.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // A report that names no digest is not filed under the URL's.
    let unbound = client()
        .post(&url)
        .bearer_auth(TOKEN)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unbound.status(), 400);
    let error: Value = unbound.json().await.unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("the facts name no image digest"),
        "{error}"
    );

    let recorded = server.record(&image, body.clone()).await;
    assert_eq!(recorded.status(), 200);
    let decision_id = recorded
        .headers()
        .get("customs-decision")
        .expect("the decision record's id")
        .to_str()
        .unwrap()
        .to_owned();
    let decision: Value = recorded.json().await.unwrap();
    assert_eq!(decision["decision"], "deny");
    assert_eq!(decision["image"]["digest"], image.as_str());

    let record: Value = server
        .read_json(&format!("/v1/images/{image}"), TOKEN)
        .await;
    assert_eq!(record["digest"], image.as_str());
    assert_eq!(record["decision"], "deny");
    assert_eq!(record["facts"]["image"]["digest"], image.as_str());
    assert!(record["bundle"].as_str().unwrap().starts_with("baseline "));
    assert!(record["recorded_at"].as_i64().unwrap() > 1_700_000_000);

    // Facts that name another digest are refused, not filed under this one.
    let other = client()
        .post(format!("{}/v1/images/{}/facts", server.url, digest('b')))
        .bearer_auth(TOKEN)
        .json(&record["facts"])
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 400);
    let error: Value = other.json().await.unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("not sha256:bbbb"),
        "{error}"
    );

    // An index digest is not admitted on the facts of one of its platforms.
    let index = client()
        .post(format!("{}/v1/images/{}/facts", server.url, digest('d')))
        .bearer_auth(TOKEN)
        .json(&json!({"schema_version": "1", "image": {"digest": digest('d'), "index_digest": digest('d')}}))
        .send()
        .await
        .unwrap();
    assert_eq!(index.status(), 400);
    let error: Value = index.json().await.unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("is an image index"),
        "{error}"
    );

    // The decision is on record, naming the facts it was made on.
    let unauthenticated = server.get(&format!("/v1/decisions/{decision_id}")).await;
    assert_eq!(unauthenticated.status(), 401);
    let decided: Value = server
        .read_json(&format!("/v1/decisions/{decision_id}"), TOKEN)
        .await;
    assert_eq!(decided["kind"], "facts");
    assert_eq!(decided["decision"], "deny");
    assert_eq!(decided["bundle"], record["bundle"]);
    assert_eq!(decided["images"][0]["digest"], image.as_str());
    assert_eq!(decided["images"][0]["facts_digest"], record["facts_digest"]);
    assert_eq!(
        decided["reasons"]["denials"],
        json!(denied_lines(&decision)),
        "the record keeps the answer's denials"
    );
    let listed: Value = server
        .read_json(
            &format!("/v1/decisions?digest={image}&since=2020-01-01T00:00:00Z"),
            TOKEN,
        )
        .await;
    assert_eq!(listed["decisions"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["decisions"][0]["id"], decision_id.as_str());
    let other_digest: Value = client()
        .get(format!(
            "{}/v1/decisions?digest={}",
            server.url,
            digest('c')
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(other_digest["decisions"], json!([]));

    let metrics = server.metrics().await;
    assert!(metrics.contains("customs_store_images 1"), "{metrics}");
    assert!(
        metrics.contains(r#"customs_decisions_total{endpoint="facts",decision="deny"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("customs_evaluation_seconds_bucket"));
    server.stop().await;
}

const RUN_AS_NON_ROOT: &str = r#"
name: run-as-non-root
version: 1.0.0
description: every container of the workload runs as non-root
validations:
  - rule: run-as-non-root
    expression: >-
      workload == null || workload.containers.all(c,
        c.security_context.run_as_non_root == true)
    message: a container may run as root (securityContext.runAsNonRoot is not true)
    severity: high
"#;

fn pod(image: &str, run_as_non_root: Option<bool>) -> Value {
    let mut review: Value = serde_json::from_slice(
        &std::fs::read(root().join("tests/data/admission/pod-default.json")).unwrap(),
    )
    .unwrap();
    let container = &mut review["request"]["object"]["spec"]["containers"][0];
    container["image"] = json!(image);
    if let Some(value) = run_as_non_root {
        container["securityContext"] = json!({ "runAsNonRoot": value });
    }
    review
}

async fn admit(server: &Running, review: &Value) -> Value {
    let response = client()
        .post(format!("{}/v1/admission", server.url))
        .json(review)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["kind"], "AdmissionReview");
    assert_eq!(
        answer["response"]["uid"], review["request"]["uid"],
        "the answer names the request"
    );
    answer["response"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_admits_only_pinned_images_with_pipeline_facts_that_pass() {
    let mut bundle = Bundle::new("admission-test");
    bundle
        .add(
            engine()
                .load_cel_policy("run-as-non-root.yaml", RUN_AS_NON_ROOT)
                .unwrap(),
        )
        .unwrap();
    let server = Running::start(bundle, |_| {}).await;
    let repo = "ghcr.io/acme/api";
    for n in ['1', '2'] {
        let response = server
            .record(&digest(n), report("trivy/alpine-310.json"))
            .await;
        assert_eq!(response.status(), 200);
    }

    let pinned = format!("{repo}@{}", digest('1'));
    let allowed = admit(&server, &pod(&pinned, Some(true))).await;
    assert_eq!(allowed["allowed"], true, "{allowed}");

    // The workload's security context reaches the policies.
    let as_root = admit(&server, &pod(&pinned, None)).await;
    assert_eq!(as_root["allowed"], false);
    let message = as_root["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("run-as-non-root/run-as-non-root"),
        "{message}"
    );
    assert_eq!(as_root["status"]["code"], 403);

    // A tag, and a digest the pipeline never saw, are denied by name.
    let tag = admit(&server, &pod("ghcr.io/acme/api:1.0", Some(true))).await;
    assert_eq!(tag["allowed"], false);
    assert!(
        tag["status"]["message"]
            .as_str()
            .unwrap()
            .contains("admission/digest-pinned"),
        "{tag}"
    );
    let unknown = admit(
        &server,
        &pod(&format!("{repo}@{}", digest('9')), Some(true)),
    )
    .await;
    assert_eq!(unknown["allowed"], false);
    assert!(
        unknown["status"]["message"]
            .as_str()
            .unwrap()
            .contains("admission/pipeline-facts"),
        "{unknown}"
    );

    // A Deployment: the two pinned images are known and run as non-root; the
    // tag-only sidecar denies the whole workload.
    let deployment: Value = serde_json::from_slice(
        &std::fs::read(root().join("tests/data/admission/deployment-nonroot.json")).unwrap(),
    )
    .unwrap();
    let answer = admit(&server, &deployment).await;
    assert_eq!(answer["allowed"], false);
    let message = answer["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("ghcr.io/acme/sidecar:1.4: admission/digest-pinned"),
        "{message}"
    );

    // `kubectl debug` adds an ephemeral container through the
    // pods/ephemeralcontainers subresource: its image is judged too.
    let mut debug = pod(&pinned, Some(true));
    debug["request"]["operation"] = json!("UPDATE");
    debug["request"]["subResource"] = json!("ephemeralcontainers");
    debug["request"]["object"]["spec"]["ephemeralContainers"] =
        json!([{ "name": "debugger", "image": "busybox:latest" }]);
    let answer = admit(&server, &debug).await;
    assert_eq!(answer["allowed"], false);
    let message = answer["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("busybox:latest: admission/digest-pinned"),
        "{message}"
    );

    // A review of something that carries no pod is denied, not admitted.
    let mut config_map = pod(&pinned, Some(true));
    config_map["request"]["kind"]["kind"] = json!("ConfigMap");
    let answer = admit(&server, &config_map).await;
    assert_eq!(answer["allowed"], false);
    assert!(
        answer["status"]["message"]
            .as_str()
            .unwrap()
            .contains("carries no pod")
    );
    server.stop().await;
}

/// A record without a vulnerability scan or the image config (a bare
/// digest, an SBOM alone) is denied, not admitted on warnings; facts older
/// than stale_after_days deny, or warn when configured to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_denies_incomplete_and_stale_facts() {
    let server = Running::start(baseline(), |_| {}).await;
    let bare = digest('3');
    let response = server
        .record(
            &bare,
            json!({"schema_version": "1", "image": {"digest": bare}})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(response.status(), 200);
    let answer = admit(
        &server,
        &pod(&format!("ghcr.io/acme/api@{bare}"), Some(true)),
    )
    .await;
    assert_eq!(answer["allowed"], false, "{answer}");
    let message = answer["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("admission/incomplete-facts")
            && message.contains("lack a vulnerability scan, the image config"),
        "{message}"
    );
    server.stop().await;

    for (stale, allowed) in [
        (customs_server::config::StaleFacts::Deny, false),
        (customs_server::config::StaleFacts::Warn, true),
    ] {
        let mut bundle = Bundle::new("stale-test");
        bundle
            .add(
                engine()
                    .load_cel_policy("run-as-non-root.yaml", RUN_AS_NON_ROOT)
                    .unwrap(),
            )
            .unwrap();
        // Facts recorded now are 0 days old: older than -1 days.
        let server = Running::start(bundle, |config| {
            config.stale_after_days = -1;
            config.admission_stale = stale;
        })
        .await;
        let response = server
            .record(&digest('4'), report("trivy/alpine-310.json"))
            .await;
        assert_eq!(response.status(), 200);
        let image = format!("ghcr.io/acme/api@{}", digest('4'));
        let answer = admit(&server, &pod(&image, Some(true))).await;
        assert_eq!(answer["allowed"], allowed, "{stale:?}: {answer}");
        assert!(
            answer.to_string().contains("admission/stale-facts"),
            "{answer}"
        );
        server.stop().await;
    }
}

/// A connection that sends half a request and stalls is closed after
/// header_read_timeout_ms, and one that sends nothing too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = Running::start(baseline(), |config| config.header_read_timeout_ms = 300).await;
    let address = server.url.trim_start_matches("http://").to_owned();
    for sent in [&b"GET /healthz HTTP/1.1\r\nHost: x\r\n"[..], b""] {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream.write_all(sent).await.unwrap();
        let mut rest = Vec::new();
        // Closed by the server (a read of 0 bytes, perhaps after a 408)
        // well before this test's own limit.
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            stream.read_to_end(&mut rest),
        )
        .await
        .expect("the server closes a stalled connection")
        .ok();
    }
    assert_eq!(server.get("/healthz").await.status(), 200);
    server.stop().await;
}

/// A Distribution batch with a malformed event and a bad digest records the
/// good push and reports the two it skipped, rather than failing the batch
/// (which the registry would retry forever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_event_is_skipped_not_the_batch() {
    let server = Running::start(baseline(), |_| {}).await;
    let good = json!({
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest('a'), "repository": "apps/web", "tag": "1.0"
        }
    });
    let bad_digest = json!({
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:nothex", "repository": "apps/web"
        }
    });
    let batch = json!({"events": [bad_digest, {"action": "push"}, good]});
    let response = server.post_event("distribution", &batch).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["recorded"], 1, "{answer}");
    assert_eq!(answer["skipped"], 2, "{answer}");
    let problems = answer["problems"].to_string();
    assert!(
        problems.contains("events[0]") && problems.contains("events[1]: not a Distribution event"),
        "{problems}"
    );
    server.stop().await;
}

/// Facts with 12,000 vulnerabilities and an OpenVEX document with 12,000
/// statements about them: about 2 MB of import, merge and VEX matching.
fn heavy_inputs() -> (Vec<u8>, Vec<u8>) {
    let vulnerabilities: Vec<Value> = (0..12_000)
        .map(|i| {
            json!({
                "id": format!("CVE-2024-{i}"), "package": format!("p{i}"), "package_version": "1",
                "package_type": "apk", "severity": "high", "fix_state": "fixed", "fixed_versions": ["2"]
            })
        })
        .collect();
    let facts = json!({"schema_version": "1", "image": {"digest": digest('8')}, "vulnerabilities": vulnerabilities});
    let statements: Vec<Value> = (0..12_000)
        .map(|i| {
            json!({
                "vulnerability": {"name": format!("CVE-2024-{i}")},
                "products": [{"@id": format!("pkg:apk/alpine/p{i}@1")}],
                "status": "not_affected", "justification": "component_not_present"
            })
        })
        .collect();
    let vex = json!({
        "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.com/vex/1",
        "author": "test", "timestamp": "2026-01-01T00:00:00Z", "version": 1, "statements": statements
    });
    (facts.to_string().into_bytes(), vex.to_string().into_bytes())
}

/// Four heavy evaluations at once leave the server answering: CPU work runs
/// on blocking threads inside the evaluation slots, VEX matching is linear,
/// and admission has its own slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_requests_do_not_stall_the_server() {
    let server = Running::start(baseline(), |_| {}).await;
    let response = server
        .record(&digest('1'), report("trivy/alpine-310.json"))
        .await;
    assert_eq!(response.status(), 200);
    let (facts, vex) = heavy_inputs();
    let heavy: Vec<_> = (0..4)
        .map(|_| {
            let form = reqwest::multipart::Form::new()
                .part(
                    "facts",
                    reqwest::multipart::Part::bytes(facts.clone()).file_name("facts.json"),
                )
                .part(
                    "vex",
                    reqwest::multipart::Part::bytes(vex.clone()).file_name("vex.json"),
                );
            tokio::spawn(
                client()
                    .post(format!("{}/v1/evaluate", server.url))
                    .multipart(form)
                    .send(),
            )
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    assert_eq!(server.get("/healthz").await.status(), 200);
    let health = started.elapsed();
    let started = std::time::Instant::now();
    let image = format!("ghcr.io/acme/api@{}", digest('1'));
    let answer = admit(&server, &pod(&image, Some(true))).await;
    let admission = started.elapsed();
    assert!(answer["allowed"].is_boolean());
    for request in heavy {
        let response = request.await.unwrap().unwrap();
        assert_eq!(response.status(), 200);
        let decision: Value = response.json().await.unwrap();
        // Every vulnerability is not_affected by the VEX: none denies.
        let denied = decision["policies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "vulnerabilities")
            .map(|p| p["decision"].clone());
        assert_eq!(denied, Some(json!("allow")), "{decision}");
    }
    assert!(
        health < std::time::Duration::from_secs(1),
        "/healthz took {health:?}"
    );
    assert!(
        admission < std::time::Duration::from_secs(2),
        "admission took {admission:?}"
    );
    server.stop().await;
}

/// Requests that would make the server do unbounded work are refused with
/// the cap named: a multipart body of 65 parts, a review of 257 containers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_on_parts_and_containers() {
    let server = Running::start(baseline(), |_| {}).await;
    let mut form = reqwest::multipart::Form::new();
    for i in 0..65 {
        form = form.part(
            format!("p{i}"),
            reqwest::multipart::Part::bytes(b"{}".to_vec()).file_name(format!("p{i}.json")),
        );
    }
    let response = client()
        .post(format!("{}/v1/evaluate", server.url))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    assert!(text.contains("more than 64 parts"), "{text}");

    let mut review = pod(&format!("ghcr.io/acme/api@{}", digest('1')), Some(true));
    let container = review["request"]["object"]["spec"]["containers"][0].clone();
    review["request"]["object"]["spec"]["containers"] = json!(vec![container; 257]);
    let answer = admit(&server, &review).await;
    assert_eq!(answer["allowed"], false);
    let message = answer["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("257 containers, more than the 256"),
        "{message}"
    );
    server.stop().await;
}

/// A policy that always fails at run time (a type error).
const ALWAYS_FAILS: &str =
    "name: always-fails\nvalidations:\n  - rule: broken\n    expression: image.digest + 1 == 2\n";

/// Admission reads the library's decision: a failing policy in `warn`
/// enforcement warns there as in `customs eval` and `/v1/evaluate`, and
/// denies only when enforced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_follows_enforcement_for_a_failing_policy() {
    for (enforcement, allowed) in [
        (customs::Enforcement::Warn, true),
        (customs::Enforcement::Enforce, false),
    ] {
        let mut bundle = Bundle::new("enforcement-test");
        bundle
            .add(
                engine()
                    .load_cel_policy("fails.yaml", ALWAYS_FAILS)
                    .unwrap(),
            )
            .unwrap();
        bundle.set_enforcement("always-fails", enforcement).unwrap();
        let server = Running::start(bundle, |_| {}).await;
        let response = server
            .record(&digest('1'), report("trivy/alpine-310.json"))
            .await;
        assert_eq!(response.status(), 200);
        let image = format!("ghcr.io/acme/api@{}", digest('1'));
        let answer = admit(&server, &pod(&image, Some(true))).await;
        assert_eq!(answer["allowed"], allowed, "{enforcement:?}: {answer}");
        let said = if allowed {
            answer["warnings"].to_string()
        } else {
            answer["status"]["message"].to_string()
        };
        assert!(said.contains("always-fails/policy-error"), "{said}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_description_matches_the_routes_and_answers() {
    let server = Running::start(baseline(), |_| {}).await;
    let spec: Value = client()
        .get(format!("{}/openapi.json", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut described: Vec<(String, String)> = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            described.push((method.clone(), path.clone()));
        }
    }
    let mut routes: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    described.sort();
    routes.sort();
    assert_eq!(described, routes);

    // Every route answers (no 404/405) with a status the description lists.
    for (method, path) in ROUTES {
        let url = format!("{}{}", server.url, path.replace("{digest}", &digest('c')));
        let request = match *method {
            "get" => client().get(&url),
            _ => client().post(&url).body("{}"),
        };
        let status = request.send().await.unwrap().status().as_u16().to_string();
        let responses = &spec["paths"][path][method]["responses"];
        assert!(
            responses.get(&status).is_some(),
            "{method} {path} answered {status}, not in the description"
        );
    }

    // The decision's fields are the ones the schema requires.
    let decision: Value = client()
        .post(format!("{}/v1/evaluate", server.url))
        .body(report("trivy/alpine-310.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemas = &spec["components"]["schemas"];
    for (schema, value) in [
        ("Decision", &decision),
        ("PolicyReport", &decision["policies"][0]),
        ("Finding", &decision["policies"][0]["findings"][0]),
    ] {
        let object = value.as_object().unwrap();
        let properties = schemas[schema]["properties"].as_object().unwrap();
        for key in object.keys() {
            assert!(
                properties.contains_key(key),
                "{schema}: {key} is not described"
            );
        }
        for required in schemas[schema]["required"].as_array().unwrap() {
            assert!(
                object.contains_key(required.as_str().unwrap()),
                "{schema}: no {required}"
            );
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_certificates_from_files() {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("tls.crt");
    let key = dir.path().join("tls.key");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let server = Running::start(baseline(), |c| {
        c.tls = Some(customs_server::config::TlsConfig {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: None,
        })
    })
    .await;
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap(),
        )
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    let text = client
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "ok\n");
    // Plain HTTP to the TLS port gets nowhere.
    let plain = client
        .get(server.url.replace("https", "http") + "/healthz")
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_and_failing_closed_when_it_goes_down() {
    let mut postgres = tokio::task::spawn_blocking(customs_tests::TestPostgres::start)
        .await
        .unwrap();
    let mut bundle = Bundle::new("admission-test");
    bundle
        .add(
            engine()
                .load_cel_policy("run-as-non-root.yaml", RUN_AS_NON_ROOT)
                .unwrap(),
        )
        .unwrap();
    let url = postgres.url.clone();
    let server = Running::start(bundle, |c| c.store = url).await;
    let image = digest('d');
    let recorded = server.record(&image, report("trivy/alpine-310.json")).await;
    assert_eq!(recorded.status(), 200);
    let pod_review = pod(&format!("ghcr.io/acme/api@{image}"), Some(true));
    assert_eq!(admit(&server, &pod_review).await["allowed"], true);
    let ready = server.get("/readyz").await;
    assert_eq!(ready.status(), 200);

    // The database goes away: admission denies, writes answer 503, readiness fails.
    postgres.stop();
    let answer = admit(&server, &pod_review).await;
    assert_eq!(answer["allowed"], false);
    // Not even the decision can be recorded; the store's error text is for
    // the API server and the logs, not for an unauthenticated caller.
    let message = answer["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("admission/pipeline-facts: no usable facts")
            && message.contains("admission/decision-record")
            && !message.contains("postgres"),
        "{message}"
    );
    let write = server.record(&image, report("trivy/alpine-310.json")).await;
    assert_eq!(write.status(), 503);
    let error: Value = write.json().await.unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("unavailable"),
        "{error}"
    );
    let ready = server.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    server.stop().await;
}

/// `customs sweep --format json` on the server's store.
fn sweep(store: &str, extra: &[&str]) -> (i32, Value) {
    let output = assert_cmd::Command::cargo_bin("customs")
        .unwrap()
        .args(["sweep", "--format", "json", "--store", store])
        .args(extra)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (output.status.code().unwrap(), report)
}

fn digests(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["digest"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_pushes_without_facts_show_up_in_sweeps_on_sqlite() {
    registry_pushes_and_sweeps(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_pushes_without_facts_show_up_in_sweeps_on_postgresql() {
    let postgres = tokio::task::spawn_blocking(customs_tests::TestPostgres::start)
        .await
        .unwrap();
    registry_pushes_and_sweeps(Some(postgres.url.clone())).await;
}

/// A real registry notifies the server of a push; sweeps list it until the
/// pipeline records facts, then list the facts as stale once they are old.
async fn registry_pushes_and_sweeps(store: Option<String>) {
    let server = Running::start(baseline(), |c| {
        if let Some(store) = store {
            c.store = store;
        }
    })
    .await;
    let events = format!("{}/v1/events/distribution", server.url);
    let registry = customs_tests::TestRegistry::start_notifying(&events, TOKEN);

    // Push a real artifact (a policy bundle) to the real registry.
    let work = tempfile::tempdir().unwrap();
    let bundle = customs_tests::bundle_dir(&["no-root-user"], &[]);
    let archive = work.path().join("team.tar.gz");
    let customs = || {
        let mut command = assert_cmd::Command::cargo_bin("customs").unwrap();
        command
            .env("XDG_CACHE_HOME", work.path())
            .env("DOCKER_CONFIG", work.path().join("none"));
        command
    };
    customs()
        .args(["bundle", "init", "--name", "team"])
        .arg(bundle.path())
        .assert()
        .success();
    customs()
        .args(["bundle", "build"])
        .arg(bundle.path())
        .arg("-o")
        .arg(&archive)
        .assert()
        .success();
    let pushed = customs()
        .args(["bundle", "push"])
        .arg(&archive)
        .arg(format!("oci://{}/apps/team:1.0", registry.addr))
        .output()
        .unwrap();
    assert!(pushed.status.success(), "{pushed:?}");
    let stdout = String::from_utf8_lossy(&pushed.stdout);
    let pushed_digest = stdout
        .split_whitespace()
        .find_map(|word| {
            let at = word.find("sha256:")?;
            Some(word[at..at + 71].to_owned())
        })
        .unwrap_or_else(|| panic!("no digest in {stdout}"));

    // Harbor has no Debian package: its documented payload, posted as Harbor does.
    let harbor = json!({
        "type": "PUSH_ARTIFACT",
        "occur_at": 1_790_000_000,
        "operator": "admin",
        "event_data": {
            "resources": [{
                "digest": digest('e'),
                "tag": "v2",
                "resource_url": "harbor.example.com/library/web:v2"
            }],
            "repository": {"name": "web", "namespace": "library", "repo_full_name": "library/web", "repo_type": "private"}
        }
    });
    let unauthorized = client()
        .post(format!("{}/v1/events/harbor", server.url))
        .json(&harbor)
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    let recorded: Value = server
        .post_event("harbor", &harbor)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        recorded,
        json!({"recorded": 1, "ignored": 0, "skipped": 0, "problems": []})
    );

    // The registry notifies asynchronously: wait for its push to be recorded.
    let store = server.store.clone();
    let mut report = Value::Null;
    for _ in 0..100 {
        let (code, found) = tokio::task::spawn_blocking({
            let store = store.clone();
            move || sweep(&store, &[])
        })
        .await
        .unwrap();
        report = found;
        if digests(&report["unevaluated"]).contains(&pushed_digest) {
            assert_eq!(code, 1, "pushes without facts need action");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    let unevaluated = &report["unevaluated"];
    assert!(
        digests(unevaluated).contains(&pushed_digest),
        "the registry's push never arrived: {report}"
    );
    let push = unevaluated
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["digest"] == pushed_digest.as_str())
        .unwrap();
    assert_eq!(push["repository"], "apps/team");
    assert_eq!(push["tag"], "1.0");
    assert_eq!(push["registry"], registry.addr.as_str());
    assert_eq!(push["source"], "distribution");
    assert!(digests(unevaluated).contains(&digest('e')));

    // The pipeline records facts for the pushed digest: it is evaluated now,
    // and stale once its facts are older than the allowed age.
    let response = server.record(&pushed_digest, report_bytes()).await;
    assert_eq!(response.status(), 200);
    let (code, report) = tokio::task::spawn_blocking({
        let store = store.clone();
        move || sweep(&store, &[])
    })
    .await
    .unwrap();
    assert_eq!(code, 1);
    assert_eq!(digests(&report["unevaluated"]), [digest('e')]);
    assert_eq!(
        digests(&report["images"]),
        std::slice::from_ref(&pushed_digest)
    );
    assert_eq!(report["images"][0]["after"], "deny");
    assert!(report["stale"].as_array().unwrap().is_empty(), "{report}");
    let later = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let (_, report) = tokio::task::spawn_blocking(move || sweep(&store, &["--now", &later]))
        .await
        .unwrap();
    assert_eq!(digests(&report["stale"]), [pushed_digest]);
    assert_eq!(report["stale"][0]["age_days"], 30);
    drop(registry);
    server.stop().await;
}

fn report_bytes() -> Vec<u8> {
    report("trivy/alpine-310.json")
}

fn deny_rule(rule: &str) -> String {
    format!(
        "name: team\nversion: 1.0.0\ndescription: one rule\nvalidations:\n  - rule: {rule}\n    expression: \"false\"\n    message: always denies\n"
    )
}

async fn denied_rules(server: &Running) -> Vec<String> {
    let decision: Value = client()
        .post(format!("{}/v1/evaluate", server.url))
        .body(report_bytes())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    decision["policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["findings"].as_array().unwrap().clone())
        .filter(|f| f["effect"] == "deny")
        .map(|f| f["rule"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_swaps_in_a_verified_bundle_and_a_broken_one_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("team.yaml");
    std::fs::write(&file, deny_rule("rule-a")).unwrap();
    let load = {
        let dir = dir.path().to_owned();
        move || Bundle::load_dir(engine(), &dir).map_err(|e| e.to_string())
    };
    let bundle = load().unwrap();
    let (server, reload) =
        Running::start_reloadable(bundle, |_| {}, Some(std::sync::Arc::new(load))).await;
    assert_eq!(denied_rules(&server).await, ["rule-a"]);

    std::fs::write(&file, deny_rule("rule-b")).unwrap();
    let before = reload.bundle_id();
    let outcome = reload.reload().await.unwrap();
    assert!(
        matches!(outcome, customs_server::Reloaded::Replaced { .. }),
        "{outcome:?}"
    );
    assert_ne!(reload.bundle_id(), before);
    assert_eq!(denied_rules(&server).await, ["rule-b"]);

    // Concurrent reloads of an unchanged bundle: one at a time, nothing changes.
    let results = futures_join(&reload, 4).await;
    assert!(
        results
            .iter()
            .all(|r| r == &Ok(customs_server::Reloaded::Unchanged)),
        "{results:?}"
    );

    // A broken bundle: the old one keeps serving, and the failure is reported.
    std::fs::write(
        &file,
        "name: team\nvalidations: [{rule: x, expression: '1 +'}]\n",
    )
    .unwrap();
    let error = reload.reload().await.unwrap_err();
    assert!(error.contains("team.yaml"), "{error}");
    assert_eq!(denied_rules(&server).await, ["rule-b"]);
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(r#"customs_bundle_reloads_total{result="failed"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"customs_bundle_reloads_total{result="replaced"} 1"#));
    server.stop().await;
}

async fn futures_join(
    reload: &customs_server::ReloadHandle,
    n: usize,
) -> Vec<Result<customs_server::Reloaded, String>> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let reload = reload.clone();
            tokio::spawn(async move { reload.reload().await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customs_serve_starts_with_one_command_and_reloads_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    std::fs::write(bundle.join("team.yaml"), deny_rule("rule-a")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = KillOnDrop(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("customs"))
            .current_dir(dir.path())
            .args([
                "serve",
                "--no-watch",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--bundle",
            ])
            .arg(&bundle)
            .env("CUSTOMS_SERVER_TOKEN", TOKEN)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let server = Running {
        url: format!("http://127.0.0.1:{port}"),
        store: format!("sqlite:{}", dir.path().join("customs-facts.db").display()),
        stop: None,
        done: None,
        _dir: tempfile::tempdir().unwrap(),
    };
    let mut up = false;
    for _ in 0..200 {
        if let Ok(response) = client().get(format!("{}/readyz", server.url)).send().await {
            up = response.status() == 200;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(up, "customs serve did not become ready");
    // The default store is a SQLite file in the working directory.
    assert!(dir.path().join("customs-facts.db").exists());
    assert_eq!(denied_rules(&server).await, ["rule-a"]);

    std::fs::write(bundle.join("team.yaml"), deny_rule("rule-b")).unwrap();
    // --no-watch: the change waits for the signal.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(denied_rules(&server).await, ["rule-a"]);
    let status = std::process::Command::new("kill")
        .args(["-HUP", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rules = Vec::new();
    for _ in 0..100 {
        rules = denied_rules(&server).await;
        if rules == ["rule-b"] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(rules, ["rule-b"], "SIGHUP did not reload the bundle");

    // SIGTERM: a graceful exit with status 0.
    std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "customs serve ignored SIGTERM"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}

/// A served directory bundle or waivers file that changes is reloaded
/// without a signal; a broken change keeps the last good bundle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_bundle_files_are_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    std::fs::write(bundle.join("team.yaml"), deny_rule("rule-a")).unwrap();
    let waivers = dir.path().join("waivers.yaml");
    std::fs::write(&waivers, "waivers: []\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _child = KillOnDrop(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("customs"))
            .current_dir(dir.path())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--bundle")
            .arg(&bundle)
            .arg("--waivers")
            .arg(&waivers)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let server = Running {
        url: format!("http://127.0.0.1:{port}"),
        store: String::new(),
        stop: None,
        done: None,
        _dir: tempfile::tempdir().unwrap(),
    };
    let mut up = false;
    for _ in 0..200 {
        if client()
            .get(format!("{}/healthz", server.url))
            .send()
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(up, "customs serve did not start");
    assert_eq!(denied_rules(&server).await, ["rule-a"]);
    let wait_for = |want: &'static [&'static str]| {
        let server = &server;
        async move {
            let mut rules = Vec::new();
            for _ in 0..100 {
                rules = denied_rules(server).await;
                if rules == want {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            rules
        }
    };

    // Written in place.
    std::fs::write(bundle.join("team.yaml"), deny_rule("rule-b")).unwrap();
    assert_eq!(wait_for(&["rule-b"]).await, ["rule-b"]);

    // Broken: counted as a failed reload; rule-b keeps deciding.
    std::fs::write(bundle.join("team.yaml"), "name: [").unwrap();
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = server.metrics().await;
        if metrics.contains(r#"customs_bundle_reloads_total{result="failed"}"#) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        metrics.contains(r#"customs_bundle_reloads_total{result="failed"}"#),
        "{metrics}"
    );
    assert_eq!(denied_rules(&server).await, ["rule-b"]);

    // Replaced by a rename, as editors and Kubernetes volumes do.
    let staged = bundle.join(".team.yaml.new");
    std::fs::write(&staged, deny_rule("rule-c")).unwrap();
    std::fs::rename(&staged, bundle.join("team.yaml")).unwrap();
    assert_eq!(wait_for(&["rule-c"]).await, ["rule-c"]);

    // The waivers file is watched too: waiving rule-c allows.
    std::fs::write(
        &waivers,
        "waivers:\n  - {rule: rule-c, image: '*', reason: accepted, owner: team, expires: 2099-01-01}\n",
    )
    .unwrap();
    let mut decision = Value::Null;
    for _ in 0..100 {
        decision = client()
            .post(format!("{}/v1/evaluate", server.url))
            .body(report_bytes())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if decision["decision"] == "allow" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(decision["decision"], "allow", "{decision}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_its_time_limit_gets_503() {
    // A policy that loops until its own (longer) deadline stops it.
    let looping = std::fs::read(customs_test_guests::hostile("infinite_loop")).unwrap();
    let mut bundle = Bundle::new("slow");
    bundle
        .add(
            engine()
                .load_policy("infinite_loop.wasm", &looping)
                .unwrap(),
        )
        .unwrap();
    let server = Running::start(bundle, |c| c.request_timeout_ms = 20).await;
    let response = client()
        .post(format!("{}/v1/evaluate", server.url))
        .body(report_bytes())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"],
        "/v1/evaluate: no answer within the server's limit of 20 ms (request_timeout_ms)"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_periodic_sweep_publishes_unevaluated_pushes() {
    let server = Running::start(baseline(), |c| c.sweep_interval_secs = 1).await;
    let harbor = json!({
        "type": "PUSH_ARTIFACT",
        "event_data": {
            "resources": [{"digest": digest('f'), "tag": "v1"}],
            "repository": {"repo_full_name": "library/app"}
        }
    });
    let response = server.post_event("harbor", &harbor).await;
    assert_eq!(response.status(), 200);
    let mut metrics = String::new();
    for _ in 0..60 {
        metrics = server.metrics().await;
        if metrics.contains("customs_unevaluated_images 1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        metrics.contains("customs_unevaluated_images 1"),
        "{metrics}"
    );
    server.stop().await;
}

/// A customs command for the bundle publisher in `work` (its cache, no
/// registry credentials, the password of the key `customs bundle keygen`
/// writes there).
fn publisher(work: &Path) -> assert_cmd::Command {
    let mut command = assert_cmd::Command::cargo_bin("customs").unwrap();
    command
        .current_dir(work)
        .env("XDG_CACHE_HOME", work.join("cache"))
        .env("DOCKER_CONFIG", work.join("none"))
        .env("COSIGN_PASSWORD", "pw");
    command
}

/// Builds version `version` of a bundle of one CEL rule, pushes it to
/// `reference` (oci://...) and signs it there with `work`'s key; returns the
/// archive.
fn publish_bundle(work: &Path, rule: &str, version: &str, reference: &str) -> PathBuf {
    let dir = work.join(format!("bundle-{rule}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("team.yaml"), deny_rule(rule)).unwrap();
    let archive = work.join(format!("{rule}.tar.gz"));
    publisher(work)
        .args(["bundle", "init", "--name", "team"])
        .arg(&dir)
        .assert()
        .success();
    let manifest = dir.join("customs-bundle.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains("\nversion: 0.1.0\n"), "{text}");
    std::fs::write(
        &manifest,
        text.replace("\nversion: 0.1.0\n", &format!("\nversion: {version}\n")),
    )
    .unwrap();
    publisher(work)
        .args(["bundle", "build"])
        .arg(&dir)
        .arg("-o")
        .arg(&archive)
        .assert()
        .success();
    publisher(work)
        .args(["bundle", "push"])
        .arg(&archive)
        .arg(reference)
        .assert()
        .success();
    publisher(work)
        .args(["bundle", "sign", reference, "--key", "cosign.key"])
        .assert()
        .success();
    archive
}

/// Polling a signed `oci://` tag: a newer bundle is swapped in; the tag
/// moved back to the older one (a rollback, its signature still valid) is
/// refused and the newer one keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oci_bundle_tag_that_moves_is_picked_up_by_polling() {
    let registry = customs_tests::TestRegistry::start(None);
    let work = tempfile::tempdir().unwrap();
    let reference = format!("oci://{}/policies/team:stable", registry.addr);
    publisher(work.path())
        .args(["bundle", "keygen"])
        .assert()
        .success();
    let first = publish_bundle(work.path(), "rule-a", "1.0.0", &reference);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("customs"))
        .current_dir(work.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args([
            "--bundle",
            &reference,
            "--require-signed",
            "--key",
            "cosign.pub",
            "--pull",
            "always",
            "--reload-interval",
            "1",
        ])
        .env("XDG_CACHE_HOME", work.path().join("server-cache"))
        .env("XDG_STATE_HOME", work.path().join("server-state"))
        .env("DOCKER_CONFIG", work.path().join("none"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(work.path().join("server.log")).unwrap())
        .spawn()
        .unwrap();
    let _stop = KillOnDrop(child);
    let server = Running {
        url: format!("http://127.0.0.1:{port}"),
        store: String::new(),
        stop: None,
        done: None,
        _dir: tempfile::tempdir().unwrap(),
    };
    let mut up = false;
    for _ in 0..200 {
        if client()
            .get(format!("{}/healthz", server.url))
            .send()
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(up, "customs serve did not start");
    assert_eq!(denied_rules(&server).await, ["rule-a"]);

    // The tag moves to a newer bundle; the next poll resolves it and swaps.
    tokio::task::spawn_blocking({
        let work = work.path().to_owned();
        let reference = reference.clone();
        move || publish_bundle(&work, "rule-b", "1.1.0", &reference)
    })
    .await
    .unwrap();
    let mut rules = Vec::new();
    for _ in 0..100 {
        rules = denied_rules(&server).await;
        if rules == ["rule-b"] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(rules, ["rule-b"], "the moved tag was not picked up");

    // Moved back to 1.0.0: polls fail (counted), 1.1.0 keeps deciding.
    // Polls between the push and the signature of 1.1.0 failed too, as
    // many as the machine's speed made: count from here.
    let failed_before = failed_reloads(&server.metrics().await);
    tokio::task::spawn_blocking({
        let work = work.path().to_owned();
        let reference = reference.clone();
        move || {
            publisher(&work)
                .args(["bundle", "push"])
                .arg(&first)
                .arg(&reference)
                .assert()
                .success();
        }
    })
    .await
    .unwrap();
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = server.metrics().await;
        if failed_reloads(&metrics) >= failed_before + 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        failed_reloads(&metrics) >= failed_before + 2,
        "{failed_before} before: {metrics}"
    );
    assert_eq!(denied_rules(&server).await, ["rule-b"]);
    let log = std::fs::read_to_string(work.path().join("server.log")).unwrap();
    assert!(
        log.contains("bundle team 1.0.0 is older than 1.1.0"),
        "{log}"
    );
}

/// The count of failed bundle reloads in a metrics text.
fn failed_reloads(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(r#"customs_bundle_reloads_total{result="failed"} "#))
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// A child process stopped when the test ends, passed or failed.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_certificate_is_an_error_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        store: format!("sqlite:{}", dir.path().join("facts.db").display()),
        tls: Some(customs_server::config::TlsConfig {
            cert: dir.path().join("missing.crt"),
            key: dir.path().join("missing.key"),
            client_ca: None,
        }),
        ..ServerConfig::default()
    };
    let server = Server::start(engine().clone(), baseline(), config)
        .await
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let error = server
        .serve_on(listener, std::future::pending())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("missing.crt"), "{error}");
}

/// Named tokens do what they are for and nothing else: a pipeline records
/// facts only for its repositories, the registry only posts events, the
/// auditor only reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_token_does_only_what_it_is_scoped_for() {
    let files = tempfile::tempdir().unwrap();
    let token = |name: &str| {
        let secret = format!("{name}-secret-0123456789");
        std::fs::write(files.path().join(name), format!("{secret}\n")).unwrap();
        secret
    };
    let (trivy_ci, acme_ci, registry, audit) = (
        token("trivy-ci"),
        token("acme-ci"),
        token("registry"),
        token("audit"),
    );
    let tokens = format!(
        "tokens:\n\
         - {{name: trivy-ci, file: {dir}/trivy-ci, facts: ['ghcr.io/aquasecurity/*']}}\n\
         - {{name: acme-ci, file: {dir}/acme-ci, facts: ['ghcr.io/acme/*']}}\n\
         - {{name: registry, file: {dir}/registry, events: true}}\n\
         - {{name: audit, file: {dir}/audit, read: true}}\n",
        dir = files.path().display()
    );
    let config_path = files.path().join("serve.yaml");
    std::fs::write(&config_path, tokens).unwrap();
    let server = Running::start(baseline(), |config| {
        let mut read = ServerConfig::from_file(&config_path).unwrap();
        read.load_token().unwrap();
        config.token = None;
        config.tokens = read.tokens;
        config.scoped_tokens = read.scoped_tokens;
    })
    .await;
    let image = digest('a');
    let report = report("trivy/alpine-310.json"); // ghcr.io/aquasecurity/trivy-test-images

    let error = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        (
            status,
            body["error"].as_str().unwrap_or_default().to_owned(),
        )
    };
    let (status, message) = error(server.record_as(&acme_ci, &image, report.clone()).await).await;
    assert_eq!(status, 403);
    assert!(
        message.contains("\"acme-ci\" may record facts for ghcr.io/acme/*, not for ghcr.io/aquasecurity/trivy-test-images"),
        "{message}"
    );
    for other in [&registry, &audit] {
        let (status, message) = error(server.record_as(other, &image, report.clone()).await).await;
        assert_eq!(status, 403, "{message}");
        assert!(message.contains("may not record facts"), "{message}");
    }
    let recorded = server.record_as(&trivy_ci, &image, report.clone()).await;
    assert_eq!(recorded.status(), 200);

    let read = |token: String| {
        client()
            .get(format!("{}/v1/images/{image}", server.url))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(read(audit.clone()).await.unwrap().status(), 200);
    for other in [&trivy_ci, &registry] {
        let (status, message) = error(read(other.clone()).await.unwrap()).await;
        assert_eq!(status, 403);
        assert!(message.contains("may not read the store"), "{message}");
    }

    // Admission holds facts to their writer's scope, whatever repository
    // the facts claim: acme's token records facts that say they are about
    // an acme image under the digest of another team's image.
    let theirs = digest('e');
    let claim = json!({"schema_version": "1", "image": {
        "digest": theirs, "registry": "ghcr.io", "repository": "acme/x"}});
    let written = client()
        .post(format!("{}/v1/images/{theirs}/facts", server.url))
        .bearer_auth(&acme_ci)
        .json(&claim)
        .send()
        .await
        .unwrap();
    assert_eq!(written.status(), 200);
    for (image, admitted_by_scope) in [
        (format!("ghcr.io/other/app@{theirs}"), false),
        (format!("ghcr.io/acme/x@{theirs}"), true),
    ] {
        let answer = admit(&server, &pod(&image, Some(true))).await;
        let message = answer["status"]["message"].as_str().unwrap_or_default();
        assert_eq!(
            message.contains("pipeline-facts: no usable facts"),
            !admitted_by_scope,
            "{image}: {answer}"
        );
        let id = answer["auditAnnotations"]["decision"].as_str().unwrap();
        let record: Value = server
            .read_json(&format!("/v1/decisions/{id}"), &audit)
            .await;
        assert_eq!(
            record["images"][0]["refused"]
                .as_str()
                .is_some_and(|r| r.contains("\"acme-ci\", which may record facts for ghcr.io/acme/*, not for ghcr.io/other/app")),
            !admitted_by_scope,
            "{record}"
        );
    }

    let event = json!({"events": [{
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest('b'), "repository": "apps/web", "tag": "1.0"
        },
        "request": {"host": "registry.local"}
    }]});
    let post_event = |token: String| {
        client()
            .post(format!("{}/v1/events/distribution", server.url))
            .bearer_auth(token)
            .json(&event)
            .send()
    };
    assert_eq!(post_event(registry.clone()).await.unwrap().status(), 200);
    let (status, message) = error(post_event(trivy_ci.clone()).await.unwrap()).await;
    assert_eq!(status, 403);
    assert!(
        message.contains("may not post registry events"),
        "{message}"
    );
    server.stop().await;
}

/// Every admission decision is recorded with the facts, workload, bundle and
/// settings it was made with; `customs replay` makes each again with the
/// same bundle and shows what a new one changes. An unauthenticated caller
/// learns which rules denied, not what they found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_decisions_are_recorded_and_replay_the_same() {
    let server = Running::start(baseline(), |_| {}).await;
    let repo = "ghcr.io/aquasecurity/trivy-test-images";
    let recorded = server
        .record(&digest('1'), report("trivy/alpine-310.json"))
        .await;
    assert_eq!(recorded.status(), 200);
    let denied = admit(
        &server,
        &pod(&format!("{repo}@{}", digest('1')), Some(true)),
    )
    .await;
    assert_eq!(denied["allowed"], false, "{denied}");
    let id = denied["auditAnnotations"]["decision"]
        .as_str()
        .expect("the record's id in the audit annotations")
        .to_owned();
    let message = denied["status"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("(customs decision {id})")),
        "{message}"
    );
    assert!(
        message.contains("freshness/freshness (details in the decision record)"),
        "{message}"
    );
    assert!(
        !message.contains("days ago"),
        "findings reach an unauthenticated caller: {message}"
    );
    // An image name made to look like an answer's separators hides nothing
    // more: the shown lines are built without the findings, not cut from them.
    let tricky = admit(
        &server,
        &pod(&format!("x: {repo}@{}", digest('1')), Some(true)),
    )
    .await;
    let message = tricky["status"]["message"].as_str().unwrap();
    assert!(!message.contains("days ago"), "{message}");
    admit(&server, &pod(&format!("{repo}:alpine-310"), Some(true))).await;
    admit(
        &server,
        &pod(&format!("{repo}@{}", digest('9')), Some(true)),
    )
    .await;

    let record: Value = server
        .read_json(&format!("/v1/decisions/{id}"), TOKEN)
        .await;
    assert_eq!(record["kind"], "admission");
    assert_eq!(record["namespace"], "default", "{record}");
    assert_eq!(record["decision"], "deny");
    assert!(record["uid"].is_string());
    assert_eq!(record["context"]["admission"]["stale"], "deny");
    assert!(
        record["images"][0]["facts_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    // The record keeps the findings the answer withheld.
    assert!(
        record["reasons"]["denials"]
            .to_string()
            .contains("days ago"),
        "{record}"
    );
    let store = server.store.clone();

    // Five decisions (a facts write and four admissions) replay the same
    // with the bundle that made them.
    let (code, replayed) = replay(&store, &["--since", "0"]);
    assert_eq!(code, 0, "{replayed}");
    let decisions = replayed["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 5, "{replayed}");
    assert!(
        decisions
            .iter()
            .all(|d| d["same_bundle"] == true && d["diff"] == json!([]))
    );

    // A bundle with another parameter is another bundle: the replay names
    // the lines that went.
    let (code, replayed) = replay(&store, &[&id, "--param", "freshness.max-age-days=100000"]);
    assert_eq!(code, 1, "{replayed}");
    let one = &replayed["decisions"][0];
    assert_eq!(one["same_bundle"], false);
    assert_eq!(one["recorded"]["decision"], "deny");
    assert!(
        one["diff"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().starts_with("- deny ")),
        "{one}"
    );
    server.stop().await;
}

fn replay(store: &str, extra: &[&str]) -> (i32, Value) {
    let output = assert_cmd::Command::cargo_bin("customs")
        .unwrap()
        .args(["replay", "--store", store, "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let value = serde_json::from_str(&stdout).unwrap_or_else(|_| {
        panic!(
            "replay printed no JSON: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap(), value)
}

/// `policy/rule: message` of every denying finding of a decision's JSON.
fn denied_lines(decision: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    for policy in decision["policies"].as_array().unwrap() {
        for finding in policy["findings"].as_array().unwrap() {
            if finding["effect"] == "deny" {
                lines.push(format!(
                    "{}/{}: {}",
                    policy["name"].as_str().unwrap(),
                    finding["rule"].as_str().unwrap(),
                    finding["message"].as_str().unwrap()
                ));
            }
        }
    }
    lines
}

/// A `customs serve` process on `store`, answering on `port`.
fn replica(name: &str, port: u16, store: &str, config: &Path) -> KillOnDrop {
    KillOnDrop(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("customs"))
            .args(["serve", "--no-watch", "--store", store, "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--config")
            .arg(config)
            .env("CUSTOMS_SERVER_TOKEN", TOKEN)
            // The replica's name in the sweep records.
            .env("HOSTNAME", name)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Two replicas on one PostgreSQL: facts recorded through one admit (or
/// deny) through the other, and the periodic sweep runs once per period
/// between them — also when the replica sweeping is killed mid-sweep, which
/// the other then takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgresql_share_facts_and_sweep_once_per_period() {
    const PERIOD: i64 = 3;
    let postgres = tokio::task::spawn_blocking(customs_tests::TestPostgres::start)
        .await
        .unwrap();
    // Enough images that a sweep takes a while (to be killed in).
    let store = customs_server::Store::open(&postgres.url).await.unwrap();
    let facts = customs_facts::import::import_bytes(
        &customs_facts::import::Origin::named("alpine-310.json"),
        &report("trivy/alpine-310.json"),
    )
    .unwrap();
    let mut facts = serde_json::to_value(&facts).unwrap();
    for n in 0..300u32 {
        let digest = format!("sha256:{n:064x}");
        facts["image"]["digest"] = json!(digest);
        store
            .put(&customs_server::ImageRecord {
                digest,
                facts: facts.clone(),
                recorded_at: chrono::Utc::now().timestamp(),
                decision: "allow".into(),
                result: json!({}),
                evaluated_at: 0,
                bundle: "before".into(),
                facts_digest: None,
                writer: None,
            })
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serve.yaml");
    std::fs::write(&config, format!("sweep_interval_secs: {PERIOD}\n")).unwrap();
    let ports = [free_port(), free_port()];
    let mut replicas = [
        Some(replica("replica-a", ports[0], &postgres.url, &config)),
        Some(replica("replica-b", ports[1], &postgres.url, &config)),
    ];
    let servers: Vec<Running> = ports
        .iter()
        .map(|port| Running {
            url: format!("http://127.0.0.1:{port}"),
            store: postgres.url.clone(),
            stop: None,
            done: None,
            _dir: tempfile::tempdir().unwrap(),
        })
        .collect();
    for server in &servers {
        let mut up = false;
        for _ in 0..400 {
            if let Ok(response) = client().get(format!("{}/readyz", server.url)).send().await {
                up = response.status() == 200;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(up, "{} did not become ready", server.url);
    }

    // Written through one, decided through the other, both ways.
    let repo = "ghcr.io/aquasecurity/trivy-test-images";
    for (writer, reader, n) in [(0, 1, 'a'), (1, 0, 'b')] {
        let image = digest(n);
        let written = servers[writer]
            .record(&image, report("trivy/alpine-310.json"))
            .await;
        assert_eq!(written.status(), 200);
        let answer = admit(
            &servers[reader],
            &pod(&format!("{repo}@{image}"), Some(true)),
        )
        .await;
        let message = answer["status"]["message"].as_str().unwrap();
        assert!(
            message.contains("freshness/freshness") && !message.contains("pipeline-facts"),
            "replica {reader} did not decide from the facts written through {writer}: {message}"
        );
    }

    // Kill whichever replica is in the middle of a sweep.
    let mut killed = None;
    for _ in 0..600 {
        let sweeps = store.sweeps().await.unwrap();
        if let Some((name, _, _)) = sweeps.iter().find(|(_, _, finished)| finished.is_none()) {
            let index = usize::from(name.starts_with("replica-b"));
            replicas[index].take(); // SIGKILL and wait
            killed = Some((index, chrono::Utc::now().timestamp()));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (dead, killed_at) = killed.expect("no sweep was seen running within 30 s");
    let survivor = ["replica-a", "replica-b"][1 - dead];
    let mut taken_over = false;
    for _ in 0..300 {
        let sweeps = store.sweeps().await.unwrap();
        taken_over = sweeps.iter().any(|(name, started, finished)| {
            name.starts_with(survivor) && *started >= killed_at && finished.is_some()
        });
        if taken_over {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        taken_over,
        "{survivor} did not sweep after the other was killed"
    );

    // Never two at once, and once per period. The killed replica leaves one
    // sweep unfinished; the survivor may be in the middle of its latest.
    let sweeps = store.sweeps().await.unwrap();
    let dead_name = ["replica-a", "replica-b"][dead];
    let (dead_sweeps, live): (Vec<_>, Vec<_>) =
        sweeps.iter().partition(|s| s.0.starts_with(dead_name));
    assert_eq!(
        dead_sweeps.iter().filter(|s| s.2.is_none()).count(),
        1,
        "only the killed sweep of {dead_name} is unfinished: {sweeps:?}"
    );
    let mut all: Vec<_> = dead_sweeps
        .iter()
        .filter(|s| s.2.is_some())
        .chain(&live)
        .collect();
    all.sort_by_key(|s| s.1);
    for pair in all.windows(2) {
        let (earlier, later) = (pair[0], pair[1]);
        let earlier_finished = earlier
            .2
            .expect("only the survivor's latest sweep may be running");
        assert!(
            later.1 >= earlier_finished && later.1 - earlier.1 >= PERIOD,
            "sweeps overlap or come more than once per period: {sweeps:?}"
        );
    }
    drop(replicas);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_inputs_are_verified_with_the_servers_trust_material() {
    // cosign attest's keyless bundle for an image (corpus/verify/in-toto).
    let dir = corpus_dir().join("verify/in-toto/cosign-oci-attestation-bundle");
    let image = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4";
    let bundle = std::fs::read(dir.join("bundle.sigstore.json")).unwrap();
    let trusting = |identity: &str| {
        let root = dir.join("trusted_root.json");
        let identity = identity.to_owned();
        move |config: &mut ServerConfig| {
            config.trust.trusted_root = Some(root);
            config.trust.certificate_identity = Some(identity);
            config.trust.certificate_oidc_issuer = Some("https://github.com/login/oauth".into());
            config.load_trust().unwrap();
        }
    };
    // The signer the server trusts: stored as verified by customs.
    let server = Running::start(baseline(), trusting("cody@soyland.com")).await;
    let (trust, _) = recorded_trust(&server, image, &bundle).await;
    assert_eq!(trust, ["reported", "verified"]);

    // Another signer: the bundle's own claim only, and the reason said.
    let server = Running::start(baseline(), trusting("release@acme.com")).await;
    let (trust, warnings) = recorded_trust(&server, image, &bundle).await;
    assert_eq!(trust, ["reported"]);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("not verified (identity)")),
        "{warnings:?}"
    );

    // No trust material: nothing is checked, nothing is verified.
    let server = Running::start(baseline(), |_| {}).await;
    let (trust, _) = recorded_trust(&server, image, &bundle).await;
    assert_eq!(trust, ["reported"]);

    // Trust material that does not read stops the server from starting.
    let mut config = ServerConfig::default();
    config.trust.trusted_keys = vec![dir.join("bundle.sigstore.json")];
    let error = config.load_trust().unwrap_err().to_string();
    assert!(error.contains("trust.trusted_keys"), "{error}");
}

/// Records `body` for `image` and reads back the trust of the attestations
/// stored (the importer's claim, then what customs verified), with the
/// answer's warnings.
async fn recorded_trust(server: &Running, image: &str, body: &[u8]) -> (Vec<String>, Vec<String>) {
    let response = server.record(image, body.to_vec()).await;
    assert_eq!(response.status(), 200);
    let warnings: Vec<String> = response
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let record = server
        .read_json(&format!("/v1/images/{image}"), TOKEN)
        .await;
    let trust = record["facts"]["attestations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["trust"].as_str().unwrap().to_owned())
        .collect();
    (trust, warnings)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decision_api_requires_facts_as_eval_does() {
    let server = Running::start(baseline(), |_| {}).await;
    // An image config: no scan in it.
    let input = corpus_dir().join("oci-config/containers-image-httpd-2.4.23.config.json");
    let evaluate = |query: &'static str| {
        let url = format!("{}/v1/evaluate?{query}", server.url);
        let body = std::fs::read(&input).unwrap();
        async move { client().post(url).body(body).send().await.unwrap() }
    };
    let plain: Value = evaluate("").await.json().await.unwrap();
    assert!(missing_evidence(&plain).is_empty());
    let required: Value = evaluate("require=vulnerabilities,config")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(required["decision"], "deny");
    assert_eq!(missing_evidence(&required), ["vulnerabilities"]);
    let refused = evaluate("require=vulns").await;
    assert_eq!(refused.status(), 400);
    let text = refused.text().await.unwrap();
    assert!(text.contains("expected one of vulnerabilities"), "{text}");
}
