//! Facts from the image itself, not from reports about it: an OCI image
//! layout or a docker archive is read (index, manifest, config), its layers
//! streamed once each (never unpacked to disk, never whole in memory), and
//! the final filesystem described: installed packages from the apk and
//! dpkg databases, executables with their modes and owners, setuid/setgid
//! files, world-writable paths. Every blob is checked against its digest;
//! any error fails the whole read, so nothing partial is decided on.

mod blobs;
mod error;
mod layers;
mod packages;
mod rpm;
mod source;

use std::str::FromStr;

use customs_facts::import::{Format, Origin, import_as};
use customs_facts::{Executable, Facts, Files, OsInfo, Source};
use serde::Deserialize;

pub use blobs::layout_blob_path;
use blobs::{Blobs, LayoutDir, TarArchive};
pub use error::ImageError;
use layers::{Filesystem, Head, Kind};
pub use source::{ImageSource, Selector};

/// Bounds on the work of reading one image; every one has a default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ImageLimits {
    /// Most layers one image may have.
    pub max_layers: usize,
    /// Most tar entries across all layers.
    pub max_entries: u64,
    /// Most bytes the layers may decompress to, together.
    pub max_uncompressed_bytes: u64,
    /// Largest package database (or os-release) read.
    pub max_database_bytes: u64,
    /// Most bytes of package databases read in all (every layer's copy
    /// counts: `status.d` holds one file per package).
    pub max_kept_bytes: u64,
    /// Largest index, manifest or config.
    pub max_json_bytes: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        ImageLimits {
            max_layers: 256,
            max_entries: 1_000_000,
            max_uncompressed_bytes: 32 << 30,
            max_database_bytes: 64 << 20,
            max_kept_bytes: 256 << 20,
            max_json_bytes: 4 << 20,
        }
    }
}

impl ImageLimits {
    pub fn with_max_layers(mut self, n: usize) -> Self {
        self.max_layers = n;
        self
    }

    pub fn with_max_entries(mut self, n: u64) -> Self {
        self.max_entries = n;
        self
    }

    pub fn with_max_uncompressed_bytes(mut self, n: u64) -> Self {
        self.max_uncompressed_bytes = n;
        self
    }

    pub fn with_max_database_bytes(mut self, n: u64) -> Self {
        self.max_database_bytes = n;
        self
    }

    pub fn with_max_kept_bytes(mut self, n: u64) -> Self {
        self.max_kept_bytes = n;
        self
    }

    pub fn with_max_json_bytes(mut self, n: u64) -> Self {
        self.max_json_bytes = n;
        self
    }
}

/// `os/architecture[/variant]`, e.g. `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl FromStr for Platform {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split('/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: parts.get(2).map(|v| (*v).to_owned()),
            }),
            _ => Err(format!(
                "{text:?} is not a platform: use os/arch[/variant], e.g. linux/amd64"
            )),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match &self.variant {
            Some(v) => write!(f, "/{v}"),
            None => Ok(()),
        }
    }
}

/// How to read an image.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ReadOptions {
    /// Of a multi-platform index, read only this platform.
    pub platform: Option<Platform>,
    pub limits: ImageLimits,
    /// Set, the read stops at the next tar entry with an error: for a
    /// caller whose deadline passed while the layers are read.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl ReadOptions {
    pub fn platform(mut self, platform: Option<Platform>) -> Self {
        self.platform = platform;
        self
    }

    pub fn limits(mut self, limits: ImageLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn cancel(mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }
}

/// Reads an image's facts: one document per platform manifest it selects
/// (one for a single-platform image, or with `--platform`). A registry
/// image is read with `customs_registry`, which pulls it and calls
/// [`read_pulled`].
pub fn read(source: &ImageSource, options: &ReadOptions) -> Result<Vec<Facts>, ImageError> {
    match source {
        ImageSource::OciLayout { dir, .. } => read_layout(source, dir, options),
        ImageSource::DockerArchive { file, .. } => {
            let blobs = TarArchive::open(source.to_string(), file)?;
            let reader = Reader::new(&blobs, source, options);
            if blobs.open_path("index.json")?.is_some() {
                reader.read_index()
            } else {
                reader.read_legacy_archive()
            }
        }
        ImageSource::Registry { .. } => Err(ImageError::Source(format!(
            "{source}: an image in a registry is pulled first (customs_registry::Registry::read_image)"
        ))),
    }
}

/// Reads `source` from the OCI layout `dir` it was pulled into (a registry
/// image, its blobs checked on the way): the facts name `source`, not the
/// temporary directory.
pub fn read_pulled(
    source: &ImageSource,
    dir: &std::path::Path,
    options: &ReadOptions,
) -> Result<Vec<Facts>, ImageError> {
    read_layout(source, dir, options)
}

fn read_layout(
    source: &ImageSource,
    dir: &std::path::Path,
    options: &ReadOptions,
) -> Result<Vec<Facts>, ImageError> {
    let blobs = LayoutDir::open(source.to_string(), dir)?;
    if blobs.read_path("oci-layout", 4096)?.is_none() {
        return Err(ImageError::Invalid {
            image: blobs.image().to_owned(),
            message: "not an OCI image layout: it has no oci-layout file".to_owned(),
        });
    }
    Reader::new(&blobs, source, options).read_index()
}

/// The digests of the platform manifests an index's bytes list that a
/// read with `options` would read (attestation manifests left out; only
/// `--platform`'s when given): what a registry client has to fetch.
pub fn platform_manifests(
    image: &str,
    index: &[u8],
    options: &ReadOptions,
) -> Result<Vec<String>, ImageError> {
    let index: Index = serde_json::from_slice(index).map_err(|e| ImageError::Invalid {
        image: image.to_owned(),
        message: format!("its index is not valid: {e}"),
    })?;
    Ok(
        select_platforms(image, &index.manifests, options.platform.as_ref())?
            .into_iter()
            .map(|d| d.digest.clone())
            .collect(),
    )
}

/// Whether a manifest or index's bytes are an index (by media type, or by
/// shape when there is none).
pub fn is_index(media_type: Option<&str>, bytes: &[u8]) -> bool {
    match media_type {
        Some("application/vnd.oci.image.index.v1+json")
        | Some("application/vnd.docker.distribution.manifest.list.v2+json") => true,
        Some(_) => false,
        None => serde_json::from_slice::<serde_json::Value>(bytes)
            .is_ok_and(|v| v.get("manifests").is_some()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: Option<String>,
    digest: String,
    #[serde(default)]
    platform: Option<DescriptorPlatform>,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct DescriptorPlatform {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Manifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// `docker save`'s legacy `manifest.json`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LegacyEntry {
    config: String,
    #[serde(default)]
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

struct Reader<'a> {
    blobs: &'a dyn Blobs,
    source: &'a ImageSource,
    options: &'a ReadOptions,
}

impl<'a> Reader<'a> {
    fn new(blobs: &'a dyn Blobs, source: &'a ImageSource, options: &'a ReadOptions) -> Self {
        Reader {
            blobs,
            source,
            options,
        }
    }

    fn image(&self) -> String {
        self.blobs.image().to_owned()
    }

    fn invalid(&self, message: String) -> ImageError {
        ImageError::Invalid {
            image: self.image(),
            message,
        }
    }

    fn json<T: for<'de> Deserialize<'de>>(
        &self,
        what: &str,
        bytes: &[u8],
    ) -> Result<T, ImageError> {
        serde_json::from_slice(bytes).map_err(|e| self.invalid(format!("{what} is not valid: {e}")))
    }

    /// The layout's index.json, its image chosen by the selector.
    fn read_index(&self) -> Result<Vec<Facts>, ImageError> {
        let limit = self.options.limits.max_json_bytes;
        let bytes = self
            .blobs
            .read_path("index.json", limit)?
            .ok_or_else(|| self.invalid("it has no index.json".to_owned()))?;
        let index: Index = self.json("index.json", &bytes)?;
        let chosen = self.select(&index.manifests)?;
        let name = chosen
            .annotations
            .get(CONTAINERD_NAME)
            .or_else(|| chosen.annotations.get(REF_NAME))
            .cloned();
        let bytes = self.blobs.read_blob(&chosen.digest, limit)?;
        if is_index(chosen.media_type.as_deref(), &bytes) {
            let nested: Index = self.json(&format!("index {}", chosen.digest), &bytes)?;
            let manifests = select_platforms(
                &self.image(),
                &nested.manifests,
                self.options.platform.as_ref(),
            )?;
            manifests
                .into_iter()
                .map(|d| {
                    let bytes = self.blobs.read_blob(&d.digest, limit)?;
                    let mut facts = self.read_manifest(&d.digest, &bytes, name.as_deref())?;
                    facts.image.index_digest = Some(chosen.digest.clone());
                    Ok(facts)
                })
                .collect()
        } else {
            Ok(vec![self.read_manifest(
                &chosen.digest,
                &bytes,
                name.as_deref(),
            )?])
        }
    }

    /// The one image the selector names, or the only one.
    fn select<'d>(&self, manifests: &'d [Descriptor]) -> Result<&'d Descriptor, ImageError> {
        let names = || {
            manifests
                .iter()
                .map(|d| {
                    d.annotations
                        .get(REF_NAME)
                        .or_else(|| d.annotations.get(CONTAINERD_NAME))
                        .map_or_else(|| d.digest.clone(), |n| format!("{n} ({})", d.digest))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let found: Vec<&Descriptor> = match self.source.selector() {
            Some(Selector::Digest(digest)) => {
                manifests.iter().filter(|d| &d.digest == digest).collect()
            }
            Some(Selector::Tag(tag)) => manifests
                .iter()
                .filter(|d| {
                    d.annotations.get(REF_NAME).is_some_and(|n| n == tag)
                        || d.annotations
                            .get(CONTAINERD_NAME)
                            .is_some_and(|n| n == tag || n.ends_with(&format!(":{tag}")))
                })
                .collect(),
            None => manifests.iter().collect(),
        };
        match found.as_slice() {
            [one] => Ok(one),
            [] => Err(self.invalid(format!(
                "no image matches {}; it holds: {}",
                self.source
                    .selector()
                    .map_or("anything".to_owned(), |s| format!("{s:?}")),
                names()
            ))),
            _ => Err(self.invalid(format!(
                "it holds several images; name one (DIR:TAG or DIR@DIGEST): {}",
                names()
            ))),
        }
    }

    /// One platform's manifest (already checked against `digest`), its
    /// config and its layers.
    fn read_manifest(
        &self,
        digest: &str,
        bytes: &[u8],
        name: Option<&str>,
    ) -> Result<Facts, ImageError> {
        let origin = Origin::named(format!("{} manifest {digest}", self.image()));
        let mut facts = import_as(&origin, bytes, Format::OciManifest)?;
        let manifest: Manifest = self.json(&format!("manifest {digest}"), bytes)?;
        let config = self
            .blobs
            .read_blob(&manifest.config.digest, self.options.limits.max_json_bytes)?;
        let origin = Origin::named(format!(
            "{} config {}",
            self.image(),
            manifest.config.digest
        ));
        facts
            .merge(import_as(&origin, &config, Format::OciConfig)?)
            .map_err(|e| self.invalid(e.to_string()))?;
        if let Some(name) = name {
            name_image(&mut facts, name);
        }
        let layers: Vec<String> = manifest.layers.into_iter().map(|l| l.digest).collect();
        let diff_ids = self.diff_ids(&config)?;
        self.read_layers(facts, &layers, &diff_ids, |digest| {
            self.blobs.open_blob(digest)
        })
    }

    /// `docker save` without an OCI index: `manifest.json` names the config
    /// and the layer files; the registry manifest (and so its digest) is
    /// not in the archive.
    fn read_legacy_archive(&self) -> Result<Vec<Facts>, ImageError> {
        let limit = self.options.limits.max_json_bytes;
        let bytes = self
            .blobs
            .read_path("manifest.json", limit)?
            .ok_or_else(|| {
                self.invalid(
                    "not a docker archive: it has neither index.json nor manifest.json".to_owned(),
                )
            })?;
        let entries: Vec<LegacyEntry> = self.json("manifest.json", &bytes)?;
        let entry = match (self.source.selector(), entries.as_slice()) {
            (None, [one]) => one,
            (Some(Selector::Tag(tag)), _) => entries
                .iter()
                .find(|e| {
                    e.repo_tags
                        .iter()
                        .any(|t| t == tag || t.ends_with(&format!(":{tag}")))
                })
                .ok_or_else(|| self.invalid(format!("no image is tagged {tag:?}")))?,
            _ => {
                return Err(self.invalid(format!(
                    "it holds {} images; name one by tag (FILE:TAG)",
                    entries.len()
                )));
            }
        };
        let config = self
            .blobs
            .read_path(&entry.config, limit)?
            .ok_or_else(|| self.invalid(format!("its config {} is missing", entry.config)))?;
        let origin = Origin::named(format!("{} config {}", self.image(), entry.config));
        let mut facts = import_as(&origin, &config, Format::OciConfig)?;
        if let Some(tag) = entry.repo_tags.first() {
            name_image(&mut facts, tag);
        }
        let mut warnings = vec![
            "a docker archive without an OCI index: the image's manifest digest is not in it, so it is known by its config digest only".to_owned(),
        ];
        let layers = entry.layers.clone();
        let diff_ids = self.diff_ids(&config)?;
        let mut facts = self.read_layers(facts, &layers, &diff_ids, |path| {
            self.blobs
                .open_path(path)?
                .ok_or_else(|| self.invalid(format!("its layer {path} is missing")))
        })?;
        if let Some(source) = facts.sources.last_mut() {
            source.warnings.append(&mut warnings);
        }
        Ok(vec![facts])
    }

    /// The config's `rootfs.diff_ids`: what each layer must decompress to.
    fn diff_ids(&self, config: &[u8]) -> Result<Vec<String>, ImageError> {
        #[derive(Deserialize)]
        struct Config {
            rootfs: Rootfs,
        }
        #[derive(Deserialize)]
        struct Rootfs {
            diff_ids: Vec<String>,
        }
        let config: Config = self.json("the config's rootfs.diff_ids", config)?;
        Ok(config.rootfs.diff_ids)
    }

    /// Streams the layers in order and adds what the final filesystem
    /// holds. Each layer must decompress to its diff_id in the config, as a
    /// runtime checks when it unpacks: the config digest vouches for the
    /// layers only then.
    fn read_layers(
        &self,
        mut facts: Facts,
        layers: &[String],
        diff_ids: &[String],
        open: impl Fn(&str) -> Result<Box<dyn std::io::Read + 'a>, ImageError>,
    ) -> Result<Facts, ImageError> {
        let limits = &self.options.limits;
        if layers.len() > limits.max_layers {
            return Err(ImageError::Limit {
                image: self.image(),
                message: format!("{} layers, more than {}", layers.len(), limits.max_layers),
            });
        }
        if layers.len() != diff_ids.len() {
            return Err(self.invalid(format!(
                "the manifest lists {} layers and the config {} diff_ids",
                layers.len(),
                diff_ids.len()
            )));
        }
        let mut fs = Filesystem::default();
        fs.cancel = self.options.cancel.clone();
        let mut digests = Vec::with_capacity(layers.len());
        for (index, layer) in layers.iter().enumerate() {
            let blob = open(layer)?;
            // A legacy archive names layers by path: nothing to check them
            // against, so they are known by what their bytes hash to.
            let expected = layer.starts_with("sha256:").then_some(layer.as_str());
            let read = fs.apply_layer(&self.image(), layer, expected, index, blob, limits)?;
            let listed = diff_ids.get(index);
            if listed != Some(&read.diff_id) {
                return Err(self.invalid(format!(
                    "layer {index} ({layer}) decompresses to {}, but the config's diff_id for it is {}",
                    read.diff_id,
                    listed.map_or("missing", String::as_str)
                )));
            }
            digests.push(read.digest);
        }
        // The manifest and config were read as part of this one reading:
        // their warnings are its warnings, and it is the one source.
        let mut warnings: Vec<String> = std::mem::take(&mut facts.sources)
            .into_iter()
            .flat_map(|s| s.warnings)
            .collect();
        fs.settle_hard_links();
        describe(&self.image(), &fs, &digests, &mut facts, &mut warnings)?;
        facts.sources.push(Source {
            tool: "customs".to_owned(),
            tool_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            format: self.source.format().to_owned(),
            scanned_at: None,
            file: Some(self.source.to_string()),
            warnings,
        });
        facts.normalize();
        Ok(facts)
    }
}

/// The platform manifests of an index, without attestation manifests;
/// only `wanted`'s when given.
fn select_platforms<'d>(
    image: &str,
    manifests: &'d [Descriptor],
    wanted: Option<&Platform>,
) -> Result<Vec<&'d Descriptor>, ImageError> {
    let images: Vec<&Descriptor> = manifests
        .iter()
        .filter(|d| !d.annotations.contains_key("vnd.docker.reference.type"))
        .filter(|d| d.platform.as_ref().is_none_or(|p| p.os != "unknown"))
        .collect();
    let Some(wanted) = wanted else {
        return Ok(images);
    };
    let chosen: Vec<&Descriptor> = images
        .iter()
        .copied()
        .filter(|d| {
            d.platform.as_ref().is_some_and(|p| {
                p.os == wanted.os
                    && p.architecture == wanted.architecture
                    && (wanted.variant.is_none() || p.variant == wanted.variant)
            })
        })
        .collect();
    if chosen.is_empty() {
        let have: Vec<String> = images
            .iter()
            .filter_map(|d| d.platform.as_ref())
            .map(|p| match &p.variant {
                Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                None => format!("{}/{}", p.os, p.architecture),
            })
            .collect();
        return Err(ImageError::Invalid {
            image: image.to_owned(),
            message: format!(
                "the index has no {wanted} image; it has {}",
                have.join(", ")
            ),
        });
    }
    Ok(chosen)
}

/// A full reference (`registry/repo:tag`) or a bare tag, as layouts record them.
fn name_image(facts: &mut Facts, name: &str) {
    if name.contains('/') || name.contains(':') {
        facts.image.reference.get_or_insert_with(|| name.to_owned());
    } else {
        facts.image.tag.get_or_insert_with(|| name.to_owned());
    }
}

/// Packages, files and the OS from the final filesystem.
fn describe(
    image: &str,
    fs: &Filesystem,
    layers: &[String],
    facts: &mut Facts,
    warnings: &mut Vec<String>,
) -> Result<(), ImageError> {
    // Known by where they land: `lib/apk/...` is in `usr/lib/apk/...` when
    // `lib` links to `usr/lib`.
    let kept = |path: &str| fs.kept.get(&fs.real_path(path, true));
    let text = |path: &str| kept(path).map(|b| String::from_utf8_lossy(b).into_owned());
    // A package database (or os-release) that is a link to a file whose
    // contents were not read would go unread: refused, as the package
    // manager reads it through the link.
    let unread = |path: &str, real: &str| ImageError::Invalid {
        image: image.to_owned(),
        message: format!(
            "its /{path} links to /{real}, whose contents customs does not read: refused rather than left unread"
        ),
    };
    let is_unread = |real: &str| {
        matches!(
            fs.entries.get(real).map(|e| &e.kind),
            Some(Kind::File { .. })
        ) && !fs.kept.contains_key(real)
    };
    for path in [
        "etc/os-release",
        "usr/lib/os-release",
        "lib/apk/db/installed",
        "var/lib/dpkg/status",
        layers::RPM_SQLITE,
        layers::RPM_SQLITE_LEGACY,
    ] {
        let real = fs.real_path(path, true);
        if is_unread(&real) {
            return Err(unread(path, &real));
        }
    }
    let os = text("etc/os-release")
        .or_else(|| text("usr/lib/os-release"))
        .map(|t| packages::os_release(&t))
        .unwrap_or_default();
    if let (Some(family), Some(version)) = (&os.id, &os.version_id) {
        let base = facts.base.get_or_insert_with(Default::default);
        base.os.get_or_insert_with(|| OsInfo {
            family: family.to_ascii_lowercase(),
            version: version.clone(),
            eol: None,
            eosl: None,
        });
    }

    let mut found = None::<Vec<customs_facts::Package>>;
    if let Some(db) = text("lib/apk/db/installed") {
        found
            .get_or_insert_with(Vec::new)
            .extend(packages::apk(&db, &os));
    }
    // dpkg's status, then distroless's status.d/NAME files (each one
    // package), wherever their links lead.
    let mut dpkg_files = vec![fs.real_path("var/lib/dpkg/status", true)];
    let status_d = fs.real_path("var/lib/dpkg/status.d", true);
    let prefix = layers::dir_prefix(&status_d);
    for (path, entry) in fs.entries.range(prefix.clone()..) {
        let Some(name) = path.strip_prefix(&prefix) else {
            break;
        };
        if name.is_empty() || name.contains('/') || name.ends_with(".md5sums") {
            continue;
        }
        let real = match entry.kind {
            Kind::Symlink(_) => fs.real_path(path, true),
            _ => path.clone(),
        };
        if is_unread(&real) {
            return Err(unread(&format!("var/lib/dpkg/status.d/{name}"), &real));
        }
        dpkg_files.push(real);
    }
    let mut read_once = std::collections::BTreeSet::new();
    for path in dpkg_files.iter().filter(|p| read_once.insert(p.as_str())) {
        if let Some(bytes) = fs.kept.get(path) {
            let db = String::from_utf8_lossy(bytes);
            found
                .get_or_insert_with(Vec::new)
                .extend(packages::dpkg(&db, &os));
        }
    }
    let rpm_sqlite = [layers::RPM_SQLITE, layers::RPM_SQLITE_LEGACY]
        .iter()
        .find_map(|path| kept(path).map(|db| (*path, db)));
    let mut rpm_unread = false;
    // Fedora links /var/lib/rpm to /usr/lib/sysimage/rpm: one database.
    if [layers::RPM_SQLITE, layers::RPM_SQLITE_LEGACY]
        .iter()
        .all(|path| kept(path).is_some())
        && fs.real_path(layers::RPM_SQLITE, true) != fs.real_path(layers::RPM_SQLITE_LEGACY, true)
    {
        warnings.push(format!(
            "the image has two rpm databases; /{} was read, /{} was not",
            layers::RPM_SQLITE,
            layers::RPM_SQLITE_LEGACY
        ));
    }
    if let Some((path, db)) = rpm_sqlite {
        // rpm writes through a write-ahead log; what is still only in it is
        // not in the database file read here.
        if fs
            .entries
            .get(&fs.real_path(&format!("{path}-wal"), true))
            .is_some_and(|e| matches!(e.kind, Kind::File { size, .. } if size > 0))
        {
            warnings.push(format!(
                "/{path}-wal holds rpm transactions not yet written to the database: packages they installed or removed are not reflected"
            ));
        }
        let packages = rpm::sqlite(db, &os).map_err(|message| ImageError::Invalid {
            image: image.to_owned(),
            message: format!("its rpm database /{path}: {message}"),
        })?;
        found.get_or_insert_with(Vec::new).extend(packages);
    } else if let Some(path) = [
        "var/lib/rpm/Packages",
        "var/lib/rpm/Packages.db",
        "usr/lib/sysimage/rpm/Packages",
        "usr/lib/sysimage/rpm/Packages.db",
    ]
    .iter()
    .find(|path| fs.entries.contains_key(&fs.real_path(path, true)))
    {
        // Berkeley DB (`Packages`, RHEL 8 and older) and ndb (`Packages.db`, SUSE).
        rpm_unread = true;
        warnings.push(format!(
            "the image has an rpm database /{path} that is not sqlite (Berkeley DB or ndb), which customs does not read: its rpm packages are not listed"
        ));
    }
    if let Some(packages) = found {
        let list = facts.packages.get_or_insert_with(Vec::new);
        list.extend(packages);
    } else if !rpm_unread {
        warnings.push(
            "no package database (apk, dpkg, rpm sqlite) in the image: installed packages are unknown"
                .to_owned(),
        );
    }

    let layer_digest = |index: usize| layers.get(index).cloned();
    let mut files = Files::default();
    for (path, entry) in &fs.entries {
        match &entry.kind {
            Kind::File { head, .. } => {
                files.file_count += 1;
                // A hard link is the file itself: no name of it is a link
                // to be judged by another (that one may be gone).
                if let Some(executable) =
                    executable(path, entry, head.as_ref(), None, &layer_digest)
                {
                    files.executables.push(executable);
                }
            }
            Kind::Symlink(_) => {
                if let Some((target, target_entry)) = layers::resolve(&fs.entries, path)
                    && let Kind::File { head, .. } = &target_entry.kind
                    && let Some(mut executable) = executable(
                        path,
                        target_entry,
                        head.as_ref(),
                        Some(format!("/{target}")),
                        &layer_digest,
                    )
                {
                    executable.layer = layer_digest(entry.layer);
                    files.executables.push(executable);
                }
            }
            // Hard links were applied as the files they link to.
            Kind::Dir | Kind::Hardlink(_) | Kind::Other => {}
        }
        let sticky_dir = matches!(entry.kind, Kind::Dir) && entry.mode & 0o1000 != 0;
        if !matches!(entry.kind, Kind::Symlink(_)) && entry.mode & 0o002 != 0 && !sticky_dir {
            files.world_writable.push(format!("/{path}"));
        }
    }
    facts.files = Some(files);
    Ok(())
}

fn executable(
    path: &str,
    entry: &layers::Entry,
    head: Option<&Head>,
    link_target: Option<String>,
    layer_digest: &dyn Fn(usize) -> Option<String>,
) -> Option<Executable> {
    let Kind::File { size, .. } = entry.kind else {
        return None;
    };
    if entry.mode & 0o111 == 0 {
        return None;
    }
    let (kind, interpreter) = match head? {
        Head::Elf => ("elf", None),
        Head::Script { interpreter } => ("script", Some(interpreter.clone())),
        Head::Other => return None,
    };
    Some(Executable {
        path: format!("/{path}"),
        name: path.rsplit('/').next().unwrap_or(path).to_owned(),
        kind: kind.to_owned(),
        size,
        mode: entry.mode & 0o7777,
        uid: entry.uid,
        gid: entry.gid,
        setuid: entry.mode & 0o4000 != 0,
        setgid: entry.mode & 0o2000 != 0,
        link_target,
        interpreter,
        layer: layer_digest(entry.layer),
    })
}
