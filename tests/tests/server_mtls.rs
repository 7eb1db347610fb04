//! `customs serve` with `tls.client_ca` over real TCP on 127.0.0.1: clients
//! without a certificate (probes, pipelines) still connect, a certificate the
//! configured CA signed completes the handshake, one another CA signed does
//! not, and a CA file that cannot be used stops the server naming it.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use customs_server::config::TlsConfig;
use customs_server::{Server, ServerConfig};
use customs_tests::{baseline, engine};

/// A CA, and what it signs.
struct Ca {
    pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            pem,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// The serving certificate and key (PEM) for 127.0.0.1.
    fn server(&self) -> (String, String) {
        self.sign(
            vec!["127.0.0.1".to_owned()],
            "customs",
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate and key (PEM) for `name`.
    fn client(&self, name: &str) -> (String, String) {
        self.sign(Vec::new(), name, rcgen::ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn sign(
        &self,
        names: Vec<String>,
        common_name: &str,
        usage: rcgen::ExtendedKeyUsagePurpose,
    ) -> (String, String) {
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        params.extended_key_usages = vec![usage];
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        (certificate.pem(), key.serialize_pem())
    }
}

/// A TLS server on a free port that verifies client certificates against
/// `client_ca`; stops when dropped (the runtime ends its task).
struct Running {
    url: String,
    /// The CA of the serving certificate, for clients to trust.
    server_ca: Ca,
    _dir: tempfile::TempDir,
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn config(dir: &Path, server_ca: &Ca, client_ca: PathBuf) -> ServerConfig {
    let (cert, key) = server_ca.server();
    ServerConfig {
        store: format!("sqlite:{}", dir.join("facts.db").display()),
        tls: Some(TlsConfig {
            cert: write(dir, "tls.crt", &cert),
            key: write(dir, "tls.key", &key),
            client_ca: Some(client_ca),
        }),
        token: Some(TOKEN.to_owned()),
        ..ServerConfig::default()
    }
}

const TOKEN: &str = "mtls-test-token-0123456789";

async fn start(client_ca: &Ca) -> Running {
    let dir = tempfile::tempdir().unwrap();
    // The serving certificate has a CA of its own: the API server trusts
    // the webhook's CA (caBundle), customs trusts the API server's.
    let server_ca = Ca::new("customs serving CA");
    let ca_file = write(dir.path(), "client-ca.crt", &client_ca.pem);
    let config = config(dir.path(), &server_ca, ca_file);
    let server = Server::start(engine().clone(), baseline(), config)
        .await
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        server
            .serve_on(listener, std::future::pending())
            .await
            .unwrap();
    });
    Running {
        url: format!("https://127.0.0.1:{port}"),
        server_ca,
        _dir: dir,
    }
}

/// A client that trusts the server, presenting `identity` (certificate and
/// key PEM) if given.
fn client(server_ca: &str, identity: Option<&(String, String)>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(server_ca.as_bytes()).unwrap())
        .timeout(std::time::Duration::from_secs(30));
    if let Some((cert, key)) = identity {
        builder = builder
            .identity(reqwest::Identity::from_pem(format!("{key}{cert}").as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

async fn healthz(client: &reqwest::Client, server: &Running) -> reqwest::Result<String> {
    client
        .get(format!("{}/healthz", server.url))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await
}

/// An error and its sources, one after the other.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_verified_against_client_ca() {
    let api_server_ca = Ca::new("kubernetes client CA");
    let server = start(&api_server_ca).await;

    // No certificate: probes and pipelines connect as before.
    let anonymous = client(&server.server_ca.pem, None);
    assert_eq!(healthz(&anonymous, &server).await.unwrap(), "ok\n");

    // The API server's certificate: the handshake completes, on every
    // request of the connection.
    let api_server = api_server_ca.client("kube-apiserver");
    let verified = client(&server.server_ca.pem, Some(&api_server));
    for _ in 0..2 {
        assert_eq!(healthz(&verified, &server).await.unwrap(), "ok\n");
    }

    // A certificate another CA signed, even the one that signed customs's
    // own serving certificate: the handshake fails, whatever the endpoint.
    for stranger in [
        Ca::new("another CA").client("kube-apiserver"),
        server.server_ca.client("kube-apiserver"),
    ] {
        let refused = healthz(&client(&server.server_ca.pem, Some(&stranger)), &server)
            .await
            .unwrap_err();
        // No answer: the server's alert. In TLS 1.3 the client may finish
        // its side of the handshake before the server checks the
        // certificate, so the client sees either the alert (UnknownCA) or
        // the connection dropped before the request could be sent.
        assert!(!refused.is_status(), "{refused:?}");
        let why = causes(&refused);
        assert!(
            why.contains("UnknownCA") || why.contains("connection was not ready"),
            "{refused:?}"
        );
    }

    // The server is none the worse for it.
    assert_eq!(healthz(&anonymous, &server).await.unwrap(), "ok\n");
    assert_eq!(healthz(&verified, &server).await.unwrap(), "ok\n");

    // The webhook answers the API server, with every finding; a caller
    // without its certificate gets 401 and learns nothing.
    let digest = format!("sha256:{}", "1".repeat(64));
    let report = std::fs::read(customs_tests::corpus_dir().join("trivy/alpine-310.json")).unwrap();
    let form = reqwest::multipart::Form::new()
        .part("report", reqwest::multipart::Part::bytes(report))
        .part(
            "digest",
            reqwest::multipart::Part::bytes(
                serde_json::json!({"schema_version": "1", "image": {"digest": digest}})
                    .to_string()
                    .into_bytes(),
            ),
        );
    let recorded = anonymous
        .post(format!("{}/v1/images/{digest}/facts", server.url))
        .bearer_auth(TOKEN)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(recorded.status(), 200);
    let mut review: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("data/admission/pod-default.json"),
        )
        .unwrap(),
    )
    .unwrap();
    review["request"]["object"]["spec"]["containers"][0]["image"] =
        serde_json::json!(format!("ghcr.io/aquasecurity/trivy-test-images@{digest}"));
    let admit = |client: &reqwest::Client| {
        client
            .post(format!("{}/v1/admission", server.url))
            .json(&review)
            .send()
    };
    let refused = admit(&anonymous).await.unwrap();
    assert_eq!(refused.status(), 401);
    let body = refused.text().await.unwrap();
    assert!(
        body.contains("tls.client_ca") && !body.contains("freshness"),
        "{body}"
    );
    let answer: serde_json::Value = admit(&verified).await.unwrap().json().await.unwrap();
    let message = answer["response"]["status"]["message"].as_str().unwrap();
    assert_eq!(answer["response"]["allowed"], false);
    assert!(
        message.contains("freshness/freshness: the image was built")
            && message.contains("days ago"),
        "the API server gets the findings: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_ca_that_cannot_be_used_stops_the_server_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = Ca::new("customs serving CA");
    let key_only = rcgen::KeyPair::generate().unwrap().serialize_pem();
    for (name, text) in [
        ("empty-ca.crt", Some("")),
        ("key-only-ca.crt", Some(key_only.as_str())),
        ("missing-ca.crt", None),
    ] {
        let path = dir.path().join(name);
        if let Some(text) = text {
            std::fs::write(&path, text).unwrap();
        }
        let server = Server::start(
            engine().clone(),
            baseline(),
            config(dir.path(), &server_ca, path),
        )
        .await
        .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let error = server
            .serve_on(listener, std::future::pending())
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains(name), "{error}");
        assert!(error.contains("tls.client_ca"), "{error}");
    }
}
