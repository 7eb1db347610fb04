//! Reading the command's inputs: files or stdin, imported and merged into one facts document.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use customs_facts::Facts;
use customs_facts::import::{Format, Origin, detect, import_as};
use customs_verify::cosign;
use customs_verify::evidence::{Detached, SignedInput};

/// Inputs larger than this are refused rather than read into memory.
const MAX_INPUT_BYTES: u64 = 1 << 30;

pub fn parse_format(name: &str) -> Result<Format, String> {
    Format::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        format!(
            "unknown format {name:?}; known formats: {}",
            known.join(", ")
        )
    })
}

/// Imports every input and merges them into one facts document per image
/// platform (one, unless an image source is a multi-platform index read
/// without `--platform`); importer warnings go to stderr. With trust
/// material, the signatures and attestations among the inputs (and those a
/// registry stores beside an `oci://` image) are checked by customs itself,
/// and those that verify are added as `trust: verified` (crate::trust).
pub fn load(
    paths: &[PathBuf],
    format: Option<Format>,
    platform: Option<&customs_image::Platform>,
    trust: &crate::trust::TrustArgs,
    now: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Vec<Facts>> {
    if paths.iter().filter(|p| is_stdin(p)).count() > 1 {
        bail!("standard input (-) can be named only once");
    }
    let mut reports = Vec::with_capacity(paths.len());
    let mut signed_inputs = Vec::new();
    let mut image: Option<ReadImage> = None;
    for path in paths {
        if let Some(text) = path.to_str()
            && customs_image::ImageSource::is_source(text)
        {
            if image.is_some() {
                bail!("{text}: name one image source per run (each is its own image)");
            }
            image = Some(read_image(text, platform)?);
            continue;
        }
        let (origin, bytes) = read(path)?;
        let format = match format {
            Some(format) => format,
            None => detect(&origin, &bytes)?,
        };
        reports.push(import_as(&origin, &bytes, format)?);
        if customs_verify::evidence::is_signed_input(format) {
            signed_inputs.push((origin, format, bytes));
        }
    }
    let Some(image) = image else {
        let mut facts = Facts::merge_all(reports)?;
        crate::trust::verify_inputs(
            trust,
            &signed_inputs,
            &Detached::default(),
            &mut facts,
            now,
            None,
        )?;
        print_warnings(&facts);
        return Ok(vec![facts]);
    };
    if image.platforms.len() > 1 && !reports.is_empty() {
        bail!(
            "{}: a multi-platform index ({}) with other inputs, which each describe one platform's image: choose it with --platform",
            image.source,
            image.platform_names().join(", ")
        );
    }
    let index = image.index_digest.as_deref();
    let mut all = Vec::with_capacity(image.platforms.len());
    for platform_facts in &image.platforms {
        let digest = platform_facts.image.digest.clone();
        let mut parts = vec![platform_facts.clone()];
        parts.extend(reports.iter().cloned());
        let mut facts = Facts::merge_all(parts)?;
        let mut signed = signed_inputs.clone();
        let mut warnings = Vec::new();
        for evidence in image.evidence_for(digest.as_deref()) {
            match evidence.import() {
                Ok(Found::Signed(input)) => signed.push(input),
                Ok(Found::Packages(document)) => {
                    if let Err(e) = facts.merge(*document) {
                        warnings.push(format!("{}: not merged: {e}", evidence.origin));
                    }
                }
                Ok(Found::NotApplied(why)) => {
                    warnings.push(format!("{}: not applied: {why}", evidence.origin))
                }
                Err(e) => warnings.push(format!("{}: not read: {e:#}", evidence.origin)),
            }
        }
        if trust.is_empty() && (signed.len() > signed_inputs.len() || image.has_signatures()) {
            warnings.push(
                "signatures or attestations found beside the image were not checked: no trust material was given (--trusted-key, --trusted-root, --trust-store), and unchecked they count for nothing"
                    .to_owned(),
            );
        }
        record_warnings(&mut facts, warnings);
        let read_index = index.filter(|i| Some(*i) != digest.as_deref());
        let detached = image.detached_for(digest.as_deref());
        crate::trust::verify_inputs(trust, &signed, &detached, &mut facts, now, read_index)?;
        print_warnings(&facts);
        all.push(facts);
    }
    Ok(all)
}

/// [`load`] for commands that decide one image: a multi-platform index
/// needs `--platform`.
pub fn load_one(
    paths: &[PathBuf],
    format: Option<Format>,
    platform: Option<&customs_image::Platform>,
    trust: &crate::trust::TrustArgs,
    now: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Facts> {
    let mut all = load(paths, format, platform, trust, now)?;
    if all.len() > 1 {
        bail!(
            "a multi-platform index ({}): choose one with --platform",
            all.iter().map(platform_name).collect::<Vec<_>>().join(", ")
        );
    }
    all.pop().context("the inputs describe no image")
}

fn print_warnings(facts: &Facts) {
    for warning in facts.import_warnings() {
        eprintln!("warning: {}", customs::text::escaped(&warning.to_string()));
    }
}

/// Warnings about what was found beside an image go into the facts' sources.
fn record_warnings(facts: &mut Facts, warnings: Vec<String>) {
    if warnings.is_empty() {
        return;
    }
    facts.sources.push(customs_facts::Source {
        tool: "customs".to_owned(),
        tool_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        format: "referrers".to_owned(),
        scanned_at: None,
        file: None,
        warnings,
    });
}

/// `os/arch[/variant]` of one platform's facts.
pub fn platform_name(facts: &Facts) -> String {
    let image = &facts.image;
    format!(
        "{}/{}",
        image.os.as_deref().unwrap_or("?"),
        image.architecture.as_deref().unwrap_or("?")
    )
}

/// An image read by customs: the facts of each platform it selects, and
/// for a registry image what is stored beside it.
struct ReadImage {
    source: String,
    platforms: Vec<Facts>,
    /// The index customs read the platforms from, if it read one.
    index_digest: Option<String>,
    evidence: Vec<FoundDocument>,
    /// cosign signatures found beside it (each names what it signs in its payload).
    cosign_signatures: Vec<cosign::ManifestSignature>,
    /// Notation envelopes found beside it, by the digest they are attached to.
    notation_envelopes: Vec<FoundDocument>,
}

/// A document found beside a registry image, to import as an input.
struct FoundDocument {
    subject: String,
    origin: String,
    media_type: String,
    bytes: Vec<u8>,
}

/// What a document found beside an image may contribute. Anyone who can
/// push to the repository can attach one, so nothing unsigned there may
/// lift a denial: signatures and attestations count only once customs
/// verified them; an SBOM adds its packages (more to judge, never less);
/// a VEX document, which could hide vulnerabilities, is not applied.
enum Found {
    Signed(SignedInput),
    Packages(Box<Facts>),
    NotApplied(&'static str),
}

/// The format a document found beside an image is read as: the one its
/// media type names, never one guessed from its content.
fn format_of(media_type: &str) -> Option<Format> {
    match media_type.split(';').next().unwrap_or_default().trim() {
        "application/vnd.dev.cosign.simplesigning.v1+json" => Some(Format::SimpleSigning),
        "application/vnd.dsse.envelope.v1+json" => Some(Format::DsseEnvelope),
        "application/vnd.dev.sigstore.bundle+json"
        | "application/vnd.dev.sigstore.bundle.v0.3+json" => Some(Format::SigstoreBundle),
        "application/spdx+json" | "text/spdx+json" => Some(Format::Spdx),
        "application/vnd.cyclonedx+json" => Some(Format::CycloneDx),
        "application/vnd.syft+json" => Some(Format::SyftJson),
        "application/vnd.openvex+json" => Some(Format::OpenVex),
        _ => None,
    }
}

impl FoundDocument {
    fn import(&self) -> Result<Found> {
        let origin = Origin::named(self.origin.clone());
        let Some(format) = format_of(&self.media_type) else {
            bail!("media type {:?} is not one customs reads", self.media_type);
        };
        if customs_verify::evidence::is_signed_input(format) {
            // Its claims enter the facts only through verification.
            return Ok(Found::Signed((origin, format, self.bytes.clone())));
        }
        if format == Format::OpenVex {
            return Ok(Found::NotApplied(
                "an unsigned VEX document beside the image could hide its vulnerabilities; attach it as a signed attestation (cosign attest --type openvex) and give the trust material",
            ));
        }
        let imported = import_as(&origin, &self.bytes, format)?;
        Ok(Found::Packages(Box::new(Facts {
            packages: imported.packages,
            sources: imported.sources,
            ..Facts::default()
        })))
    }
}

impl ReadImage {
    fn platform_names(&self) -> Vec<String> {
        self.platforms.iter().map(platform_name).collect()
    }

    fn has_signatures(&self) -> bool {
        !self.cosign_signatures.is_empty() || !self.notation_envelopes.is_empty()
    }

    fn is_about(&self, found: &FoundDocument, digest: Option<&str>) -> bool {
        Some(found.subject.as_str()) == digest
            || Some(found.subject.as_str()) == self.index_digest.as_deref()
    }

    /// What was found beside the platform manifest `digest` or the index.
    fn evidence_for<'a>(
        &'a self,
        digest: Option<&'a str>,
    ) -> impl Iterator<Item = &'a FoundDocument> + 'a {
        self.evidence
            .iter()
            .filter(move |e| self.is_about(e, digest))
    }

    /// The signatures found beside the platform manifest `digest` or the index.
    fn detached_for(&self, digest: Option<&str>) -> Detached {
        Detached {
            cosign_signatures: self.cosign_signatures.clone(),
            notation_envelopes: self
                .notation_envelopes
                .iter()
                .filter(|e| self.is_about(e, digest))
                .map(|e| (e.origin.clone(), e.bytes.clone()))
                .collect(),
        }
    }
}

/// The image itself, read by customs: each platform's facts.
fn read_image(text: &str, platform: Option<&customs_image::Platform>) -> Result<ReadImage> {
    let source = customs_image::ImageSource::parse(text)?;
    let options = customs_image::ReadOptions::default().platform(platform.cloned());
    let (platforms, found) = match &source {
        customs_image::ImageSource::Registry { reference } => {
            let registry = customs_registry::Registry::new(None);
            let read =
                crate::sources::runtime()?.block_on(registry.read_image(reference, &options))?;
            (read.facts, read.evidence)
        }
        _ => (customs_image::read(&source, &options)?, Vec::new()),
    };
    if platforms.is_empty() {
        bail!("{source}: the index lists no image");
    }
    let index_digest = platforms.first().and_then(|f| f.image.index_digest.clone());
    let mut image = ReadImage {
        source: source.to_string(),
        platforms,
        index_digest,
        evidence: Vec::new(),
        cosign_signatures: Vec::new(),
        notation_envelopes: Vec::new(),
    };
    image.sort_found(found);
    Ok(image)
}

impl ReadImage {
    /// Sorts what a registry stores beside the image: documents to import,
    /// and signatures given beside them (cosign's, Notation's).
    fn sort_found(&mut self, found: Vec<customs_registry::Evidence>) {
        for found in found {
            match found {
                customs_registry::Evidence::Document {
                    subject,
                    origin,
                    media_type,
                    bytes,
                    ..
                } => self.evidence.push(FoundDocument {
                    subject,
                    origin,
                    media_type,
                    bytes,
                }),
                customs_registry::Evidence::CosignSignatures {
                    origin, manifest, ..
                } => match cosign::manifest_signatures(&origin, &manifest) {
                    Ok(signatures) => self.cosign_signatures.extend(signatures),
                    Err(e) => {
                        eprintln!("warning: {}", customs::text::escaped(&e.to_string()))
                    }
                },
                customs_registry::Evidence::NotationEnvelope {
                    subject,
                    origin,
                    media_type,
                    bytes,
                    ..
                } => self.notation_envelopes.push(FoundDocument {
                    subject,
                    origin,
                    media_type,
                    bytes,
                }),
                _ => {}
            }
        }
    }
}

fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

fn read(path: &Path) -> Result<(Origin, Vec<u8>)> {
    let mut bytes = Vec::new();
    if is_stdin(path) {
        std::io::stdin()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
        check_size(&Origin::stdin(), bytes.len() as u64)?;
        return Ok((Origin::stdin(), bytes));
    }
    let origin = Origin::file(path);
    let file =
        std::fs::File::open(path).with_context(|| format!("{origin}: cannot open the input"))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    check_size(&origin, size)?;
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("{origin}: cannot read the input"))?;
    check_size(&origin, bytes.len() as u64)?;
    Ok((origin, bytes))
}

fn check_size(origin: &Origin, size: u64) -> Result<()> {
    if size > MAX_INPUT_BYTES {
        bail!(
            "{origin}: the input is larger than {} MiB",
            MAX_INPUT_BYTES >> 20
        );
    }
    Ok(())
}
