//! Container images in registries, read by customs itself: the reference
//! resolves to a digest once, the manifest (or index and the platform
//! manifests a read needs), configs and layers are pulled into a temporary
//! OCI layout (compressed blobs only, each checked against its digest as it
//! streams in) and read there by `customs-image`. Beside the image, the
//! signatures, attestations, SBOMs and VEX documents stored for it are
//! found by the OCI 1.1 referrers API (or its tag-schema fallback) and by
//! the tags cosign writes (`sha256-<hex>.sig`, `.att`, `.sbom`), and
//! returned as [`Evidence`]: the caller imports them and checks the
//! signatures with its trust material. Nothing found there is believed
//! because it is there.

use std::io::Write;
use std::path::Path;

use customs_facts::Facts;
use customs_image::{ImageSource, ReadOptions};
use futures_util::StreamExt;
use oci_client::Reference;
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use sha2::{Digest, Sha256};

use crate::{Error, PullPolicy, Registry, auth, parse_reference, sha256_digest};

/// The manifest media types an image read accepts.
const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];
/// Most referrers read per subject digest; more are reported, not read.
const MAX_REFERRERS: usize = 64;
/// Most layers read of one referrer manifest.
const MAX_LAYERS_PER_REFERRER: usize = 32;
/// Largest signature, attestation, SBOM or VEX blob read from beside an image.
const MAX_EVIDENCE_BYTES: u64 = 32 << 20;
/// Most bytes of documents read from beside one image, all referrers together.
const MAX_EVIDENCE_TOTAL_BYTES: u64 = 128 << 20;
/// Most platform manifests of one index read.
const MAX_PLATFORMS: usize = 64;

/// An image read from a registry.
#[derive(Debug)]
#[non_exhaustive]
pub struct RegistryImage {
    /// The digest the reference resolved to (an index or a manifest):
    /// what was read, whatever the tag points to later.
    pub digest: String,
    /// `registry/repository@digest`.
    pub pinned: String,
    /// One facts document per platform manifest read.
    pub facts: Vec<Facts>,
    /// What the registry stores beside the image, unverified.
    pub evidence: Vec<Evidence>,
}

/// A document found beside an image: where it was found, and its bytes
/// (checked against the digest the registry listed it by).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Evidence {
    /// A document to import as an input is: an SBOM, a VEX document, a
    /// DSSE envelope, a Sigstore bundle, a cosign simple-signing payload.
    Document {
        /// The digest it is attached to.
        subject: String,
        /// `REGISTRY/REPO@REFERRER-DIGEST layer LAYER-DIGEST`.
        origin: String,
        media_type: String,
        bytes: Vec<u8>,
    },
    /// A cosign signature manifest: its layers' annotations carry the
    /// signatures (and keyless certificates) of the payload documents.
    CosignSignatures {
        subject: String,
        origin: String,
        manifest: Vec<u8>,
    },
    /// A Notation signature envelope (JWS or COSE).
    NotationEnvelope {
        subject: String,
        origin: String,
        media_type: String,
        bytes: Vec<u8>,
    },
}

impl Registry {
    /// Reads the image at `reference` (`oci://` optional): resolves it once,
    /// pulls what `options` selects into a temporary layout (removed after),
    /// reads its facts, and collects what is stored beside it. Referrers
    /// that cannot be listed or read are warnings in the facts' sources,
    /// never errors: a missing signature is the policies' to judge.
    pub async fn read_image(
        &self,
        reference: &str,
        options: &ReadOptions,
    ) -> Result<RegistryImage, Error> {
        let target = parse_reference(reference)?;
        let digest = self.resolve(reference, PullPolicy::Always).await?;
        let client = self.client(&target);
        let auth = auth::for_registry(target.resolve_registry());
        let pull = Pull {
            client: &client,
            auth: &auth,
            target: &target,
            reference,
            max_json: options.limits.max_json_bytes,
            evidence_read: std::sync::atomic::AtomicU64::new(0),
            evidence_seen: std::sync::Mutex::new(std::collections::HashSet::new()),
        };
        let dir =
            tempfile::tempdir().map_err(|e| pull.failed(format!("a temporary directory: {e}")))?;
        let layout = dir.path();
        let (top, media_type) = pull.manifest(&digest, layout).await?;
        let name = format!("{}/{}", target.resolve_registry(), target.repository());
        let mut subjects = vec![digest.clone()];
        let manifests = if customs_image::is_index(media_type.as_deref(), &top) {
            let mut platforms = customs_image::platform_manifests(&name, &top, options)?;
            platforms.dedup();
            if platforms.len() > MAX_PLATFORMS {
                return Err(pull.failed(format!(
                    "the index lists {} platform manifests, more than {MAX_PLATFORMS}",
                    platforms.len()
                )));
            }
            let mut manifests = Vec::new();
            for platform in platforms {
                let (bytes, _) = pull.manifest(&platform, layout).await?;
                subjects.push(platform);
                manifests.push(bytes);
            }
            manifests
        } else {
            vec![top.clone()]
        };
        // Everything the manifests declare, against one budget, before a
        // byte of it is fetched.
        let parsed = manifests
            .iter()
            .map(|m| {
                serde_json::from_slice::<OciImageManifest>(m)
                    .map_err(|e| pull.failed(format!("a manifest is not an image manifest: {e}")))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let declared: u64 = parsed
            .iter()
            .flat_map(|m| m.layers.iter().chain(std::iter::once(&m.config)))
            .map(|d| u64::try_from(d.size).unwrap_or(u64::MAX))
            .fold(0u64, u64::saturating_add);
        if declared > options.limits.max_uncompressed_bytes {
            return Err(pull.failed(format!(
                "the image's blobs add up to {declared} bytes, more than the limit of {}",
                options.limits.max_uncompressed_bytes
            )));
        }
        for manifest in &parsed {
            pull.image_blobs(manifest, options, layout).await?;
        }
        write_layout(layout, &digest, media_type.as_deref(), top.len(), reference)
            .map_err(|e| pull.failed(format!("writing the temporary layout: {e}")))?;
        let source = ImageSource::Registry {
            reference: reference.trim_start_matches("oci://").to_owned(),
        };
        // Decompressing and reading the layers is seconds of CPU: off the
        // async workers, which a server needs for its other requests.
        let (layout_path, read_options) = (layout.to_path_buf(), options.clone());
        let mut facts = tokio::task::spawn_blocking(move || {
            customs_image::read_pulled(&source, &layout_path, &read_options)
        })
        .await
        .map_err(|e| pull.failed(format!("reading the layers stopped: {e}")))??;

        let mut evidence = Vec::new();
        let mut warnings = Vec::new();
        for subject in &subjects {
            pull.referrers(subject, &mut evidence, &mut warnings).await;
        }
        for document in &mut facts {
            if let Some(source) = document
                .sources
                .iter_mut()
                .rev()
                .find(|s| s.tool == "customs")
            {
                source.warnings.extend(warnings.iter().cloned());
            }
        }
        Ok(RegistryImage {
            pinned: format!("{name}@{digest}"),
            digest,
            facts,
            evidence,
        })
    }
}

/// One image read's connection, for its requests.
struct Pull<'a> {
    client: &'a oci_client::Client,
    auth: &'a RegistryAuth,
    target: &'a Reference,
    reference: &'a str,
    max_json: u64,
    /// Bytes of documents read from beside the image so far, and their digests.
    evidence_read: std::sync::atomic::AtomicU64,
    evidence_seen: std::sync::Mutex<std::collections::HashSet<(String, String)>>,
}

impl Pull<'_> {
    fn failed(&self, reason: String) -> Error {
        Error::Registry {
            reference: self.reference.to_owned(),
            reason,
        }
    }

    fn at(&self, digest: &str) -> Reference {
        self.target.clone_with_digest(digest.to_owned())
    }

    /// A manifest or index by digest, checked and stored in the layout;
    /// returns its bytes and media type.
    async fn manifest(
        &self,
        digest: &str,
        layout: &Path,
    ) -> Result<(Vec<u8>, Option<String>), Error> {
        let bytes = self.manifest_bytes(&self.at(digest), Some(digest)).await?;
        store(layout, digest, &bytes).map_err(|e| self.failed(format!("storing {digest}: {e}")))?;
        let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("mediaType")?.as_str().map(str::to_owned));
        Ok((bytes, media_type))
    }

    /// A manifest's bytes, bounded, and checked against `digest` when the
    /// request named one.
    async fn manifest_bytes(&self, at: &Reference, digest: Option<&str>) -> Result<Vec<u8>, Error> {
        let what = at.whole();
        let (body, _) = self
            .client
            .pull_manifest_raw(at, self.auth, MANIFEST_TYPES)
            .await
            .map_err(|e| Error::from_oci(&what, e))?;
        if body.len() as u64 > self.max_json {
            return Err(self.failed(format!(
                "{what}: the manifest is {} bytes, more than {}",
                body.len(),
                self.max_json
            )));
        }
        if let Some(expected) = digest {
            let actual = sha256_digest(&body);
            if actual != expected {
                return Err(Error::Digest {
                    reference: what,
                    what: "manifest".to_owned(),
                    expected: expected.to_owned(),
                    actual,
                });
            }
        }
        Ok(body.to_vec())
    }

    /// The config and layers of one platform manifest, into the layout.
    async fn image_blobs(
        &self,
        manifest: &OciImageManifest,
        options: &ReadOptions,
        layout: &Path,
    ) -> Result<(), Error> {
        let limits = &options.limits;
        if manifest.layers.len() > limits.max_layers {
            return Err(self.failed(format!(
                "{} layers, more than {}",
                manifest.layers.len(),
                limits.max_layers
            )));
        }
        self.blob_to_file(&manifest.config, self.max_json, layout)
            .await?;
        for layer in &manifest.layers {
            self.blob_to_file(layer, limits.max_uncompressed_bytes, layout)
                .await?;
        }
        Ok(())
    }

    /// Streams a blob into the layout, never more than its descriptor's
    /// size (at most `max`), checked against its digest.
    async fn blob_to_file(
        &self,
        descriptor: &OciDescriptor,
        max: u64,
        layout: &Path,
    ) -> Result<(), Error> {
        let path = blob_path(layout, &descriptor.digest).ok_or_else(|| {
            self.failed(format!("{:?} is not a sha256 digest", descriptor.digest))
        })?;
        if path.exists() {
            return Ok(());
        }
        let size = u64::try_from(descriptor.size).unwrap_or(u64::MAX);
        if size > max {
            return Err(self.failed(format!(
                "blob {} is {} bytes, more than the limit of {max}",
                descriptor.digest, descriptor.size
            )));
        }
        let io = |e: std::io::Error| self.failed(format!("storing {}: {e}", descriptor.digest));
        let partial = path.with_extension("partial");
        let mut file = std::fs::File::create(&partial).map_err(io)?;
        self.stream_checked(descriptor, size, "blob", |chunk| {
            file.write_all(chunk).map_err(io)
        })
        .await?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&partial, &path).map_err(io)
    }

    /// Streams a blob from the registry (never a foreign URL) into `sink`:
    /// no more than `size` bytes, and their digest must be the descriptor's.
    async fn stream_checked(
        &self,
        descriptor: &OciDescriptor,
        size: u64,
        what: &str,
        mut sink: impl FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut stream = self
            .client
            .pull_blob_stream(&self.at(&descriptor.digest), &from_registry(descriptor))
            .await
            .map_err(|e| Error::from_oci(self.reference, e))?;
        let mut hasher = Sha256::new();
        let mut read = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|e| self.failed(format!("reading {what} {}: {e}", descriptor.digest)))?;
            read += chunk.len() as u64;
            if read > size {
                return Err(self.failed(format!(
                    "the registry sent more of {what} {} than the {size} bytes its descriptor declares",
                    descriptor.digest
                )));
            }
            hasher.update(&chunk);
            sink(&chunk)?;
        }
        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
        if actual != descriptor.digest {
            return Err(Error::Digest {
                reference: self.reference.to_owned(),
                what: what.to_owned(),
                expected: descriptor.digest.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// What is stored beside `subject`: its OCI referrers, then cosign's tags.
    async fn referrers(
        &self,
        subject: &str,
        evidence: &mut Vec<Evidence>,
        warnings: &mut Vec<String>,
    ) {
        match self.client.pull_referrers(&self.at(subject), None).await {
            Ok(index) => {
                if index.manifests.len() > MAX_REFERRERS {
                    warnings.push(format!(
                        "{subject} has {} referrers; only the first {MAX_REFERRERS} were read",
                        index.manifests.len()
                    ));
                }
                for entry in index.manifests.iter().take(MAX_REFERRERS) {
                    let at = self.at(&entry.digest);
                    match self.manifest_bytes(&at, Some(&entry.digest)).await {
                        Ok(bytes) => {
                            self.referrer(
                                subject,
                                &at.whole(),
                                &bytes,
                                Found::Listed,
                                evidence,
                                warnings,
                            )
                            .await
                        }
                        Err(e) => warnings.push(format!("a referrer of {subject}: {e}")),
                    }
                }
            }
            Err(e) => warnings.push(format!(
                "the referrers of {subject} could not be listed: {}",
                Error::from_oci(self.reference, e)
            )),
        }
        for suffix in ["sig", "att", "sbom"] {
            let tag = format!("{}.{suffix}", subject.replacen(':', "-", 1));
            let at = Reference::with_tag(
                self.target.registry().to_owned(),
                self.target.repository().to_owned(),
                tag,
            );
            match self.manifest_bytes(&at, None).await {
                Ok(bytes) => {
                    let origin = format!("{}@{}", at.whole(), sha256_digest(&bytes));
                    let found = if suffix == "sig" {
                        Found::CosignSignatureTag
                    } else {
                        Found::CosignTag
                    };
                    self.referrer(subject, &origin, &bytes, found, evidence, warnings)
                        .await
                }
                Err(Error::NotFound { .. }) => {}
                Err(e) => warnings.push(format!("cosign's {suffix} tag of {subject}: {e}")),
            }
        }
    }

    /// One referrer manifest: its layers that are documents customs reads.
    async fn referrer(
        &self,
        subject: &str,
        origin: &str,
        manifest: &[u8],
        found: Found,
        evidence: &mut Vec<Evidence>,
        warnings: &mut Vec<String>,
    ) {
        let parsed: OciImageManifest = match serde_json::from_slice(manifest) {
            Ok(parsed) => parsed,
            Err(e) => {
                warnings.push(format!("{origin}: not an image manifest, not read: {e}"));
                return;
            }
        };
        // A referrer says what it refers to; listed under another digest
        // (a tag-schema index anyone can push), it is not about this image.
        if found == Found::Listed
            && parsed.subject.as_ref().map(|s| s.digest.as_str()) != Some(subject)
        {
            warnings.push(format!(
                "{origin}: listed as a referrer of {subject} but its subject is {}: not read",
                parsed
                    .subject
                    .as_ref()
                    .map_or("missing", |s| s.digest.as_str())
            ));
            return;
        }
        let cosign_signature = found == Found::CosignSignatureTag;
        let artifact_type = parsed
            .artifact_type
            .clone()
            .unwrap_or_else(|| parsed.config.media_type.clone());
        let is_notation = artifact_type == NOTATION_SIGNATURE;
        let signs = cosign_signature
            || parsed
                .layers
                .iter()
                .any(|l| l.media_type == COSIGN_SIMPLE_SIGNING);
        if signs {
            evidence.push(Evidence::CosignSignatures {
                subject: subject.to_owned(),
                origin: origin.to_owned(),
                manifest: manifest.to_vec(),
            });
        }
        if parsed.layers.len() > MAX_LAYERS_PER_REFERRER {
            warnings.push(format!(
                "{origin}: {} layers; only the first {MAX_LAYERS_PER_REFERRER} were read",
                parsed.layers.len()
            ));
        }
        for layer in parsed.layers.iter().take(MAX_LAYERS_PER_REFERRER) {
            let kind = layer_kind(&layer.media_type, is_notation);
            if kind == LayerKind::Unread {
                warnings.push(format!(
                    "{origin}: a layer of media type {:?} (artifact type {artifact_type:?}) is not a document customs reads",
                    layer.media_type
                ));
                continue;
            }
            // The same document attached twice to one subject is read once.
            let first = self
                .evidence_seen
                .lock()
                .map(|mut seen| seen.insert((subject.to_owned(), layer.digest.clone())))
                .unwrap_or(true);
            if !first {
                continue;
            }
            let bytes = match self.evidence_blob(layer).await {
                Ok(bytes) => bytes,
                Err(e) => {
                    warnings.push(format!("{origin}: layer {}: {e}", layer.digest));
                    continue;
                }
            };
            let origin = format!("{origin} layer {}", layer.digest);
            evidence.push(match kind {
                LayerKind::Notation => Evidence::NotationEnvelope {
                    subject: subject.to_owned(),
                    origin,
                    media_type: layer.media_type.clone(),
                    bytes,
                },
                _ => Evidence::Document {
                    subject: subject.to_owned(),
                    origin,
                    media_type: layer.media_type.clone(),
                    bytes,
                },
            });
        }
    }

    /// A referrer's layer, bounded and checked against its digest.
    async fn evidence_blob(&self, layer: &OciDescriptor) -> Result<Vec<u8>, Error> {
        let size = u64::try_from(layer.size).unwrap_or(u64::MAX);
        if size > MAX_EVIDENCE_BYTES {
            return Err(self.failed(format!(
                "{} bytes, more than the {MAX_EVIDENCE_BYTES} read beside an image",
                layer.size
            )));
        }
        use std::sync::atomic::Ordering;
        let total = self
            .evidence_read
            .load(Ordering::Relaxed)
            .saturating_add(size);
        if total > MAX_EVIDENCE_TOTAL_BYTES {
            return Err(self.failed(format!(
                "the documents beside the image add up to more than {MAX_EVIDENCE_TOTAL_BYTES} bytes: not read"
            )));
        }
        self.evidence_read.store(total, Ordering::Relaxed);
        let mut bytes = Vec::new();
        self.stream_checked(layer, size, "referrer layer", |chunk| {
            bytes.extend_from_slice(chunk);
            Ok(())
        })
        .await?;
        Ok(bytes)
    }
}

/// The descriptor without `urls`: a blob is fetched from the registry only,
/// never from a foreign-layer URL a manifest names (any host, plain HTTP).
fn from_registry(descriptor: &OciDescriptor) -> OciDescriptor {
    OciDescriptor {
        urls: None,
        ..descriptor.clone()
    }
}

const COSIGN_SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const NOTATION_SIGNATURE: &str = "application/vnd.cncf.notary.signature";

/// How a referrer manifest was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// Listed by the referrers API or its tag-schema index: its `subject`
    /// must name the digest it was listed for.
    Listed,
    /// cosign's `sha256-<hex>.sig` tag: a signature manifest.
    CosignSignatureTag,
    /// cosign's `.att` or `.sbom` tag.
    CosignTag,
}

#[derive(Debug, PartialEq, Eq)]
enum LayerKind {
    Document,
    Notation,
    Unread,
}

/// What a referrer layer is, by its media type.
fn layer_kind(media_type: &str, notation: bool) -> LayerKind {
    // Parameters (`;version=0.3`) do not change what the document is.
    let base = media_type.split(';').next().unwrap_or_default().trim();
    match base {
        "application/jose+json" | "application/cose" if notation => LayerKind::Notation,
        COSIGN_SIMPLE_SIGNING
        | "application/vnd.dsse.envelope.v1+json"
        | "application/vnd.dev.sigstore.bundle+json"
        | "application/vnd.dev.sigstore.bundle.v0.3+json"
        | "application/spdx+json"
        | "text/spdx+json"
        | "application/vnd.cyclonedx+json"
        | "application/vnd.openvex+json"
        | "application/vnd.syft+json" => LayerKind::Document,
        _ => LayerKind::Unread,
    }
}

/// `layout/blobs/sha256/HEX` for a well-formed sha256 digest only.
fn blob_path(layout: &Path, digest: &str) -> Option<std::path::PathBuf> {
    customs_image::layout_blob_path(digest).map(|relative| layout.join(relative))
}

fn store(layout: &Path, digest: &str, bytes: &[u8]) -> std::io::Result<()> {
    let path = blob_path(layout, digest).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a sha256 digest")
    })?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes)
}

/// `oci-layout` and an `index.json` naming the one image read, by the
/// reference it was asked for.
fn write_layout(
    layout: &Path,
    digest: &str,
    media_type: Option<&str>,
    size: usize,
    reference: &str,
) -> std::io::Result<()> {
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    let mut entry = serde_json::json!({
        "digest": digest,
        "size": size,
        "annotations": {
            "org.opencontainers.image.ref.name": reference.trim_start_matches("oci://"),
        },
    });
    if let Some(media_type) = media_type {
        entry["mediaType"] = media_type.into();
    }
    let index = serde_json::json!({ "schemaVersion": 2, "manifests": [entry] });
    std::fs::write(layout.join("index.json"), index.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrer_layers_are_read_by_media_type() {
        assert_eq!(
            layer_kind(
                "application/vnd.dev.sigstore.bundle+json;version=0.3",
                false
            ),
            LayerKind::Document
        );
        assert_eq!(
            layer_kind("application/jose+json", true),
            LayerKind::Notation
        );
        assert_eq!(
            layer_kind("application/jose+json", false),
            LayerKind::Unread
        );
        assert_eq!(
            layer_kind("application/vnd.oci.image.layer.v1.tar+gzip", false),
            LayerKind::Unread
        );
    }

    #[test]
    fn blob_paths_take_only_sha256_digests() {
        let layout = Path::new("/l");
        assert!(blob_path(layout, &format!("sha256:{}", "a".repeat(64))).is_some());
        assert!(blob_path(layout, "sha256:../../etc").is_none());
        assert!(blob_path(layout, &format!("sha512:{}", "a".repeat(64))).is_none());
    }
}
