//! Bundles through a real OCI registry: Debian's `docker-registry` on a
//! loopback port, started per test. Push, cosign signatures, pull through the
//! digest-keyed cache, and every way the registry can say no.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use customs::{BundleFiles, Manifest};
use customs_tests::{TestRegistry, bundle_dir};

const NOW: &str = "2026-11-01T00:00:00Z";

fn trivy_alpine() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../policies/baseline/tests/fixtures/trivy-alpine-310.json")
}

/// A customs command with its own bundle cache and no stored credentials.
fn customs(cache: &Path) -> Command {
    let mut command = Command::cargo_bin("customs").unwrap();
    command
        .env("XDG_CACHE_HOME", cache)
        .env("XDG_STATE_HOME", cache.join("state"))
        .env("DOCKER_CONFIG", cache.join("no-docker-config"))
        .env("REGISTRY_AUTH_FILE", cache.join("no-auth.json"))
        .env_remove("CUSTOMS_REGISTRY_USERNAME")
        .env_remove("CUSTOMS_REGISTRY_PASSWORD")
        .env("COSIGN_PASSWORD", "pw");
    command
}

struct Setup {
    work: tempfile::TempDir,
    bundle: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let bundle = bundle_dir(&["no-root-user", "freshness"], &[]);
        let work = tempfile::tempdir().unwrap();
        let setup = Setup { work, bundle };
        setup
            .run(
                &["bundle", "init", "--name", "team"],
                &[setup.bundle.path()],
            )
            .success();
        setup.run(&["bundle", "keygen"], &[]).success();
        setup
    }

    fn cache(&self) -> PathBuf {
        self.work.path().join("cache")
    }

    fn key(&self) -> PathBuf {
        self.work.path().join("cosign.key")
    }

    fn public(&self) -> PathBuf {
        self.work.path().join("cosign.pub")
    }

    fn run(&self, args: &[&str], paths: &[&Path]) -> assert_cmd::assert::Assert {
        customs(&self.cache())
            .current_dir(self.work.path())
            .args(args)
            .args(paths)
            .assert()
    }

    fn eval(&self, reference: &str, extra: &[&str]) -> std::process::Output {
        customs(&self.cache())
            .args([
                "eval",
                "--now",
                NOW,
                "--bundle",
                reference,
                "--require-signed",
                "--key",
            ])
            .arg(self.public())
            .args(extra)
            .arg(trivy_alpine())
            .output()
            .unwrap()
    }
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn build_sign_push_and_evaluate_a_signed_bundle_by_tag() {
    let registry = TestRegistry::start(None);
    let setup = Setup::new();
    let reference = format!("oci://{}/policies/team:1.0", registry.addr);
    let archive = setup.work.path().join("team.tar.gz");
    setup
        .run(
            &["bundle", "build"],
            &[setup.bundle.path(), Path::new("-o"), &archive],
        )
        .success();
    let pushed = setup
        .run(&["bundle", "push"], &[&archive, Path::new(&reference)])
        .success();
    let pushed = String::from_utf8_lossy(&pushed.get_output().stdout).into_owned();
    let digest = pushed.trim().rsplit('@').next().unwrap().to_owned();
    assert!(digest.starts_with("sha256:"), "{pushed}");

    // Pushed but not signed: refused with the reason.
    let fresh_cache = tempfile::tempdir().unwrap();
    let output = customs(fresh_cache.path())
        .args([
            "eval",
            "--now",
            NOW,
            "--bundle",
            &reference,
            "--require-signed",
            "--key",
        ])
        .arg(setup.public())
        .arg(trivy_alpine())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no cosign signature"),
        "{}",
        stderr(&output)
    );

    setup
        .run(&["bundle", "sign", &reference, "--key"], &[&setup.key()])
        .success();
    // Cosign's layout: the signature is the tag sha256-<hex>.sig.
    let tags = http_get(&registry.addr, "/v2/policies/team/tags/list");
    assert!(
        tags.contains(&format!("{}.sig", digest.replace(':', "-"))),
        "{tags}"
    );

    let output = setup.eval(&reference, &["--format", "json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let decision: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let denied: Vec<&str> = decision["policies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["decision"] == "deny")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(denied, ["freshness", "no-root-user"]);

    // The second evaluation needs no network: the registry is gone.
    drop(registry);
    let output = setup.eval(&reference, &[]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "from the cache: {}",
        stderr(&output)
    );
    // ...unless asked to pull again.
    let output = setup.eval(&reference, &["--pull", "always"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot reach the registry"),
        "{}",
        stderr(&output)
    );
    // By digest, from the cache, too.
    let by_digest = format!("{}@{digest}", reference.rsplit_once(':').unwrap().0);
    let output = setup.eval(&by_digest, &["--pull", "never"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
}

#[test]
fn a_changed_byte_in_a_pushed_policy_is_refused_with_the_digest_named() {
    let registry = TestRegistry::start(None);
    let setup = Setup::new();
    let reference = format!("oci://{}/policies/tampered:1", registry.addr);
    // Change one byte of a policy after the manifest pinned it, and push the
    // result with the library (the CLI refuses to push it).
    let policy = setup.bundle.path().join("freshness.wasm");
    let mut bytes = std::fs::read(&policy).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    let mut files = BundleFiles::read_dir(setup.bundle.path())
        .unwrap()
        .files()
        .clone();
    files.insert("freshness.wasm".to_owned(), bytes.clone());
    std::fs::write(&policy, &bytes).unwrap();
    let refused = setup.run(
        &["bundle", "push"],
        &[setup.bundle.path(), Path::new(&reference)],
    );
    refused
        .code(2)
        .stderr(predicates::str::contains("freshness.wasm: sha256 mismatch"));

    let archive = tar_gz(&files);
    let manifest_text = String::from_utf8(files["customs-bundle.yaml"].clone()).unwrap();
    let manifest = Manifest::parse("customs-bundle.yaml", &manifest_text).unwrap();
    let client = customs_registry::Registry::new(None);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(client.push(&reference, &archive, &manifest))
        .unwrap();
    setup
        .run(&["bundle", "sign", &reference, "--key"], &[&setup.key()])
        .success();

    // Signed, so the signature passes; the pinned digest does not.
    let output = setup.eval(&reference, &[]);
    assert_eq!(output.status.code(), Some(2));
    let error = stderr(&output);
    let actual = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    assert!(
        error.contains("freshness.wasm: sha256 mismatch") && error.contains(&actual),
        "{error}"
    );
}

/// A tar.gz of the files, as a tool other than customs might write it.
fn tar_gz(files: &std::collections::BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    for (path, bytes) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, path, bytes.as_slice())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// The rollback attack: the tag is moved back to an older bundle whose
/// signature is still valid. Refused once a newer version was accepted.
#[test]
fn a_tag_moved_back_to_an_older_signed_bundle_is_refused() {
    let registry = TestRegistry::start(None);
    let setup = Setup::new();
    let reference = format!("oci://{}/policies/team:stable", registry.addr);
    let manifest = setup.bundle.path().join("customs-bundle.yaml");
    let publish = |version: &str| {
        let text = std::fs::read_to_string(&manifest).unwrap();
        let start = text.find("\nversion: ").unwrap() + 1;
        let end = start + text[start..].find('\n').unwrap();
        std::fs::write(
            &manifest,
            format!("{}version: {version}{}", &text[..start], &text[end..]),
        )
        .unwrap();
        let archive = setup.work.path().join(format!("team-{version}.tar.gz"));
        setup
            .run(
                &["bundle", "build"],
                &[setup.bundle.path(), Path::new("-o"), &archive],
            )
            .success();
        archive
    };
    let push_and_sign = |archive: &Path| {
        setup
            .run(&["bundle", "push"], &[archive, Path::new(&reference)])
            .success();
        setup
            .run(&["bundle", "sign", &reference, "--key"], &[&setup.key()])
            .success();
    };
    let old = publish("1.0.0");
    push_and_sign(&old);
    let output = setup.eval(&reference, &["--pull", "always"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    push_and_sign(&publish("1.1.0"));
    let output = setup.eval(&reference, &["--pull", "always"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));

    // The tag moved back: the old bundle and its signature are genuine.
    setup
        .run(&["bundle", "push"], &[&old, Path::new(&reference)])
        .success();
    let output = setup.eval(&reference, &["--pull", "always"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("bundle team 1.0.0 is older than 1.1.0"),
        "{}",
        stderr(&output)
    );
    assert!(output.stdout.is_empty());
    let output = setup.eval(&reference, &["--pull", "always", "--allow-rollback"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    // Allowing it once does not lower the bar.
    let output = setup.eval(&reference, &["--pull", "always"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

#[test]
fn a_signature_by_another_key_is_refused() {
    let registry = TestRegistry::start(None);
    let setup = Setup::new();
    let other = Setup::new();
    let reference = format!("oci://{}/policies/other:1", registry.addr);
    setup
        .run(
            &["bundle", "push"],
            &[setup.bundle.path(), Path::new(&reference)],
        )
        .success();
    other
        .run(&["bundle", "sign", &reference, "--key"], &[&other.key()])
        .success();
    let output = setup.eval(&reference, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("none by this key"),
        "{}",
        stderr(&output)
    );
    // Signed by the right key too (cosign keeps every signature): accepted.
    setup
        .run(&["bundle", "sign", &reference, "--key"], &[&setup.key()])
        .success();
    let output = setup.eval(&reference, &["--pull", "always"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
}

#[test]
fn registry_failures_are_clear_errors() {
    let registry = TestRegistry::start(None);
    let setup = Setup::new();
    // 404
    let output = setup.eval(&format!("oci://{}/policies/missing:1", registry.addr), &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("not found in the registry (404)"),
        "{}",
        stderr(&output)
    );
    // Not a bundle: an artifact without a customs layer.
    let reference = format!("oci://{}/policies/notabundle:1", registry.addr);
    let manifest = Manifest::parse(
        "m",
        "name: x\nversion: 0.1.0\npolicies:\n  - {path: a.wasm, kind: wasm, sha256: 0000000000000000000000000000000000000000000000000000000000000000}\n",
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(customs_registry::Registry::new(None).push(
            &reference,
            b"not an archive",
            &manifest,
        ))
        .unwrap();
    let output = customs(&setup.cache())
        .args(["eval", "--bundle", &reference])
        .arg(trivy_alpine())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("not a bundle archive"),
        "{}",
        stderr(&output)
    );
    // Down: nothing listens on the port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = setup.eval(&format!("oci://127.0.0.1:{port}/policies/x:1"), &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot reach the registry"),
        "{}",
        stderr(&output)
    );
    // Never, with nothing cached.
    let output = setup.eval(
        &format!("oci://{}/policies/never:1", registry.addr),
        &["--pull", "never"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("not in the local bundle cache"),
        "{}",
        stderr(&output)
    );
    // A reference without a registry.
    let output = setup.eval("oci://policies:1", &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("name the registry"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn credentials_come_from_the_environment_or_the_docker_config() {
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let registry = TestRegistry::start(Some(&format!("ci:{hash}\n")));
    let setup = Setup::new();
    let reference = format!("oci://{}/policies/private:1", registry.addr);
    // Anonymous: 401, said plainly.
    let output = customs(&setup.cache())
        .args(["bundle", "push"])
        .arg(setup.bundle.path())
        .arg(&reference)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("refused access (401/403)"),
        "{}",
        stderr(&output)
    );
    // Wrong password: refused too.
    let output = customs(&setup.cache())
        .env("CUSTOMS_REGISTRY_USERNAME", "ci")
        .env("CUSTOMS_REGISTRY_PASSWORD", "wrong")
        .args(["bundle", "push"])
        .arg(setup.bundle.path())
        .arg(&reference)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    // From the environment.
    customs(&setup.cache())
        .env("CUSTOMS_REGISTRY_USERNAME", "ci")
        .env("CUSTOMS_REGISTRY_PASSWORD", "s3cret")
        .args(["bundle", "push"])
        .arg(setup.bundle.path())
        .arg(&reference)
        .assert()
        .success();
    // From a Docker config file, as `docker login` writes it.
    let docker = setup.work.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode("ci:s3cret");
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#,
            registry.addr
        ),
    )
    .unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let output = customs(fresh.path())
        .env("DOCKER_CONFIG", &docker)
        .args(["bundle", "pull", &reference])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("pulled"));
}

/// A plain HTTP GET on loopback, for looking at the registry directly.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}
