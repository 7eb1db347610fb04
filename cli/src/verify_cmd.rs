//! `customs verify`: check a signature, an attestation or a Sigstore bundle
//! offline, against a public key or a trust root, for one artifact, and say
//! what verified or which check failed. Exit 0 verified, 1 not verified, 2
//! unreadable input. For bundles it takes the arguments of the
//! sigstore-conformance client protocol, so that suite can drive it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use customs_verify::dsse::{Envelope, verify_attestation};
use customs_verify::{
    Bundle, Error, Identity, Policy, PublicKey, Signed, Signer, TrustedRoot, cosign, notation,
    sha256_digest, verify_bundle,
};
use serde_json::json;

use crate::{EXIT_ALLOWED, EXIT_DENIED};

#[derive(Args)]
#[command(
    after_help = "Exit codes: 0 verified, 1 not verified (the check that failed is printed), \
2 unreadable input (a key, signature, payload or envelope that cannot be read)."
)]
pub struct VerifyArgs {
    /// What was signed: an image manifest digest (sha256:HEX) or a file
    /// (its SHA-256 is the digest the signature or statement must name).
    #[arg(value_name = "FILE_OR_DIGEST")]
    artifact: String,
    /// The public key (PEM: ECDSA P-256/P-384, Ed25519 or RSA), as `cosign
    /// generate-key-pair` or `openssl pkey -pubout` writes it. Needed for
    /// --signature and --attestation.
    #[arg(long, value_name = "PEM")]
    key: Option<PathBuf>,
    /// A Sigstore bundle (v0.1 to v0.3, as cosign 2.x/3.x and the sigstore
    /// clients write it), checked against --trusted-root: keyless, for the
    /// --certificate-identity and --certificate-oidc-issuer its certificate
    /// must name; or signed with --key.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["signature", "attestation"],
          requires = "trusted_root")]
    bundle: Option<PathBuf>,
    /// The signer the bundle's certificate must name (its subject
    /// alternative name: an email, a URI such as a workflow's), exactly.
    #[arg(long, value_name = "ID")]
    certificate_identity: Option<String>,
    /// The OIDC issuer the certificate must name (Fulcio's extension), exactly.
    #[arg(long, value_name = "URL")]
    certificate_oidc_issuer: Option<String>,
    /// A Notation signature envelope (JWS or COSE, as `notation sign`
    /// stores it in the signature manifest's layer), checked against
    /// --trust-store and --trust-policy.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["signature", "attestation", "bundle"],
          requires_all = ["trust_store", "trust_policy"])]
    notation_envelope: Option<PathBuf>,
    /// A Notation trust store directory (the `truststore` of notation's
    /// configuration: x509/{ca,signingAuthority,tsa}/NAME/ certificates).
    #[arg(long, value_name = "DIR")]
    trust_store: Option<PathBuf>,
    /// A Notation trust policy (trustpolicy.json, version 1.0).
    #[arg(long, value_name = "FILE")]
    trust_policy: Option<PathBuf>,
    /// The repository the artifact is in (REGISTRY/REPO), which the trust
    /// policy's registryScopes are matched against; without it only a
    /// policy with scope "*" applies.
    #[arg(long, value_name = "REPOSITORY", requires = "notation_envelope")]
    scope: Option<String>,
    /// Check certificates and expiry as of this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME", requires = "notation_envelope")]
    now: Option<String>,
    /// The Sigstore trust root (trusted_root.json: Fulcio CAs, Rekor and CT
    /// log keys), as `cosign trusted-root create` or sigstore's TUF repository
    /// gives it (docs/verification.md).
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    /// A cosign signature: the base64 text (`cosign sign --key`,
    /// `--output-signature`), or the cosign signature manifest stored beside
    /// the image (`sha256-<digest>.sig`, its layers' signature annotations).
    #[arg(
        long,
        value_name = "FILE",
        requires = "payload",
        conflicts_with = "attestation"
    )]
    signature: Option<PathBuf>,
    /// The simple-signing payload the --signature is over (`cosign
    /// --output-payload`, or the signature manifest's layer).
    #[arg(long, value_name = "FILE")]
    payload: Option<PathBuf>,
    /// A DSSE envelope carrying an in-toto statement (`cosign attest
    /// --key`, `cosign attest-blob`): its signature must be the key's and a
    /// subject must be the artifact.
    #[arg(long, value_name = "FILE", required_unless_present_any = ["signature", "bundle", "notation_envelope"])]
    attestation: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = VerifyFormat::Text)]
    format: VerifyFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum VerifyFormat {
    Text,
    Json,
}

pub fn run(args: VerifyArgs) -> Result<u8> {
    let digest = artifact_digest(&args.artifact)?;
    let outcome = if let Some(bundle) = &args.bundle {
        verify_sigstore_bundle(&args, bundle, &digest)?
    } else if let Some(envelope) = &args.notation_envelope {
        verify_notation(&args, envelope, &digest)?
    } else if let Some(signature) = &args.signature {
        let payload = args
            .payload
            .as_deref()
            .context("--signature needs --payload")?;
        verify_signature(&args, signature, payload, &digest)?
    } else if let Some(attestation) = &args.attestation {
        let key_path = args.key.as_deref().context("--attestation needs --key")?;
        let key = PublicKey::from_pem(&key_path.display().to_string(), &read(key_path)?)?;
        verify_envelope(attestation, &key, &digest)?
    } else {
        bail!("give --bundle, --notation-envelope, --signature with --payload, or --attestation");
    };
    let (verified, text, json) = match outcome {
        Ok((text, json)) => (true, format!("verified: {text}"), json),
        Err(Error::Refused { check, reason }) => (
            false,
            format!("NOT VERIFIED ({check}): {reason}"),
            json!({ "verified": false, "check": check, "reason": reason }),
        ),
        Err(unreadable) => return Err(unreadable.into()),
    };
    match args.format {
        VerifyFormat::Text => println!("{text}"),
        VerifyFormat::Json => println!("{}", serde_json::to_string_pretty(&json)?),
    }
    Ok(if verified { EXIT_ALLOWED } else { EXIT_DENIED })
}

/// A verification's outcome: (text line, JSON) when verified, else the
/// refusal. Unreadable input is the outer error.
type Outcome = std::result::Result<(String, serde_json::Value), Error>;

/// A cosign signature: with --key, a key signature; otherwise a keyless one
/// (the certificate and Rekor entry cosign stored beside it in the
/// signature manifest) for --certificate-identity, against --trusted-root.
fn verify_signature(
    args: &VerifyArgs,
    signature: &Path,
    payload: &Path,
    digest: &str,
) -> Result<Outcome> {
    let payload_bytes = read(payload)?;
    let signatures = crate::trust::signatures_in(signature)?;
    let key = match &args.key {
        Some(path) => Some(PublicKey::from_pem(
            &path.display().to_string(),
            &read(path)?,
        )?),
        None => None,
    };
    let keyless = match (
        &key,
        &args.trusted_root,
        &args.certificate_identity,
        &args.certificate_oidc_issuer,
    ) {
        (None, Some(root), Some(identity), Some(issuer)) => Some((
            TrustedRoot::from_json(&root.display().to_string(), &read(root)?)?,
            Identity {
                identity: identity.clone(),
                issuer: issuer.clone(),
            },
        )),
        (None, ..) => bail!(
            "--signature needs --key, or (keyless) --trusted-root, --certificate-identity and --certificate-oidc-issuer"
        ),
        _ => None,
    };
    let mut refusal = None;
    for found in &signatures {
        let outcome = match (&key, &keyless) {
            (Some(key), _) => cosign::verify_simple_signing(
                &payload_bytes,
                &found.signature,
                key,
                Some(digest),
            )
            .map(|verified| {
                let line = format!(
                    "cosign signature of {} ({}) by key {}",
                    verified.image_digest,
                    verified
                        .docker_reference
                        .as_deref()
                        .unwrap_or("no repository named"),
                    verified.key_id
                );
                (
                    line,
                    json!({ "verified": true, "kind": "cosign-signature", "signature": verified }),
                )
            }),
            (None, Some((root, identity))) => {
                let (Some(certificate), Some(rekor_bundle)) =
                    (&found.certificate, &found.rekor_bundle)
                else {
                    refusal = Some(Error::Refused {
                        check: customs_verify::Check::Identity,
                        reason: format!(
                            "a signature without the {} and {} annotations of a keyless signature",
                            cosign::CERTIFICATE_ANNOTATION,
                            cosign::REKOR_BUNDLE_ANNOTATION
                        ),
                    });
                    continue;
                };
                cosign::verify_keyless_simple_signing(
                    &payload_bytes,
                    &found.signature,
                    certificate.as_bytes(),
                    rekor_bundle.as_bytes(),
                    digest,
                    identity,
                    root,
                )
                .map(|verified| {
                    let line = format!(
                        "cosign keyless signature of {} by {} ({}), logged at index {} at {}",
                        verified.image_digest,
                        identity.identity,
                        identity.issuer,
                        verified.log_index,
                        verified.integrated_time
                    );
                    (line, json!({ "verified": true, "kind": "cosign-keyless-signature", "signature": verified }))
                })
            }
            (None, None) => continue,
        };
        match outcome {
            Ok(verified) => return Ok(Ok(verified)),
            Err(error @ Error::Refused { .. }) => refusal = Some(error),
            Err(Error::Unreadable { origin, reason }) => {
                let file = if origin == "payload" {
                    payload
                } else {
                    signature
                };
                bail!("{}: {origin}: {reason}", file.display());
            }
        }
    }
    Ok(Err(refusal.context("no signature to check")?))
}

fn verify_envelope(path: &Path, key: &PublicKey, digest: &str) -> Result<Outcome> {
    let envelope = Envelope::from_json(&path.display().to_string(), &read(path)?)?;
    match verify_attestation(&envelope, key, digest) {
        Ok(verified) => {
            let line = format!(
                "in-toto attestation ({}) of {} by key {}",
                verified.predicate_type, verified.subject_digest, verified.key_id
            );
            let json = json!({ "verified": true, "kind": "attestation", "attestation": verified });
            Ok(Ok((line, json)))
        }
        Err(Error::Unreadable { reason, .. }) => bail!("{}: {reason}", path.display()),
        Err(refusal) => Ok(Err(refusal)),
    }
}

fn verify_sigstore_bundle(args: &VerifyArgs, path: &Path, digest: &str) -> Result<Outcome> {
    let root_path = args
        .trusted_root
        .as_deref()
        .context("--bundle needs --trusted-root")?;
    // A bundle signed with a key is checked against --key; a keyless one
    // against the identity and issuer its certificate must name.
    let policy = match (
        &args.key,
        &args.certificate_identity,
        &args.certificate_oidc_issuer,
    ) {
        (Some(key), _, _) => Policy::Key(PublicKey::from_pem(
            &key.display().to_string(),
            &read(key)?,
        )?),
        (None, Some(identity), Some(issuer)) => Policy::Identity(Identity {
            identity: identity.clone(),
            issuer: issuer.clone(),
        }),
        _ => bail!(
            "--bundle needs --certificate-identity and --certificate-oidc-issuer (keyless), or --key"
        ),
    };
    let root = TrustedRoot::from_json(&root_path.display().to_string(), &read(root_path)?)?;
    let bundle = Bundle::from_json(&path.display().to_string(), &read(path)?)?;
    match verify_bundle(&bundle, digest, &policy, &root) {
        Ok(verified) => {
            let signer = match &verified.signer {
                Signer::Certificate {
                    identity, issuer, ..
                } => format!("{identity} ({issuer})"),
                Signer::Key { key_id } => format!("key {key_id}"),
            };
            let what = match &verified.signed {
                Signed::MessageSignature => "Sigstore bundle".to_owned(),
                Signed::Attestation { predicate_type, .. } => {
                    format!("Sigstore bundle attestation ({predicate_type})")
                }
            };
            let logged = match verified.log_index {
                Some(index) => format!("logged at index {index}"),
                None => "not logged".to_owned(),
            };
            let times: Vec<String> = verified
                .signed_times()
                .iter()
                .map(ToString::to_string)
                .collect();
            let line = format!(
                "{what} of {} signed by {signer}, {logged}, signed at {}",
                verified.artifact_digest,
                times.join(" and ")
            );
            let json = json!({ "verified": true, "kind": "sigstore-bundle", "bundle": verified });
            Ok(Ok((line, json)))
        }
        Err(Error::Unreadable { origin, reason }) => bail!("{origin}: {reason}"),
        Err(refusal) => Ok(Err(refusal)),
    }
}

fn verify_notation(args: &VerifyArgs, path: &Path, digest: &str) -> Result<Outcome> {
    let (Some(store_dir), Some(policy_path)) = (&args.trust_store, &args.trust_policy) else {
        bail!("--notation-envelope needs --trust-store and --trust-policy");
    };
    let now = match &args.now {
        Some(text) => chrono::DateTime::parse_from_rfc3339(text)
            .with_context(|| format!("--now {text:?} is not an RFC 3339 time"))?
            .with_timezone(&chrono::Utc),
        None => chrono::Utc::now(),
    };
    let policy =
        notation::TrustPolicy::from_json(&policy_path.display().to_string(), &read(policy_path)?)?;
    let stores = notation::TrustStores::load(store_dir)?;
    let scope = args.scope.as_deref().unwrap_or("");
    let envelope = read(path)?;
    // A file has no media type: the bytes tell JWS from COSE.
    let media_type = notation::media_type_of(&envelope);
    match notation::verify_envelope(media_type, &envelope, digest, &policy, &stores, scope, now) {
        // Accepted by a lenient level, but not something customs vouches for.
        Ok(verified) if let Some(reason) = verified.shortfall() => Ok(Err(Error::Refused {
            check: customs_verify::Check::TrustPolicy,
            reason,
        })),
        Ok(verified) => {
            let stamped = match &verified.timestamp {
                Some(stamp) => format!(", timestamped at {} by {}", stamp.time, stamp.authority),
                None => String::new(),
            };
            let line = format!(
                "Notation signature of {digest} by {} ({}, trust store {}, policy {:?}), signed at {}{stamped}",
                verified.leaf_subject,
                verified.signing_scheme.name(),
                verified.trust_store.as_deref().unwrap_or("none"),
                verified.policy,
                verified.signing_time
            );
            let json = json!({ "verified": true, "kind": "notation", "notation": verified });
            Ok(Ok((line, json)))
        }
        Err(Error::Unreadable { origin, reason }) => bail!("{origin}: {reason}"),
        Err(refusal) => Ok(Err(refusal)),
    }
}

/// `sha256:HEX` as given (lowercased), or the SHA-256 of a file.
fn artifact_digest(artifact: &str) -> Result<String> {
    if let Some(hex) = artifact.strip_prefix("sha256:") {
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("{artifact}: a sha256 digest is sha256: and 64 hex digits");
        }
        return Ok(artifact.to_ascii_lowercase());
    }
    Ok(sha256_digest(&read(Path::new(artifact))?))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}
