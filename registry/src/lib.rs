//! # customs-registry
//!
//! Policy bundles in OCI registries: push a bundle archive as an OCI artifact,
//! pull it by tag or digest into a local cache keyed by digest, and sign and
//! verify it with cosign's signature layout, so `cosign verify --key` accepts
//! what `customs bundle sign` pushed. And container images in registries:
//! [`Registry::read_image`] reads an image's facts and finds what is stored
//! beside it (signatures, attestations, SBOMs, VEX).
//!
//! The artifact is an OCI image manifest with `artifactType`
//! [`ARTIFACT_TYPE`], an empty JSON config and one layer: the bundle archive
//! ([`customs::BUNDLE_MEDIA_TYPE`]).

mod auth;
mod cache;
mod cosign;
mod error;
mod image;
mod read_image;
pub mod signing;

use std::collections::BTreeMap;
use std::path::PathBuf;

use futures_util::StreamExt;
use oci_client::Reference;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest};
use sha2::{Digest, Sha256};

pub use cache::Cache;
pub use error::Error;
pub use image::{Evidence, RegistryImage};
pub use read_image::{ReadImage, platform_name};

/// The `artifactType` of a customs bundle manifest.
pub const ARTIFACT_TYPE: &str = "application/vnd.customs.bundle.v1";
/// The OCI empty descriptor's media type: bundles carry no config.
const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY_CONFIG: &[u8] = b"{}";
/// The largest manifest read from a registry.
const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// When to ask the registry rather than the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Resolve tags and fetch from the registry every time.
    Always,
    /// Use the cache when it has the reference (a tag as last resolved);
    /// a digest reference never needs the network twice.
    #[default]
    Missing,
    /// Never touch the network; fail if the cache does not have it.
    Never,
}

/// A bundle as pulled: its manifest digest and archive bytes.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// `registry/repository@sha256:...`.
    pub pinned: String,
    pub digest: String,
    pub archive: Vec<u8>,
    /// Whether it came from the cache without asking the registry.
    pub from_cache: bool,
}

/// A client for bundles in OCI registries.
pub struct Registry {
    cache: Option<Cache>,
    limits: customs::ArchiveLimits,
    insecure: Vec<String>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("cache", &self.cache)
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

/// Parses `oci://REGISTRY/REPOSITORY[:TAG][@DIGEST]` (the `oci://` prefix is
/// optional). Short Docker Hub names are not accepted: a bundle reference
/// names its registry.
pub fn parse_reference(text: &str) -> Result<Reference, Error> {
    let bare = text.strip_prefix("oci://").unwrap_or(text);
    let has_registry = bare
        .split_once('/')
        .is_some_and(|(host, _)| host.contains('.') || host.contains(':') || host == "localhost");
    if !has_registry {
        return Err(Error::Reference {
            reference: text.to_owned(),
            reason: "name the registry: oci://HOST[:PORT]/REPOSITORY[:TAG|@sha256:DIGEST]"
                .to_owned(),
        });
    }
    bare.parse()
        .map_err(|e: oci_client::ParseError| Error::Reference {
            reference: text.to_owned(),
            reason: e.to_string(),
        })
}

/// Whether a registry host is on this machine, where plain HTTP is the norm
/// (as Docker treats localhost).
fn is_loopback(registry: &str) -> bool {
    let host = registry.rsplit_once(':').map_or(registry, |(host, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            host
        } else {
            registry
        }
    });
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

impl Registry {
    /// A client with the given cache (`None`: no cache). Registries on
    /// loopback, and those in `CUSTOMS_INSECURE_REGISTRIES` (comma-separated
    /// `host[:port]`), are spoken to over plain HTTP; every other over HTTPS.
    pub fn new(cache: Option<Cache>) -> Registry {
        let insecure = std::env::var("CUSTOMS_INSECURE_REGISTRIES")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Registry {
            cache,
            limits: customs::ArchiveLimits::default(),
            insecure,
        }
    }

    /// A client with the cache in the user's cache directory.
    pub fn with_default_cache() -> Registry {
        Registry::new(Cache::default_location())
    }

    pub fn cache(&self) -> Option<&Cache> {
        self.cache.as_ref()
    }

    fn client(&self, reference: &Reference) -> oci_client::Client {
        let registry = reference.resolve_registry().to_owned();
        let plain_http = is_loopback(&registry) || self.insecure.contains(&registry);
        oci_client::Client::new(ClientConfig {
            protocol: if plain_http {
                ClientProtocol::HttpsExcept(vec![registry])
            } else {
                ClientProtocol::Https
            },
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            read_timeout: Some(std::time::Duration::from_secs(60)),
            ..ClientConfig::default()
        })
    }

    /// Pushes a bundle archive to `reference` (a tag); returns the digest of
    /// the pushed manifest.
    pub async fn push(
        &self,
        reference: &str,
        archive: &[u8],
        manifest: &customs::Manifest,
    ) -> Result<String, Error> {
        let target = parse_reference(reference)?;
        let client = self.client(&target);
        let auth = auth::for_registry(target.resolve_registry());
        let wrap = |e| Error::from_oci(reference, e);
        client
            .auth(&target, &auth, oci_client::RegistryOperation::Push)
            .await
            .map_err(wrap)?;
        let layer_digest = sha256_digest(archive);
        let config_digest = sha256_digest(EMPTY_CONFIG);
        client
            .push_blob(&target, archive.to_vec(), &layer_digest)
            .await
            .map_err(wrap)?;
        client
            .push_blob(&target, EMPTY_CONFIG.to_vec(), &config_digest)
            .await
            .map_err(wrap)?;
        let mut annotations = BTreeMap::new();
        annotations.insert(
            "org.opencontainers.image.title".to_owned(),
            manifest.name.clone(),
        );
        annotations.insert(
            "org.opencontainers.image.version".to_owned(),
            manifest.version.clone(),
        );
        if !manifest.description.is_empty() {
            annotations.insert(
                "org.opencontainers.image.description".to_owned(),
                manifest.description.clone(),
            );
        }
        let oci_manifest = OciImageManifest {
            schema_version: 2,
            media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_owned()),
            artifact_type: Some(ARTIFACT_TYPE.to_owned()),
            config: OciDescriptor {
                media_type: EMPTY_CONFIG_MEDIA_TYPE.to_owned(),
                digest: config_digest,
                size: EMPTY_CONFIG.len() as i64,
                ..OciDescriptor::default()
            },
            layers: vec![OciDescriptor {
                media_type: customs::BUNDLE_MEDIA_TYPE.to_owned(),
                digest: layer_digest,
                size: archive.len() as i64,
                annotations: Some(BTreeMap::from([(
                    "org.opencontainers.image.title".to_owned(),
                    format!("{}.tar.gz", manifest.name),
                )])),
                ..OciDescriptor::default()
            }],
            subject: None,
            annotations: Some(annotations),
        };
        let (digest, body) = push_manifest(&client, &target, reference, &oci_manifest).await?;
        if let Some(cache) = &self.cache {
            cache.store(&target, &digest, &body, archive)?;
        }
        Ok(digest)
    }

    /// Resolves a reference to its manifest digest (a digest reference
    /// resolves to itself without the network).
    pub async fn resolve(&self, reference: &str, pull: PullPolicy) -> Result<String, Error> {
        let target = parse_reference(reference)?;
        if let Some(digest) = target.digest() {
            return Ok(digest.to_owned());
        }
        if pull != PullPolicy::Always
            && let Some(digest) = self.cache.as_ref().and_then(|c| c.lookup_tag(&target))
        {
            return Ok(digest);
        }
        if pull == PullPolicy::Never {
            return Err(Error::NotCached {
                reference: reference.to_owned(),
            });
        }
        let client = self.client(&target);
        let auth = auth::for_registry(target.resolve_registry());
        client
            .fetch_manifest_digest(&target, &auth)
            .await
            .map_err(|e| Error::from_oci(reference, e))
    }

    /// Pulls a bundle archive, from the cache when `pull` allows. The archive
    /// is checked against the manifest's layer digest, and the manifest
    /// against its own digest, whichever the source.
    pub async fn pull(&self, reference: &str, pull: PullPolicy) -> Result<Pulled, Error> {
        let target = parse_reference(reference)?;
        let digest = self.resolve(reference, pull).await?;
        let pinned = format!(
            "{}/{}@{digest}",
            target.resolve_registry(),
            target.repository()
        );
        if pull != PullPolicy::Always
            && let Some(cache) = &self.cache
            && let Some(archive) = cache.load(&digest)?
        {
            return Ok(Pulled {
                pinned,
                digest,
                archive,
                from_cache: true,
            });
        }
        if pull == PullPolicy::Never {
            return Err(Error::NotCached {
                reference: reference.to_owned(),
            });
        }
        let by_digest = target.clone_with_digest(digest.clone());
        let client = self.client(&target);
        let auth = auth::for_registry(target.resolve_registry());
        let wrap = |e| Error::from_oci(reference, e);
        let (body, _) = client
            .pull_manifest_raw(&by_digest, &auth, &[OCI_IMAGE_MEDIA_TYPE])
            .await
            .map_err(wrap)?;
        if body.len() > MAX_MANIFEST_BYTES {
            return Err(Error::NotABundle {
                reference: reference.to_owned(),
                reason: format!("its manifest is {} bytes", body.len()),
            });
        }
        if sha256_digest(&body) != digest {
            return Err(Error::Digest {
                reference: reference.to_owned(),
                what: "manifest".to_owned(),
                expected: digest,
                actual: sha256_digest(&body),
            });
        }
        let layer = bundle_layer(reference, &body, &self.limits)?;
        let archive = self
            .pull_layer(&client, &by_digest, reference, &layer)
            .await?;
        if let Some(cache) = &self.cache {
            cache.store(&target, &digest, &body, &archive)?;
        }
        Ok(Pulled {
            pinned,
            digest,
            archive,
            from_cache: false,
        })
    }

    async fn pull_layer(
        &self,
        client: &oci_client::Client,
        image: &Reference,
        reference: &str,
        layer: &OciDescriptor,
    ) -> Result<Vec<u8>, Error> {
        let mut stream = client
            .pull_blob_stream(image, layer)
            .await
            .map_err(|e| Error::from_oci(reference, e))?;
        let max = usize::try_from(layer.size).unwrap_or(0);
        let mut archive = Vec::with_capacity(max);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::Registry {
                reference: reference.to_owned(),
                reason: format!("reading the bundle layer: {e}"),
            })?;
            if archive.len() + chunk.len() > max {
                return Err(Error::NotABundle {
                    reference: reference.to_owned(),
                    reason: format!(
                        "the registry sent more than the {max} bytes the manifest declares"
                    ),
                });
            }
            archive.extend_from_slice(&chunk);
        }
        let actual = sha256_digest(&archive);
        if actual != layer.digest {
            return Err(Error::Digest {
                reference: reference.to_owned(),
                what: "bundle layer".to_owned(),
                expected: layer.digest.clone(),
                actual,
            });
        }
        Ok(archive)
    }

    /// Signs the bundle at `reference` with cosign's layout: a signature
    /// manifest tagged `sha256-<digest>.sig` beside it. Returns the digest signed.
    pub async fn sign(
        &self,
        reference: &str,
        key: &crate::signing::SigningKey,
    ) -> Result<String, Error> {
        let target = parse_reference(reference)?;
        let digest = self.resolve(reference, PullPolicy::Always).await?;
        let client = self.client(&target);
        let auth = auth::for_registry(target.resolve_registry());
        cosign::push_signature(&client, &auth, &target, reference, &digest, key).await?;
        Ok(digest)
    }

    /// Checks that the bundle with `digest` at `reference` carries a cosign
    /// signature by `key`. Signatures are cached beside the bundle, so a
    /// cached, signed bundle verifies offline.
    pub async fn verify(
        &self,
        reference: &str,
        digest: &str,
        key: &customs::signing::VerifyingKey,
        pull: PullPolicy,
    ) -> Result<(), Error> {
        let target = parse_reference(reference)?;
        if pull != PullPolicy::Always
            && let Some(cache) = &self.cache
            && let Some(signatures) = cache.load_signatures(digest)?
            && cosign::check(&signatures, reference, digest, key).is_ok()
        {
            return Ok(());
        }
        if pull == PullPolicy::Never {
            return Err(Error::Unsigned {
                reference: reference.to_owned(),
                reason: "the cache holds no signature by this key, and --pull never forbids asking the registry".to_owned(),
            });
        }
        let client = self.client(&target);
        let auth = auth::for_registry(target.resolve_registry());
        let signatures =
            cosign::pull_signatures(&client, &auth, &target, reference, digest).await?;
        cosign::check(&signatures, reference, digest, key)?;
        if let Some(cache) = &self.cache {
            cache.store_signatures(digest, &signatures)?;
        }
        Ok(())
    }
}

/// Pushes an image manifest as exactly the bytes its digest is computed
/// from; returns (digest, bytes).
pub(crate) async fn push_manifest(
    client: &oci_client::Client,
    target: &Reference,
    reference: &str,
    manifest: &OciImageManifest,
) -> Result<(String, Vec<u8>), Error> {
    let body = serde_json::to_vec(manifest).map_err(|e| Error::Registry {
        reference: reference.to_owned(),
        reason: format!("cannot encode the manifest: {e}"),
    })?;
    client
        .push_manifest_raw(
            target,
            body.clone(),
            http::HeaderValue::from_static(OCI_IMAGE_MEDIA_TYPE),
        )
        .await
        .map_err(|e| Error::from_oci(reference, e))?;
    Ok((sha256_digest(&body), body))
}

/// The bundle layer of a customs artifact manifest, checked against `limits`.
fn bundle_layer(
    reference: &str,
    body: &[u8],
    limits: &customs::ArchiveLimits,
) -> Result<OciDescriptor, Error> {
    let not_a_bundle = |reason: String| Error::NotABundle {
        reference: reference.to_owned(),
        reason,
    };
    let manifest: OciImageManifest = serde_json::from_slice(body)
        .map_err(|e| not_a_bundle(format!("its manifest is not an OCI image manifest: {e}")))?;
    let mut layers = manifest
        .layers
        .into_iter()
        .filter(|l| l.media_type == customs::BUNDLE_MEDIA_TYPE);
    let layer = layers.next().ok_or_else(|| {
        not_a_bundle(format!(
            "it has no layer of media type {} (artifactType {:?})",
            customs::BUNDLE_MEDIA_TYPE,
            manifest.artifact_type.as_deref().unwrap_or("none")
        ))
    })?;
    if layers.next().is_some() {
        return Err(not_a_bundle("it has more than one bundle layer".to_owned()));
    }
    if layer.size < 0 || layer.size as u64 > limits.max_archive_bytes {
        return Err(not_a_bundle(format!(
            "its bundle layer is {} bytes, more than the limit of {}",
            layer.size, limits.max_archive_bytes
        )));
    }
    Ok(layer)
}

pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Where the cache lives by default: `$XDG_CACHE_HOME/customs/bundles`.
pub fn default_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("customs").join("bundles"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_their_registry() {
        assert!(parse_reference("oci://127.0.0.1:5000/policies/base:1").is_ok());
        assert!(parse_reference("localhost/p:1").is_ok());
        let error = parse_reference("oci://policies:1").unwrap_err().to_string();
        assert!(error.contains("name the registry"), "{error}");
    }

    #[test]
    fn loopback_registries_speak_plain_http() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example.com"));
        assert!(!is_loopback("127.0.0.1.example.com:5000"));
    }
}
