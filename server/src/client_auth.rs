//! Client certificates (`tls.client_ca`): the Kubernetes API server proves
//! it is the caller of the admission webhook with a client certificate that
//! a configured CA signed.
//!
//! With `client_ca` the TLS handshake asks every client for a certificate
//! and verifies one that is presented against those CAs: a certificate they
//! did not sign (or an expired one) fails the handshake. A client that
//! presents none still connects, since the kubelet's probes and the
//! pipelines (with their bearer token) have none. [`ClientCertAcceptor`]
//! reads the verified certificate once a connection's handshake is done and
//! marks every request on that connection with a [`ClientCertificate`];
//! [`require_client_certificate`] is what a handler asks.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::{Extensions, Request, StatusCode};
use axum_server::accept::Accept;
use axum_server::tls::TlsService;
use axum_server::tls_rustls::RustlsAcceptor;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;

use crate::ServerConfig;
use crate::ServerError;
use crate::api::ApiError;

/// The client certificate the connection of a request presented, verified
/// against `tls.client_ca` during the handshake: a request extension, present
/// only on connections that presented a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The leaf certificate's subject (`CN=kube-apiserver, O=...`), or
    /// `sha256:HEX` of the certificate when its subject cannot be read.
    pub subject: String,
}

impl ClientCertificate {
    fn from_der(der: &[u8]) -> ClientCertificate {
        let subject = match x509_parser::parse_x509_certificate(der) {
            Ok((_, certificate)) => certificate.subject().to_string(),
            Err(_) => String::new(),
        };
        let subject = if subject.is_empty() {
            use sha2::{Digest, Sha256};
            format!("sha256:{}", hex::encode(Sha256::digest(der)))
        } else {
            subject
        };
        ClientCertificate { subject }
    }
}

/// The verifier of client certificates signed by the CAs in `path` (PEM),
/// checking signatures with `provider`. Clients without a certificate are
/// let through (`allow_unauthenticated`): the handlers that need one ask
/// [`require_client_certificate`].
pub(crate) fn verifier(
    path: &Path,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, ServerError> {
    use rustls_pki_types::pem::PemObject;
    let error = |message: String| ServerError::ClientCa {
        path: path.display().to_string(),
        source: io::Error::other(message),
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| error(e.to_string()))?;
    if certificates.is_empty() {
        return Err(error("the file holds no PEM certificate".to_owned()));
    }
    let mut roots = rustls::RootCertStore::empty();
    for (n, certificate) in certificates.into_iter().enumerate() {
        roots
            .add(certificate)
            .map_err(|e| error(format!("certificate {}: {e}", n + 1)))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .map_err(|e| error(e.to_string()))
}

/// Whether the request may go on: `Ok(None)` when no `tls.client_ca` is
/// configured (nothing to require), `Ok(Some(subject))` when its connection
/// presented a certificate a configured CA signed, and a 401 otherwise.
pub(crate) fn require_client_certificate(
    config: &ServerConfig,
    extensions: &Extensions,
) -> Result<Option<String>, ApiError> {
    if config
        .tls
        .as_ref()
        .is_none_or(|tls| tls.client_ca.is_none())
    {
        return Ok(None);
    }
    match extensions.get::<ClientCertificate>() {
        Some(certificate) => Ok(Some(certificate.subject.clone())),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "a client certificate signed by a CA in tls.client_ca is required \
             (the Kubernetes API server presents one when its admission \
             configuration's kubeconfig names it); this connection presented none",
        )),
    }
}

/// The server's TLS acceptor: rustls's handshake, then every request on the
/// connection carries the [`ClientCertificate`] it presented, if any.
#[derive(Clone)]
pub(crate) struct ClientCertAcceptor {
    inner: RustlsAcceptor,
}

impl ClientCertAcceptor {
    pub(crate) fn new(inner: RustlsAcceptor) -> ClientCertAcceptor {
        ClientCertAcceptor { inner }
    }
}

type Accepted<I, S> = io::Result<(TlsStream<I>, ClientCertService<TlsService<S>>)>;

impl<I, S> Accept<I, S> for ClientCertAcceptor
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Send + 'static,
{
    type Stream = TlsStream<I>;
    type Service = ClientCertService<TlsService<S>>;
    type Future = Pin<Box<dyn Future<Output = Accepted<I, S>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let handshake = self.inner.accept(stream, service);
        Box::pin(async move {
            let (stream, service) = handshake.await?;
            // With `allow_unauthenticated`, rustls reports peer certificates
            // only when the client presented some and they verified (a
            // certificate that does not verify fails the handshake above).
            let certificate = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(<[CertificateDer<'static>]>::first)
                .map(|leaf| ClientCertificate::from_der(leaf));
            if let Some(certificate) = &certificate {
                tracing::debug!(subject = %certificate.subject, "client certificate verified");
            }
            Ok((
                stream,
                ClientCertService {
                    inner: service,
                    certificate,
                },
            ))
        })
    }
}

/// A connection's service: puts the connection's [`ClientCertificate`] in
/// each request's extensions.
#[derive(Clone)]
pub(crate) struct ClientCertService<S> {
    inner: S,
    certificate: Option<ClientCertificate>,
}

impl<S, B> tower_service::Service<Request<B>> for ClientCertService<S>
where
    S: tower_service::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if let Some(certificate) = &self.certificate {
            request.extensions_mut().insert(certificate.clone());
        }
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use rustls_pki_types::pem::PemObject;

    use super::*;
    use crate::config::TlsConfig;

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

        /// A certificate and key (PEM) for `name`: a server's for an IP
        /// address, a client's otherwise.
        fn sign(&self, name: &str) -> (String, String) {
            let server = name.parse::<std::net::IpAddr>().is_ok();
            let mut params = rcgen::CertificateParams::new(if server {
                vec![name.to_owned()]
            } else {
                Vec::new()
            })
            .unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            params.extended_key_usages = vec![if server {
                rcgen::ExtendedKeyUsagePurpose::ServerAuth
            } else {
                rcgen::ExtendedKeyUsagePurpose::ClientAuth
            }];
            let key = rcgen::KeyPair::generate().unwrap();
            let certificate = params.signed_by(&key, &self.issuer).unwrap();
            (certificate.pem(), key.serialize_pem())
        }
    }

    fn with_client_ca(client_ca: Option<&Path>) -> ServerConfig {
        ServerConfig {
            tls: Some(TlsConfig {
                cert: "tls.crt".into(),
                key: "tls.key".into(),
                client_ca: client_ca.map(Path::to_path_buf),
            }),
            ..ServerConfig::default()
        }
    }

    fn with_certificate(subject: &str) -> Extensions {
        let mut extensions = Extensions::new();
        extensions.insert(ClientCertificate {
            subject: subject.to_owned(),
        });
        extensions
    }

    #[test]
    fn without_client_ca_nothing_is_required() {
        let plain = ServerConfig::default();
        assert_eq!(
            require_client_certificate(&plain, &Extensions::new()).unwrap(),
            None
        );
        let tls = with_client_ca(None);
        assert_eq!(
            require_client_certificate(&tls, &Extensions::new()).unwrap(),
            None
        );
        // Even a certificate is not reported: nothing was asked of it.
        assert_eq!(
            require_client_certificate(&tls, &with_certificate("CN=x")).unwrap(),
            None
        );
    }

    #[test]
    fn with_client_ca_a_certificate_is_required() {
        let config = with_client_ca(Some(Path::new("ca.crt")));
        assert_eq!(
            require_client_certificate(&config, &with_certificate("CN=kube-apiserver")).unwrap(),
            Some("CN=kube-apiserver".to_owned())
        );
        let error = require_client_certificate(&config, &Extensions::new()).unwrap_err();
        assert_eq!(error.status, StatusCode::UNAUTHORIZED);
        assert!(error.message.contains("tls.client_ca"), "{}", error.message);
    }

    #[test]
    fn the_subject_is_the_leafs_and_unreadable_ones_get_a_fingerprint() {
        let ca = Ca::new("customs test CA");
        let (pem, _) = ca.sign("kube-apiserver");
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert_eq!(
            ClientCertificate::from_der(&der).subject,
            "CN=kube-apiserver"
        );
        let subject = ClientCertificate::from_der(b"not a certificate").subject;
        assert!(subject.starts_with("sha256:"), "{subject}");
        assert_eq!(subject.len(), "sha256:".len() + 64);
    }

    #[test]
    fn a_bad_client_ca_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let empty = dir.path().join("empty-ca.crt");
        std::fs::write(&empty, "").unwrap();
        let key_only = dir.path().join("key-only-ca.crt");
        std::fs::write(&key_only, ca_key_pem()).unwrap();
        let garbage = dir.path().join("garbage-ca.crt");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let missing = dir.path().join("missing-ca.crt");
        for path in [&empty, &key_only, &garbage, &missing] {
            let error = match verifier(path, provider.clone()) {
                Ok(_) => panic!("{} was accepted", path.display()),
                Err(error) => error.to_string(),
            };
            let name = path.file_name().unwrap().to_str().unwrap();
            assert!(error.contains(name), "{error}");
            assert!(error.contains("tls.client_ca"), "{error}");
        }
        let good = dir.path().join("ca.crt");
        std::fs::write(&good, Ca::new("customs test CA").pem).unwrap();
        verifier(&good, provider).unwrap();
    }

    fn ca_key_pem() -> String {
        rcgen::KeyPair::generate().unwrap().serialize_pem()
    }

    /// The acceptor end to end: a server that answers what
    /// `require_client_certificate` says, and clients with and without
    /// certificates.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_carry_the_verified_certificate_of_their_connection() {
        use axum_server::tls_rustls::RustlsConfig;

        let ca = Ca::new("customs test CA");
        let (server_cert, server_key) = ca.sign("127.0.0.1");
        let (client_cert, client_key) = ca.sign("kube-apiserver");
        let (stranger_cert, stranger_key) = Ca::new("another CA").sign("kube-apiserver");
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let config = ServerConfig {
            tls: Some(TlsConfig {
                cert: write("tls.crt", &server_cert),
                key: write("tls.key", &server_key),
                client_ca: Some(write("client-ca.crt", &ca.pem)),
            }),
            ..ServerConfig::default()
        };
        let tls = config.tls.clone().unwrap();
        let rustls = crate::tls_config(&tls.cert, &tls.key, tls.client_ca.as_deref()).unwrap();
        let config = Arc::new(config);
        let app = axum::Router::new().route(
            "/whoami",
            axum::routing::get(move |request: axum::extract::Request| async move {
                match require_client_certificate(&config, request.extensions()) {
                    Ok(subject) => Ok(subject.unwrap_or_default()),
                    Err(error) => Err((error.status, error.message)),
                }
            }),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://{}/whoami", listener.local_addr().unwrap());
        let handle = axum_server::Handle::new();
        let server = axum_server::from_tcp(listener)
            .unwrap()
            .acceptor(ClientCertAcceptor::new(RustlsAcceptor::new(
                RustlsConfig::from_config(Arc::new(rustls)),
            )))
            .handle(handle.clone());
        let serving = tokio::spawn(server.serve(app.into_make_service()));

        let client = |identity: Option<(&str, &str)>| {
            let mut builder = reqwest::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap())
                .timeout(std::time::Duration::from_secs(30));
            if let Some((cert, key)) = identity {
                builder = builder.identity(
                    reqwest::Identity::from_pem(format!("{key}{cert}").as_bytes()).unwrap(),
                );
            }
            builder.build().unwrap()
        };

        // A certificate the CA signed: the handler sees its subject, on
        // every request of the connection.
        let verified = client(Some((&client_cert, &client_key)));
        for _ in 0..2 {
            let response = verified.get(&url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.text().await.unwrap(), "CN=kube-apiserver");
        }

        // None: the connection is made, the handler refuses.
        let response = client(None).get(&url).send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.text().await.unwrap().contains("tls.client_ca"));

        // One another CA signed: no connection at all.
        let refused = client(Some((&stranger_cert, &stranger_key)))
            .get(&url)
            .send()
            .await;
        assert!(refused.is_err(), "{refused:?}");

        handle.shutdown();
        serving.await.unwrap().unwrap();
    }
}
