//! The trust flags of `eval` and `facts`: keys, a Sigstore trust root and
//! the identity to expect, Notation trust stores and policy, and the
//! signatures given beside the inputs (`--signature`,
//! `--notation-envelope`). The checks themselves are the library's
//! (`customs_verify::evidence`), as the server's are.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use customs_facts::Facts;
use customs_verify::evidence::{Detached, NotationTrust, SignedInput, TrustMaterial};
use customs_verify::{Identity, PublicKey, TrustPolicy, TrustStores, TrustedRoot, cosign};

#[derive(Args, Default)]
#[group(skip)]
pub struct TrustArgs {
    /// A public key (PEM) whose signatures on the image customs checks itself:
    /// cosign signatures (--signature) over simple-signing payloads among the
    /// inputs, DSSE attestations, key-signed Sigstore bundles. Repeatable.
    #[arg(long = "trusted-key", value_name = "PEM")]
    keys: Vec<PathBuf>,
    /// A cosign signature of a simple-signing payload among the inputs: its
    /// base64 text (checked with --trusted-key), or the `sha256-<digest>.sig`
    /// signature manifest (keyless ones, with their certificate and Rekor
    /// entry, checked with --trusted-root and --certificate-identity). Repeatable.
    #[arg(long = "signature", value_name = "FILE")]
    signatures: Vec<PathBuf>,
    /// The Sigstore trust root (trusted_root.json) Sigstore bundle inputs are
    /// checked against (docs/verification.md).
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    /// The signer a keyless bundle's certificate must name (exactly).
    #[arg(long, value_name = "ID", requires_all = ["trusted_root", "certificate_oidc_issuer"])]
    certificate_identity: Option<String>,
    /// The OIDC issuer a keyless bundle's certificate must name (exactly).
    #[arg(long, value_name = "URL", requires = "certificate_identity")]
    certificate_oidc_issuer: Option<String>,
    /// A Notation signature envelope of the image (JWS or COSE, the layer of the
    /// signature manifest `notation sign` pushes), checked against
    /// --trust-store and --trust-policy. Repeatable.
    #[arg(long = "notation-envelope", value_name = "FILE",
          requires_all = ["trust_store", "trust_policy"])]
    notation_envelopes: Vec<PathBuf>,
    /// A Notation trust store directory (x509/{ca,signingAuthority,tsa}/NAME/),
    /// for --notation-envelope and the envelopes stored beside an oci:// image.
    #[arg(long, value_name = "DIR", requires = "trust_policy")]
    trust_store: Option<PathBuf>,
    /// A Notation trust policy (trustpolicy.json, version 1.0).
    #[arg(long, value_name = "FILE", requires = "trust_store")]
    trust_policy: Option<PathBuf>,
    /// The repository (REGISTRY/REPO) the trust policy's registryScopes are
    /// matched against; without it only a statement for "*" applies (the
    /// inputs' image reference never chooses the statement).
    #[arg(long, value_name = "REPOSITORY", requires = "trust_store")]
    scope: Option<String>,
}

impl TrustArgs {
    /// Whether no trust material was given: nothing is checked.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.trusted_root.is_none() && self.trust_store.is_none()
    }

    /// The trust material the flags name, read from their files.
    fn material(&self) -> Result<TrustMaterial> {
        let keys = self
            .keys
            .iter()
            .map(|path| {
                Ok(PublicKey::from_pem(
                    &path.display().to_string(),
                    &read(path)?,
                )?)
            })
            .collect::<Result<Vec<_>>>()?;
        let trusted_root = match &self.trusted_root {
            Some(path) => Some(TrustedRoot::from_json(
                &path.display().to_string(),
                &read(path)?,
            )?),
            None => None,
        };
        let identity = match (&self.certificate_identity, &self.certificate_oidc_issuer) {
            (Some(identity), Some(issuer)) => Some(Identity {
                identity: identity.clone(),
                issuer: issuer.clone(),
            }),
            _ => None,
        };
        let notation = match (&self.trust_store, &self.trust_policy) {
            (Some(store_dir), Some(policy_path)) => Some(NotationTrust {
                policy: TrustPolicy::from_json(
                    &policy_path.display().to_string(),
                    &read(policy_path)?,
                )?,
                stores: TrustStores::load(store_dir)?,
                scope: self.scope.clone(),
            }),
            _ => None,
        };
        Ok(TrustMaterial {
            keys,
            trusted_root,
            identity,
            notation,
        })
    }

    /// The signatures the flags give beside the inputs.
    fn detached(&self) -> Result<Detached> {
        let mut cosign_signatures = Vec::new();
        for path in &self.signatures {
            cosign_signatures.extend(signatures_in(path)?);
        }
        let notation_envelopes = self
            .notation_envelopes
            .iter()
            .map(|path| Ok((path.display().to_string(), read(path)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Detached {
            cosign_signatures,
            notation_envelopes,
        })
    }
}

/// Checks the signed inputs with the trust material and adds what verified
/// to `facts` (customs_verify::evidence). `found` are signatures found
/// beside the image (in its registry), checked with those the flags give;
/// `read_index` the digest of an index customs itself read the image from.
/// Unreadable trust material is an error; a signature that does not verify
/// is a warning (the policies then find no verified signature). `now` is
/// the time certificates without a signed time are checked at (Notation's),
/// by default the clock.
pub fn verify_inputs(
    args: &TrustArgs,
    inputs: &[SignedInput],
    found: &Detached,
    facts: &mut Facts,
    now: Option<DateTime<Utc>>,
    read_index: Option<&str>,
) -> Result<()> {
    if args.is_empty() {
        if !args.signatures.is_empty() {
            bail!(
                "--signature needs --trusted-key (a key signature), or --trusted-root with --certificate-identity (a keyless one)"
            );
        }
        return Ok(());
    }
    let material = args.material()?;
    let mut detached = args.detached()?;
    detached
        .cosign_signatures
        .extend(found.cosign_signatures.iter().cloned());
    detached
        .notation_envelopes
        .extend(found.notation_envelopes.iter().cloned());
    material.check_image(
        inputs,
        &detached,
        facts,
        now.unwrap_or_else(Utc::now),
        read_index,
    )?;
    Ok(())
}

/// [`customs_registry::ReadImage::decide_inputs`] with the trust flags: each
/// platform's facts, merged with the reports and what was found beside the
/// image, its signatures checked.
pub fn verify_image(
    args: &TrustArgs,
    image: &customs_registry::ReadImage,
    reports: &[Facts],
    signed: &[SignedInput],
    now: Option<DateTime<Utc>>,
) -> Result<Vec<Facts>> {
    let (material, detached) = if args.is_empty() {
        if !args.signatures.is_empty() {
            bail!(
                "--signature needs --trusted-key (a key signature), or --trusted-root with --certificate-identity (a keyless one)"
            );
        }
        (TrustMaterial::default(), Detached::default())
    } else {
        (args.material()?, args.detached()?)
    };
    Ok(image.decide_inputs(
        reports,
        signed,
        &detached,
        &material,
        now.unwrap_or_else(Utc::now),
    )?)
}

/// The cosign signatures in a file: its base64 text, or each layer
/// signature of a cosign signature manifest (JSON), with the certificate
/// and Rekor entry cosign stored beside a keyless one.
pub fn signatures_in(path: &Path) -> Result<Vec<cosign::ManifestSignature>> {
    let bytes = read(path)?;
    if !bytes.trim_ascii_start().starts_with(b"{") {
        return Ok(vec![cosign::ManifestSignature {
            layer_digest: String::new(),
            signature: String::from_utf8_lossy(&bytes).into_owned(),
            certificate: None,
            rekor_bundle: None,
        }]);
    }
    let found = cosign::manifest_signatures(&path.display().to_string(), &bytes)?;
    if found.is_empty() {
        bail!(
            "{}: the manifest has no layer with a {} annotation",
            path.display(),
            cosign::SIGNATURE_ANNOTATION
        );
    }
    Ok(found)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}
