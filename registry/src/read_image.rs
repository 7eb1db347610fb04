//! An image customs read itself, made ready to decide on: each platform's
//! facts merged with the caller's tool outputs and with what the registry
//! stores beside the image, the signatures among them checked with the
//! caller's trust material. One path for `customs eval`/`facts` and the
//! server's facts store.
//!
//! Anyone who can push to a repository can attach a document to an image,
//! so nothing unsigned found beside it may lift a denial: signatures and
//! attestations count only once customs verified them (their unverified
//! claims are not added at all); an SBOM adds its packages (more to judge,
//! never less); a VEX document, which could hide vulnerabilities, is not
//! applied. Each document is read only as the format its media type names.

use chrono::{DateTime, Utc};
use customs_facts::Facts;
use customs_facts::import::{Format, Origin, import_as};
use customs_verify::cosign;
use customs_verify::evidence::{Detached, SignedInput, TrustMaterial, is_signed_input};

use crate::{Error, Evidence, RegistryImage};

/// An image read by customs: the facts of each platform it selected, and
/// for a registry image what is stored beside it.
#[derive(Debug)]
pub struct ReadImage {
    /// What was read, as the user named it.
    pub source: String,
    /// One facts document per platform manifest read.
    pub platforms: Vec<Facts>,
    /// The index the platforms were read from, if one was.
    pub index_digest: Option<String>,
    documents: Vec<FoundDocument>,
    cosign_signatures: Vec<cosign::ManifestSignature>,
    notation_envelopes: Vec<FoundDocument>,
    /// Found beside the image but unreadable (a malformed cosign manifest).
    warnings: Vec<String>,
}

/// A document found beside a registry image.
#[derive(Debug)]
struct FoundDocument {
    subject: String,
    origin: String,
    media_type: String,
    bytes: Vec<u8>,
}

/// What a document found beside an image may contribute.
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
    fn import(&self) -> Result<Found, String> {
        let origin = Origin::named(self.origin.clone());
        let Some(format) = format_of(&self.media_type) else {
            return Err(format!(
                "media type {:?} is not one customs reads",
                self.media_type
            ));
        };
        if is_signed_input(format) {
            // Its claims enter the facts only through verification.
            return Ok(Found::Signed((origin, format, self.bytes.clone())));
        }
        if format == Format::OpenVex {
            return Ok(Found::NotApplied(
                "an unsigned VEX document beside the image could hide its vulnerabilities; attach it as a signed attestation (cosign attest --type openvex) and give the trust material",
            ));
        }
        let imported = import_as(&origin, &self.bytes, format).map_err(|e| e.to_string())?;
        Ok(Found::Packages(Box::new(Facts {
            packages: imported.packages,
            sources: imported.sources,
            ..Facts::default()
        })))
    }
}

/// `os/arch` of one platform's facts.
pub fn platform_name(facts: &Facts) -> String {
    let image = &facts.image;
    format!(
        "{}/{}",
        image.os.as_deref().unwrap_or("?"),
        image.architecture.as_deref().unwrap_or("?")
    )
}

impl ReadImage {
    /// An image read from a layout or an archive: nothing beside it.
    pub fn local(source: String, platforms: Vec<Facts>) -> Result<ReadImage, Error> {
        let index_digest = platforms.first().and_then(|f| f.image.index_digest.clone());
        let image = ReadImage {
            source,
            platforms,
            index_digest,
            documents: Vec::new(),
            cosign_signatures: Vec::new(),
            notation_envelopes: Vec::new(),
            warnings: Vec::new(),
        };
        if image.platforms.is_empty() {
            return Err(Error::Inputs {
                reference: image.source,
                reason: "the index lists no image".to_owned(),
            });
        }
        Ok(image)
    }

    /// An image read from a registry, with what is stored beside it sorted
    /// into documents to import and signatures given beside them.
    pub fn from_registry(source: String, read: RegistryImage) -> Result<ReadImage, Error> {
        let mut image = ReadImage::local(source, read.facts)?;
        for found in read.evidence {
            match found {
                Evidence::Document {
                    subject,
                    origin,
                    media_type,
                    bytes,
                } => image.documents.push(FoundDocument {
                    subject,
                    origin,
                    media_type,
                    bytes,
                }),
                Evidence::CosignSignatures {
                    origin, manifest, ..
                } => match cosign::manifest_signatures(&origin, &manifest) {
                    Ok(signatures) => image.cosign_signatures.extend(signatures),
                    Err(e) => image.warnings.push(format!("{origin}: not read: {e}")),
                },
                Evidence::NotationEnvelope {
                    subject,
                    origin,
                    media_type,
                    bytes,
                } => image.notation_envelopes.push(FoundDocument {
                    subject,
                    origin,
                    media_type,
                    bytes,
                }),
            }
        }
        Ok(image)
    }

    /// `os/arch` of each platform read.
    pub fn platform_names(&self) -> Vec<String> {
        self.platforms.iter().map(platform_name).collect()
    }

    fn has_signatures(&self) -> bool {
        !self.cosign_signatures.is_empty() || !self.notation_envelopes.is_empty()
    }

    fn is_about(&self, found: &FoundDocument, digest: Option<&str>) -> bool {
        Some(found.subject.as_str()) == digest
            || Some(found.subject.as_str()) == self.index_digest.as_deref()
    }

    /// Per platform read: its facts merged with `reports` (tool outputs
    /// about the same image) and with what was found beside it or its
    /// index; then the signatures among `signed` (the signed ones of the
    /// reports), those found beside the image and `detached` checked with
    /// `trust` (none given: nothing counts, and a warning says so when
    /// there was something to check). Warnings land in the facts' sources.
    pub fn decide_inputs(
        &self,
        reports: &[Facts],
        signed: &[SignedInput],
        detached: &Detached,
        trust: &TrustMaterial,
        now: DateTime<Utc>,
    ) -> Result<Vec<Facts>, Error> {
        let mut all = Vec::with_capacity(self.platforms.len());
        for platform in &self.platforms {
            let digest = platform.image.digest.as_deref();
            let mut parts = vec![platform.clone()];
            parts.extend(reports.iter().cloned());
            let mut facts = Facts::merge_all(parts).map_err(|e| Error::Inputs {
                reference: self.source.clone(),
                reason: e.to_string(),
            })?;
            let mut signed = signed.to_vec();
            let reports_signed = signed.len();
            let mut warnings = self.warnings.clone();
            for found in self.documents.iter().filter(|e| self.is_about(e, digest)) {
                match found.import() {
                    Ok(Found::Signed(input)) => signed.push(input),
                    Ok(Found::Packages(document)) => {
                        if let Err(e) = facts.merge(*document) {
                            warnings.push(format!("{}: not merged: {e}", found.origin));
                        }
                    }
                    Ok(Found::NotApplied(why)) => {
                        warnings.push(format!("{}: not applied: {why}", found.origin))
                    }
                    Err(e) => warnings.push(format!("{}: not read: {e}", found.origin)),
                }
            }
            let found_signed = signed.len() > reports_signed;
            if trust.is_empty() && (found_signed || self.has_signatures()) {
                warnings.push(
                    "signatures or attestations found beside the image were not checked: no trust material was given, and unchecked they count for nothing"
                        .to_owned(),
                );
            }
            record_warnings(&mut facts, warnings);
            if !trust.is_empty() {
                let mut beside = detached.clone();
                beside
                    .cosign_signatures
                    .extend(self.cosign_signatures.iter().cloned());
                beside.notation_envelopes.extend(
                    self.notation_envelopes
                        .iter()
                        .filter(|e| self.is_about(e, digest))
                        .map(|e| (e.origin.clone(), e.bytes.clone())),
                );
                let read_index = self
                    .index_digest
                    .as_deref()
                    .filter(|index| Some(*index) != digest);
                trust
                    .check_image(&signed, &beside, &mut facts, now, read_index)
                    .map_err(|e| Error::Inputs {
                        reference: self.source.clone(),
                        reason: e.to_string(),
                    })?;
            }
            all.push(facts);
        }
        Ok(all)
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
