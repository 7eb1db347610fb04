//! Signatures and attestations customs checks itself. Given trust material
//! (keys, a Sigstore trust root and the identity to expect, Notation trust
//! stores and policy), `eval` and `facts` check the signed inputs among
//! their inputs — cosign simple-signing payloads with their `--signature`,
//! DSSE envelopes, Sigstore bundles — and the `--notation-envelope`s
//! against the image digest the inputs name, and add what verifies to the
//! facts as `trust: verified`. What does not verify
//! is said on stderr and in the facts' sources; the input's own claim stays
//! as the importer recorded it (`reported`, unverified).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use customs_facts::import::{Format, Origin, attestation_of};
use customs_facts::{Facts, Signature, SignatureKind, Source, Trust};
use customs_verify::dsse::{Envelope, verify_attestation};
use customs_verify::{
    Bundle, Error, Identity, Policy, PublicKey, Signed, Signer, TrustPolicy, TrustStores,
    TrustedRoot, cosign, notation, verify_bundle,
};

/// What the facts name as the verifier of what customs checked.
const VERIFIER: &str = "customs";

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
    /// A Notation trust store directory (x509/{ca,signingAuthority,tsa}/NAME/).
    #[arg(long, value_name = "DIR", requires = "notation_envelopes")]
    trust_store: Option<PathBuf>,
    /// A Notation trust policy (trustpolicy.json, version 1.0).
    #[arg(long, value_name = "FILE", requires = "notation_envelopes")]
    trust_policy: Option<PathBuf>,
    /// The repository (REGISTRY/REPO) the trust policy's registryScopes are
    /// matched against; default: the image reference's.
    #[arg(long, value_name = "REPOSITORY", requires = "notation_envelopes")]
    scope: Option<String>,
}

impl TrustArgs {
    fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.trusted_root.is_none() && self.notation_envelopes.is_empty()
    }
}

/// The formats customs can check itself.
pub fn is_signed_input(format: Format) -> bool {
    matches!(
        format,
        Format::SimpleSigning | Format::DsseEnvelope | Format::SigstoreBundle
    )
}

/// Checks the signed inputs with the trust material and adds what verified
/// to `facts`. Unreadable trust material is an error; a signature that does
/// not verify is a warning (the policies then find no verified signature).
/// `now` is the time certificates without a signed time are checked at
/// (Notation's), by default the clock.
pub fn verify_inputs(
    args: &TrustArgs,
    inputs: &[(Origin, Format, Vec<u8>)],
    facts: &mut Facts,
    now: Option<DateTime<Utc>>,
) -> Result<()> {
    if args.is_empty() {
        if !args.signatures.is_empty() {
            bail!(
                "--signature needs --trusted-key (a key signature), or --trusted-root with --certificate-identity (a keyless one)"
            );
        }
        return Ok(());
    }
    let keys = args
        .keys
        .iter()
        .map(|path| {
            Ok(PublicKey::from_pem(
                &path.display().to_string(),
                &read(path)?,
            )?)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut signatures = Vec::new();
    for path in &args.signatures {
        signatures.extend(signatures_in(path)?);
    }
    let root = match &args.trusted_root {
        Some(path) => Some(TrustedRoot::from_json(
            &path.display().to_string(),
            &read(path)?,
        )?),
        None => None,
    };
    let mut policies: Vec<Policy> = keys.iter().cloned().map(Policy::Key).collect();
    if let (Some(identity), Some(issuer)) =
        (&args.certificate_identity, &args.certificate_oidc_issuer)
    {
        policies.push(Policy::Identity(Identity {
            identity: identity.clone(),
            issuer: issuer.clone(),
        }));
    }

    let mut warnings = Vec::new();
    let Some(digest) = facts.image.digest.clone() else {
        warnings.push(
            "no signature was checked: the inputs name no image digest to check them for"
                .to_owned(),
        );
        record(facts, warnings);
        return Ok(());
    };
    if inputs.is_empty() && args.notation_envelopes.is_empty() {
        warnings.push(format!(
            "no signature, attestation or bundle of {digest} is among the inputs to check"
        ));
    }
    for (origin, format, bytes) in inputs {
        let outcome = match format {
            Format::SimpleSigning => {
                let keyless = root
                    .as_ref()
                    .zip(policies.iter().find_map(|policy| match policy {
                        Policy::Identity(identity) => Some(identity),
                        Policy::Key(_) => None,
                    }));
                check_payload(bytes, &signatures, &keys, keyless, &digest, facts)
            }
            Format::DsseEnvelope => check_envelope(origin, bytes, &keys, &digest, facts),
            Format::SigstoreBundle => match &root {
                Some(root) => check_bundle(origin, bytes, &policies, root, &digest, facts),
                None => Err(
                    "not verified: a Sigstore bundle is checked against --trusted-root".to_owned(),
                ),
            },
            _ => Ok(()),
        };
        if let Err(reason) = outcome {
            warnings.push(format!("{origin}: {reason}"));
        }
    }
    check_notation(
        args,
        &digest,
        facts,
        now.unwrap_or_else(Utc::now),
        &mut warnings,
    )?;
    record(facts, warnings);
    Ok(())
}

/// Checks each `--notation-envelope` against the trust store and policy.
/// Unreadable envelopes or trust material are errors; an envelope that
/// does not verify is a warning.
fn check_notation(
    args: &TrustArgs,
    digest: &str,
    facts: &mut Facts,
    now: DateTime<Utc>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let (Some(store_dir), Some(policy_path)) = (&args.trust_store, &args.trust_policy) else {
        return Ok(());
    };
    let policy = TrustPolicy::from_json(&policy_path.display().to_string(), &read(policy_path)?)?;
    let stores = TrustStores::load(store_dir)?;
    let scope = match (&args.scope, &facts.image.registry, &facts.image.repository) {
        (Some(scope), _, _) => scope.clone(),
        (None, Some(registry), Some(repository)) => format!("{registry}/{repository}"),
        // Only a policy with the scope "*" applies to an image of no repository.
        _ => String::new(),
    };
    for path in &args.notation_envelopes {
        let envelope = read(path)?;
        let signature = match notation::verify_envelope(
            notation::media_type_of(&envelope),
            &envelope,
            digest,
            &policy,
            &stores,
            &scope,
            now,
        ) {
            Ok(verified) => notation_signature(Some(verified.leaf_subject)),
            Err(refused @ Error::Refused { .. }) => {
                warnings.push(format!("{}: {refused}", path.display()));
                notation_signature(None)
            }
            Err(unreadable) => return Err(unreadable.into()),
        };
        facts
            .signatures
            .get_or_insert_with(Vec::new)
            .push(signature);
    }
    Ok(())
}

fn check_payload(
    payload: &[u8],
    signatures: &[cosign::ManifestSignature],
    keys: &[PublicKey],
    keyless: Option<(&TrustedRoot, &Identity)>,
    digest: &str,
    facts: &mut Facts,
) -> Result<(), String> {
    if signatures.is_empty() {
        return Err("not verified: no --signature to check the payload with".to_owned());
    }
    let mut refusal = "not verified: no --trusted-key, or keyless signature and --certificate-identity, to check the payload with".to_owned();
    for found in signatures {
        for key in keys {
            match cosign::verify_simple_signing(payload, &found.signature, key, Some(digest)) {
                Ok(verified) => {
                    push_signature(facts, Some(verified.key_id), None, None, None);
                    return Ok(());
                }
                Err(error) => refusal = error.to_string(),
            }
        }
        if let (Some((root, identity)), Some(certificate), Some(rekor_bundle)) =
            (keyless, &found.certificate, &found.rekor_bundle)
        {
            match cosign::verify_keyless_simple_signing(
                payload,
                &found.signature,
                certificate.as_bytes(),
                rekor_bundle.as_bytes(),
                digest,
                identity,
                root,
            ) {
                Ok(verified) => {
                    let index = u64::try_from(verified.log_index).ok();
                    push_signature(
                        facts,
                        None,
                        Some(identity.identity.clone()),
                        Some(identity.issuer.clone()),
                        index,
                    );
                    return Ok(());
                }
                Err(error) => refusal = error.to_string(),
            }
        }
    }
    Err(refusal)
}

fn check_envelope(
    origin: &Origin,
    bytes: &[u8],
    keys: &[PublicKey],
    digest: &str,
    facts: &mut Facts,
) -> Result<(), String> {
    let envelope = Envelope::from_json(&origin.to_string(), bytes).map_err(|e| e.to_string())?;
    let mut refusal = "not verified: no --trusted-key to check the envelope with".to_owned();
    for key in keys {
        match verify_attestation(&envelope, key, digest) {
            Ok(verified) => {
                push_attestation(
                    facts,
                    &verified.predicate_type,
                    &verified.statement.predicate,
                );
                return Ok(());
            }
            Err(error) => refusal = error.to_string(),
        }
    }
    Err(refusal)
}

fn check_bundle(
    origin: &Origin,
    bytes: &[u8],
    policies: &[Policy],
    root: &TrustedRoot,
    digest: &str,
    facts: &mut Facts,
) -> Result<(), String> {
    let bundle = Bundle::from_json(&origin.to_string(), bytes).map_err(|e| e.to_string())?;
    let mut refusal =
        "not verified: no --trusted-key or --certificate-identity to check the bundle with"
            .to_owned();
    for policy in policies {
        match verify_bundle(&bundle, digest, policy, root) {
            Ok(verified) => {
                match &verified.signed {
                    Signed::MessageSignature => {
                        let (key_id, subject, issuer) = match &verified.signer {
                            Signer::Certificate {
                                identity, issuer, ..
                            } => (None, Some(identity.clone()), Some(issuer.clone())),
                            Signer::Key { key_id } => (Some(key_id.clone()), None, None),
                        };
                        let index = verified
                            .log_index
                            .and_then(|index| u64::try_from(index).ok());
                        push_signature(facts, key_id, subject, issuer, index);
                    }
                    Signed::Attestation {
                        predicate_type,
                        statement,
                        ..
                    } => push_attestation(facts, predicate_type, &statement.predicate),
                }
                return Ok(());
            }
            Err(error @ Error::Refused { .. }) => refusal = error.to_string(),
            Err(unreadable) => return Err(unreadable.to_string()),
        }
    }
    Err(refusal)
}

/// A Notation signature customs verified (signed by `subject`) or, with
/// none, one it was given and could not verify: recorded as an importer
/// records a signature it did not check, so the image counts as signed
/// badly rather than not signed.
fn notation_signature(verified_subject: Option<String>) -> Signature {
    let verified = verified_subject.is_some();
    Signature {
        kind: SignatureKind::Notation,
        verified,
        trust: if verified {
            Trust::Verified
        } else {
            Trust::Reported
        },
        verified_by: verified.then(|| VERIFIER.to_owned()),
        key_id: None,
        issuer: None,
        subject: verified_subject,
        rekor_log_index: None,
    }
}

fn push_signature(
    facts: &mut Facts,
    key_id: Option<String>,
    subject: Option<String>,
    issuer: Option<String>,
    rekor_log_index: Option<u64>,
) {
    facts
        .signatures
        .get_or_insert_with(Vec::new)
        .push(Signature {
            kind: SignatureKind::Cosign,
            verified: true,
            trust: Trust::Verified,
            verified_by: Some(VERIFIER.to_owned()),
            key_id,
            issuer,
            subject,
            rekor_log_index,
        });
}

fn push_attestation(facts: &mut Facts, predicate_type: &str, predicate: &serde_json::Value) {
    facts
        .attestations
        .get_or_insert_with(Vec::new)
        .push(attestation_of(
            predicate_type,
            predicate,
            true,
            Trust::Verified,
        ));
}

/// Warnings go into the facts' sources, as an importer's do (and from
/// there to stderr).
fn record(facts: &mut Facts, warnings: Vec<String>) {
    facts.sources.push(Source {
        tool: VERIFIER.to_owned(),
        tool_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        format: "verification".to_owned(),
        scanned_at: None,
        file: None,
        warnings,
    });
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
