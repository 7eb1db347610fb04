//! Images in a real registry (Debian's `docker-registry` on a loopback
//! port): built here, pushed over the Distribution API, then read by
//! `customs facts` and `customs eval oci://...` with the signatures,
//! attestations and VEX documents stored beside them (cosign's tags and the
//! OCI 1.1 referrers tag schema, which is what clients use on a registry
//! without the referrers API, as this one is).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use crate::build::{Built, Compression, Item, Layout, digest, elf, file, layer_tar};
use assert_cmd::Command;
use base64::Engine as _;
use customs_tests::TestRegistry;
use serde_json::{Value, json};

const PASSWORD: &str = "pw";

/// customs with no stored credentials and its caches in `work`.
fn customs(work: &Path) -> Command {
    let mut command = Command::cargo_bin("customs").unwrap();
    command
        .env("XDG_CACHE_HOME", work.join("cache"))
        .env("DOCKER_CONFIG", work.join("no-docker-config"))
        .env("REGISTRY_AUTH_FILE", work.join("no-auth.json"))
        .env_remove("CUSTOMS_REGISTRY_USERNAME")
        .env_remove("CUSTOMS_REGISTRY_PASSWORD")
        .env("COSIGN_PASSWORD", PASSWORD)
        .current_dir(work);
    command
}

fn run(work: &Path, args: &[&str]) -> (i32, String, String) {
    let output = customs(work).args(args).output().unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// Pushes blobs and manifests with the Distribution API, as `crane` or
/// `oras` would.
struct Pusher {
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
    base: String,
}

impl Pusher {
    fn new(registry: &TestRegistry, repository: &str) -> Pusher {
        Pusher {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            http: reqwest::Client::new(),
            base: format!("http://{}/v2/{repository}", registry.addr),
        }
    }

    fn blob(&self, bytes: &[u8]) {
        let d = digest(bytes);
        self.runtime.block_on(async {
            let start = self
                .http
                .post(format!("{}/blobs/uploads/", self.base))
                .send()
                .await
                .unwrap();
            assert!(start.status().is_success(), "{}", start.status());
            let location = start.headers()["location"].to_str().unwrap().to_owned();
            let location = if location.starts_with("http") {
                location
            } else {
                format!("{}{location}", self.base.split("/v2/").next().unwrap())
            };
            let separator = if location.contains('?') { '&' } else { '?' };
            let done = self
                .http
                .put(format!("{location}{separator}digest={d}"))
                .header("content-type", "application/octet-stream")
                .body(bytes.to_vec())
                .send()
                .await
                .unwrap();
            assert!(done.status().is_success(), "{}", done.status());
        });
    }

    fn manifest(&self, reference: &str, manifest: &Value) -> String {
        let bytes = serde_json::to_vec(manifest).unwrap();
        let media_type = manifest["mediaType"].as_str().unwrap().to_owned();
        self.runtime.block_on(async {
            let put = self
                .http
                .put(format!("{}/manifests/{reference}", self.base))
                .header("content-type", media_type)
                .body(bytes.clone())
                .send()
                .await
                .unwrap();
            let status = put.status();
            assert!(
                status.is_success(),
                "{status}: {}",
                put.text().await.unwrap()
            );
        });
        digest(&bytes)
    }

    /// Every blob of a layout built here (manifests are pushed by tag).
    fn layout(&self, layout: &Layout) {
        for (_, bytes) in &layout.blobs {
            self.blob(bytes);
        }
    }

    /// An artifact attached to `subject` by the OCI 1.1 referrers tag
    /// schema: the artifact manifest, then the `sha256-<hex>` index listing it.
    fn refer(&self, subject: &Built, artifact_type: &str, document: &[u8]) -> String {
        let empty = b"{}";
        self.blob(empty);
        self.blob(document);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest(empty), "size": 2},
            "layers": [{"mediaType": artifact_type, "digest": digest(document), "size": document.len()}],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject.digest, "size": subject.size}
        });
        let size = serde_json::to_vec(&manifest).unwrap().len();
        let d = self.manifest(&digest(&serde_json::to_vec(&manifest).unwrap()), &manifest);
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": size, "artifactType": artifact_type}]
        });
        self.manifest(&subject.digest.replacen(':', "-", 1), &index);
        d
    }
}

/// An Alpine-like image with a shell and a setuid `su`.
fn app_image(layout: &mut Layout, arch: &str, setuid: bool) -> Built {
    let mut items = vec![
        file("etc/os-release", 0o644, b"ID=alpine\nVERSION_ID=3.20.3\n"),
        file(
            "lib/apk/db/installed",
            0o644,
            b"P:musl\nV:1.2.5-r0\nA:x86_64\n\n",
        ),
        file("app", 0o755, &elf()),
    ];
    if setuid {
        items.push(file("usr/bin/su", 0o4755, &elf()));
        items.push(Item::Symlink {
            path: "bin/sh",
            target: "/usr/bin/su",
        });
    }
    layout.image(arch, "1000", &[(layer_tar(&items), Compression::Gzip)])
}

/// A DSSE envelope of an in-toto statement about `subject`, signed with
/// the cosign key in `work` (as `cosign attest --key` writes it).
fn attestation(work: &Path, subject: &str) -> Vec<u8> {
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "app", "digest": {"sha256": subject.strip_prefix("sha256:").unwrap()}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"buildDefinition": {"buildType": "https://example.com/test"}, "runDetails": {"builder": {"id": "https://example.com/builder"}}}
    });
    let payload = serde_json::to_vec(&statement).unwrap();
    let payload_type = "application/vnd.in-toto+json";
    let pae = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    );
    let mut message = pae.into_bytes();
    message.extend_from_slice(&payload);
    let key = customs_registry::signing::SigningKey::from_pem(
        "cosign.key",
        &std::fs::read(work.join("cosign.key")).unwrap(),
        PASSWORD.as_bytes(),
    )
    .unwrap();
    let sig = key.sign(&message).unwrap();
    serde_json::to_vec(&json!({
        "payloadType": payload_type,
        "payload": base64::engine::general_purpose::STANDARD.encode(&payload),
        "signatures": [{"keyid": "", "sig": sig}]
    }))
    .unwrap()
}

/// cosign's `.att` tag: a manifest whose layer is the DSSE envelope.
fn push_attestation(pusher: &Pusher, subject: &str, envelope: &[u8]) {
    let config = b"{}";
    pusher.blob(config);
    pusher.blob(envelope);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config), "size": 2},
        "layers": [{"mediaType": "application/vnd.dsse.envelope.v1+json", "digest": digest(envelope), "size": envelope.len(),
                    "annotations": {"predicateType": "https://slsa.dev/provenance/v1"}}]
    });
    pusher.manifest(&format!("{}.att", subject.replacen(':', "-", 1)), &manifest);
}

/// `customs eval --format json` of `reference` with the key in `work`: (exit code, decision).
fn eval_json(work: &Path, reference: &str) -> (i32, Value) {
    let (code, stdout, stderr) = run(
        work,
        &[
            "eval",
            reference,
            "--trusted-key",
            "cosign.pub",
            "--format",
            "json",
        ],
    );
    let decision = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    (code, decision)
}

/// What the policy `name` decided in a decision.
fn verdict(decision: &Value, name: &str) -> Value {
    decision["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap()["decision"]
        .clone()
}

fn trusted(facts: &Value, section: &str) -> usize {
    facts[section].as_array().map_or(0, |all| {
        all.iter().filter(|s| s["trust"] == "verified").count()
    })
}

/// A registry with the app image (setuid `su`) pushed as `team/app:1.0`,
/// and a cosign key pair in `work`.
fn pushed_app(work: &Path) -> (TestRegistry, Pusher, Built) {
    let registry = TestRegistry::start(None);
    assert_eq!(run(work, &["bundle", "keygen"]).0, 0);
    let pusher = Pusher::new(&registry, "team/app");
    let mut layout = Layout::default();
    let built = app_image(&mut layout, "amd64", true);
    pusher.layout(&layout);
    pusher.manifest("1.0", &built.manifest);
    (registry, pusher, built)
}

#[test]
fn an_image_in_a_registry_is_read_with_what_is_stored_beside_it() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let (registry, pusher, built) = pushed_app(work);
    let reference = format!("oci://{}/team/app:1.0", registry.addr);

    // Unsigned: read from the layers, nothing verified.
    let (code, stdout, stderr) = run(work, &["facts", &reference]);
    assert_eq!(code, 0, "{stderr}");
    let facts: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(facts["image"]["digest"], built.digest.as_str());
    assert_eq!(
        facts["image"]["reference"],
        format!("{}/team/app:1.0", registry.addr)
    );
    let su = facts["files"]["executables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "/usr/bin/su")
        .unwrap();
    assert_eq!(su["setuid"], true);
    assert_eq!(facts["packages"][0]["name"], "musl");
    assert_eq!(facts["sources"][0]["format"], "registry");
    assert_eq!(trusted(&facts, "signatures"), 0);

    // Signed with cosign's layout, attested under `.att`, and a VEX document
    // attached by the referrers tag schema.
    let sign = customs(work)
        .args(["bundle", "sign", &reference, "--key", "cosign.key"])
        .output()
        .unwrap();
    assert!(
        sign.status.success(),
        "{}",
        String::from_utf8_lossy(&sign.stderr)
    );
    push_attestation(&pusher, &built.digest, &attestation(work, &built.digest));
    let vex = std::fs::read(
        customs_tests::corpus_dir().join("openvex/go-vex-alpine-v0.2.0.openvex.json"),
    )
    .unwrap();
    let vex_digest = pusher.refer(&built, "application/vnd.openvex+json", &vex);

    let (code, stdout, stderr) = run(work, &["facts", &reference, "--trusted-key", "cosign.pub"]);
    assert_eq!(code, 0, "{stderr}");
    let facts: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(trusted(&facts, "signatures"), 1, "{facts:#}");
    assert_eq!(trusted(&facts, "attestations"), 1, "{facts:#}");
    // The unsigned VEX document is found but not applied: anyone who can
    // push could attach one to hide vulnerabilities.
    let warnings = facts["sources"].to_string();
    assert!(
        warnings.contains(&vex_digest) && warnings.contains("not applied"),
        "{warnings}"
    );

    // A referrer listed for this image whose subject is another image is
    // not read (a tag-schema index is just a tag anyone can push).
    let mut other = Layout::default();
    let other_image = app_image(&mut other, "amd64", false);
    pusher.layout(&other);
    pusher.manifest("other", &other_image.manifest);
    let foreign = pusher.refer(&other_image, "application/vnd.openvex+json", &vex);
    let listing = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": foreign,
                       "size": 1, "artifactType": "application/vnd.openvex+json"}]
    });
    pusher.manifest(&built.digest.replacen(':', "-", 1), &listing);
    let (code, stdout, stderr) = run(work, &["facts", &reference]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("listed as a referrer of") && stdout.contains("its subject is"),
        "{stdout}"
    );
    assert!(
        stdout.contains("were not checked: no trust material"),
        "{stdout}"
    );

    // The same signature does not verify with another key.
    let other = work.join("other");
    std::fs::create_dir_all(&other).unwrap();
    assert_eq!(run(&other, &["bundle", "keygen"]).0, 0);
    let (code, stdout, _) = run(
        work,
        &["facts", &reference, "--trusted-key", "other/cosign.pub"],
    );
    assert_eq!(code, 0);
    let facts: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(trusted(&facts, "signatures"), 0);
    assert_eq!(trusted(&facts, "attestations"), 0);

    // The baseline denies the setuid `su` the layers hold.
    let (code, decision) = eval_json(work, &reference);
    assert_eq!(code, 1, "{decision:#}");
    assert_eq!(verdict(&decision, "no-setuid"), "deny");
    assert_eq!(verdict(&decision, "signed"), "allow", "{decision:#}");
}

#[test]
fn a_multi_platform_index_is_decided_platform_by_platform() {
    let registry = TestRegistry::start(None);
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    assert_eq!(run(work, &["bundle", "keygen"]).0, 0);
    let pusher = Pusher::new(&registry, "multi");
    let mut layout = Layout::default();
    let amd64 = app_image(&mut layout, "amd64", false);
    let arm64 = app_image(&mut layout, "arm64", true);
    let index_digest = layout.tag_index(&[(&amd64, "amd64"), (&arm64, "arm64")], "2.0");
    pusher.layout(&layout);
    pusher.manifest(&amd64.digest, &amd64.manifest);
    pusher.manifest(&arm64.digest, &arm64.manifest);
    let index = serde_json::from_slice::<Value>(
        &layout
            .blobs
            .iter()
            .find(|(d, _)| *d == index_digest)
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(pusher.manifest("2.0", &index), index_digest);
    let reference = format!("oci://{}/multi:2.0", registry.addr);
    // cosign signs what the tag points to: the index.
    let sign = customs(work)
        .args(["bundle", "sign", &reference, "--key", "cosign.key"])
        .output()
        .unwrap();
    assert!(
        sign.status.success(),
        "{}",
        String::from_utf8_lossy(&sign.stderr)
    );

    let (code, decision) = eval_json(work, &reference);
    assert_eq!(code, 1, "{decision:#}");
    assert_eq!(decision["decision"], "deny");
    let platforms = decision["platforms"].as_array().unwrap();
    let names: Vec<&str> = platforms
        .iter()
        .map(|p| p["platform"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["linux/amd64", "linux/arm64"]);
    // The index's signature covers both (customs read the index that lists them).
    for platform in platforms {
        assert_eq!(
            verdict(&platform["decision"], "signed"),
            "allow",
            "{platform:#}"
        );
    }
    assert_eq!(verdict(&platforms[0]["decision"], "no-setuid"), "allow");
    assert_eq!(verdict(&platforms[1]["decision"], "no-setuid"), "deny");

    // One platform chosen: only its image is pulled and decided.
    let (code, stdout, stderr) = run(work, &["facts", &reference, "--platform", "linux/amd64"]);
    assert_eq!(code, 0, "{stderr}");
    let facts: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(facts["image"]["digest"], amd64.digest.as_str());
    assert_eq!(facts["image"]["index_digest"], index_digest.as_str());

    // A report about one platform cannot be merged into every platform.
    let report = customs_tests::corpus_files("trivy").remove(0);
    let (code, _, stderr) = run(work, &["eval", &reference, report.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("choose it with --platform"), "{stderr}");
}

#[test]
fn registry_image_errors_name_what_failed() {
    let registry = TestRegistry::start(None);
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let (code, _, stderr) = run(
        work,
        &["facts", &format!("oci://{}/nothing:1", registry.addr)],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("nothing:1") && stderr.contains("not found"),
        "{stderr}"
    );
    let (code, _, stderr) = run(work, &["facts", "oci://app"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("names no repository"), "{stderr}");
}

/// The server reads an image itself when a facts write asks
/// (`?read=REGISTRY/PATH`): its files and packages, the attestation stored
/// beside it verified with the server's key, merged with the posted scan;
/// only from the registries it is configured for.
#[test]
fn the_server_reads_an_image_for_a_facts_write_that_asks() {
    use crate::server::{Running, TOKEN, client};

    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let (registry, pusher, built) = pushed_app(work);
    push_attestation(&pusher, &built.digest, &attestation(work, &built.digest));
    let repository = format!("{}/team/app", registry.addr);
    let trivy = std::fs::read(customs_tests::corpus_dir().join("trivy/alpine-310.json")).unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let key = work.join("cosign.pub");
        let allowed = registry.addr.clone();
        let server = Running::start(customs_tests::baseline(), move |config| {
            config.read_images =
                Some(serde_saphyr::from_str(&format!("registries: [\"{allowed}\"]")).unwrap());
            config.trust.trusted_keys = vec![key];
            config.load_trust().unwrap();
        })
        .await;
        let post = |query: String, body: Vec<u8>| {
            let url = format!("{}/v1/images/{}/facts?{query}", server.url, built.digest);
            async move {
                let response = client()
                    .post(url)
                    .bearer_auth(TOKEN)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.unwrap())
            }
        };

        // The image alone: its setuid su denies, its attestation verified.
        let (status, decision) = post(format!("read={repository}"), Vec::new()).await;
        assert_eq!(status, 200, "{decision}");
        assert_eq!(decision["decision"], "deny", "{decision}");
        assert_eq!(verdict(&decision, "no-setuid"), "deny");
        let record = client()
            .get(format!("{}/v1/images/{}", server.url, built.digest))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        let facts = &record["facts"];
        assert!(
            facts["files"]["executables"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["path"] == "/usr/bin/su" && e["setuid"] == true),
            "{facts}"
        );
        assert_eq!(facts["packages"][0]["name"], "musl");
        assert_eq!(trusted(facts, "attestations"), 1, "{facts}");

        // With a scan posted beside it: one record of both. A scan of
        // another image is refused, not merged.
        let (status, answer) = post(format!("read={repository}"), trivy.clone()).await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .contains("the inputs describe different images"),
            "{answer}"
        );
        let scan = json!({
            "schema_version": "1",
            "image": {"digest": built.digest},
            "vulnerabilities": [],
            "sources": [{"tool": "trivy", "format": "trivy-json"}]
        });
        let (status, decision) =
            post(format!("read={repository}"), scan.to_string().into_bytes()).await;
        assert_eq!(status, 200, "{decision}");
        assert_eq!(verdict(&decision, "vulnerabilities"), "allow", "{decision}");
        assert_eq!(verdict(&decision, "no-setuid"), "deny");

        // Only the registries configured are contacted; a tag is not a repository.
        let (status, answer) = post("read=ghcr.io/team/app".to_owned(), Vec::new()).await;
        assert_eq!(status, 403, "{answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .contains("reads images from"),
            "{answer}"
        );
        let (status, answer) = post(format!("read={repository}:1.0"), Vec::new()).await;
        assert_eq!(status, 400, "{answer}");
        // A digest the registry does not hold: the registry's answer, 502.
        let missing = format!("sha256:{}", "0".repeat(64));
        let response = client()
            .post(format!(
                "{}/v1/images/{missing}/facts?read={repository}",
                server.url
            ))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 502);
        server.stop().await;

        // A server without read_images reads nothing.
        let server = Running::start(customs_tests::baseline(), |_| {}).await;
        let response = client()
            .post(format!(
                "{}/v1/images/{}/facts?read={repository}",
                server.url, built.digest
            ))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
        let answer: Value = response.json().await.unwrap();
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .contains("no read_images section"),
            "{answer}"
        );
        server.stop().await;
    });
}
