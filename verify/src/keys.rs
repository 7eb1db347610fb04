//! Public keys as PEM `PUBLIC KEY` blocks (SubjectPublicKeyInfo), the form
//! `cosign generate-key-pair`, `cosign public-key` and `openssl pkey -pubout`
//! write: ECDSA P-256 and P-384, Ed25519 and RSA.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use serde::Serialize;
use spki::der::{DecodePem, Encode};
use spki::{ObjectIdentifier, SubjectPublicKeyInfoOwned};

use crate::Error;

const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAlgorithm {
    EcdsaP256,
    EcdsaP384,
    Ed25519,
    Rsa,
}

impl KeyAlgorithm {
    /// The signature schemes a key of this kind is checked with. P-384 keys
    /// sign with SHA-384 or, as some Sigstore clients do, SHA-256; RSA keys
    /// with PKCS#1 v1.5 (cosign) or PSS (Notation). Each is a sound scheme
    /// bound to the key, so accepting several weakens nothing.
    fn schemes(self) -> &'static [&'static dyn VerificationAlgorithm] {
        match self {
            KeyAlgorithm::EcdsaP256 => &[&signature::ECDSA_P256_SHA256_ASN1],
            KeyAlgorithm::EcdsaP384 => &[
                &signature::ECDSA_P384_SHA384_ASN1,
                &signature::ECDSA_P384_SHA256_ASN1,
            ],
            KeyAlgorithm::Ed25519 => &[&signature::ED25519],
            KeyAlgorithm::Rsa => &[
                &signature::RSA_PKCS1_2048_8192_SHA256,
                &signature::RSA_PKCS1_2048_8192_SHA384,
                &signature::RSA_PKCS1_2048_8192_SHA512,
                &signature::RSA_PSS_2048_8192_SHA256,
                &signature::RSA_PSS_2048_8192_SHA384,
                &signature::RSA_PSS_2048_8192_SHA512,
            ],
        }
    }
}

/// A public key that signatures are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    algorithm: KeyAlgorithm,
    /// The key as the signature library takes it: an uncompressed EC point,
    /// the 32 Ed25519 bytes, or a PKCS#1 RSAPublicKey.
    key: Vec<u8>,
    id: String,
}

impl PublicKey {
    /// Reads a PEM `PUBLIC KEY` (SubjectPublicKeyInfo); `origin` names the
    /// file in errors.
    pub fn from_pem(origin: &str, pem: &[u8]) -> Result<PublicKey, Error> {
        if !pem.windows(10).any(|window| window == b"-----BEGIN") {
            return Err(Error::unreadable(
                origin,
                "not a PEM public key: no -----BEGIN PUBLIC KEY----- block",
            ));
        }
        let spki = SubjectPublicKeyInfoOwned::from_pem(trim_to_pem(pem)).map_err(|e| {
            Error::unreadable(origin, format!("not a PEM public key (PUBLIC KEY): {e}"))
        })?;
        PublicKey::from_spki(origin, &spki)
    }

    /// Reads a DER SubjectPublicKeyInfo.
    pub fn from_der(origin: &str, der: &[u8]) -> Result<PublicKey, Error> {
        let spki = SubjectPublicKeyInfoOwned::try_from(der).map_err(|e| {
            Error::unreadable(origin, format!("not a DER SubjectPublicKeyInfo: {e}"))
        })?;
        PublicKey::from_spki(origin, &spki)
    }

    /// Reads a DER PKCS#1 RSAPublicKey, the form trusted roots give some
    /// RSA log keys in (`PKCS1_RSA_PKCS1V5`).
    pub(crate) fn from_pkcs1_rsa_der(origin: &str, der: &[u8]) -> Result<PublicKey, Error> {
        use spki::der::asn1::{AnyRef, BitString};
        let spki = SubjectPublicKeyInfoOwned {
            algorithm: spki::AlgorithmIdentifierOwned {
                oid: RSA,
                parameters: Some(AnyRef::NULL.into()),
            },
            subject_public_key: BitString::from_bytes(der)
                .map_err(|e| Error::unreadable(origin, format!("not an RSA public key: {e}")))?,
        };
        PublicKey::from_spki(origin, &spki)
    }

    fn from_spki(origin: &str, spki: &SubjectPublicKeyInfoOwned) -> Result<PublicKey, Error> {
        let oid = spki.algorithm.oid;
        let algorithm = if oid == EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|parameters| parameters.decode_as::<ObjectIdentifier>().ok());
            match curve {
                Some(curve) if curve == P256 => KeyAlgorithm::EcdsaP256,
                Some(curve) if curve == P384 => KeyAlgorithm::EcdsaP384,
                Some(curve) => {
                    return Err(Error::unreadable(
                        origin,
                        format!("an EC key on curve {curve}: only P-256 and P-384 are supported"),
                    ));
                }
                None => return Err(Error::unreadable(origin, "an EC key names no curve")),
            }
        } else if oid == ED25519 {
            KeyAlgorithm::Ed25519
        } else if oid == RSA {
            KeyAlgorithm::Rsa
        } else {
            return Err(Error::unreadable(
                origin,
                format!(
                    "a public key of algorithm {oid}: supported are ECDSA P-256/P-384, Ed25519 and RSA"
                ),
            ));
        };
        let key = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| Error::unreadable(origin, "the public key bits are not whole bytes"))?
            .to_vec();
        let der = spki
            .to_der()
            .map_err(|e| Error::unreadable(origin, format!("cannot encode the key: {e}")))?;
        Ok(PublicKey {
            algorithm,
            key,
            id: crate::sha256_digest(&der),
        })
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// `sha256:` and the hex SHA-256 of the key's DER SubjectPublicKeyInfo:
    /// names the key in results (the same for its PEM and DER forms).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether `signature` is this key's signature over `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.algorithm.schemes().iter().any(|scheme| {
            UnparsedPublicKey::new(*scheme, &self.key)
                .verify(message, signature)
                .is_ok()
        })
    }
}

impl PublicKey {
    /// Whether `signature` is this key's signature over `message` by the
    /// X.509 signature algorithm `oid` (certificates and SCTs name theirs).
    pub(crate) fn verifies_as(
        &self,
        oid: ObjectIdentifier,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        let scheme: &'static dyn VerificationAlgorithm = match (self.algorithm, oid) {
            (KeyAlgorithm::EcdsaP256, ECDSA_SHA256) => &signature::ECDSA_P256_SHA256_ASN1,
            (KeyAlgorithm::EcdsaP256, ECDSA_SHA384) => &signature::ECDSA_P256_SHA384_ASN1,
            (KeyAlgorithm::EcdsaP384, ECDSA_SHA256) => &signature::ECDSA_P384_SHA256_ASN1,
            (KeyAlgorithm::EcdsaP384, ECDSA_SHA384) => &signature::ECDSA_P384_SHA384_ASN1,
            (KeyAlgorithm::Rsa, RSA_SHA256) => &signature::RSA_PKCS1_2048_8192_SHA256,
            (KeyAlgorithm::Rsa, RSA_SHA384) => &signature::RSA_PKCS1_2048_8192_SHA384,
            (KeyAlgorithm::Rsa, RSA_SHA512) => &signature::RSA_PKCS1_2048_8192_SHA512,
            (KeyAlgorithm::Ed25519, ED25519) => &signature::ED25519,
            _ => return false,
        };
        UnparsedPublicKey::new(scheme, &self.key)
            .verify(message, signature)
            .is_ok()
    }

    /// Whether `signature` is this key's signature over a message known only
    /// by its `digest` (Sigstore message signatures sign the artifact's
    /// digest; Ed25519 cannot be checked this way).
    pub(crate) fn verifies_digest(
        &self,
        digest: &aws_lc_rs::digest::Digest,
        signature: &[u8],
    ) -> bool {
        self.algorithm.schemes().iter().any(|scheme| {
            UnparsedPublicKey::new(*scheme, &self.key)
                .verify_digest(digest, signature)
                .is_ok()
        })
    }
}

pub(crate) const ECDSA_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
pub(crate) const ECDSA_SHA384: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
pub(crate) const RSA_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
pub(crate) const RSA_SHA384: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
pub(crate) const RSA_SHA512: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");

/// The label and DER of the first PEM block of `pem`, read as leniently as
/// [`PublicKey::from_pem`] reads keys.
pub(crate) fn pem_block(pem: &[u8]) -> Option<(String, Vec<u8>)> {
    spki::der::pem::decode_vec(&trim_to_pem(pem))
        .ok()
        .map(|(label, der)| (label.to_owned(), der))
}

/// PEM readers refuse text around the block; key files often have a
/// comment line before it, no final newline, or lines longer than 64.
fn trim_to_pem(pem: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(pem);
    let Some(start) = text.find("-----BEGIN") else {
        return pem.to_vec();
    };
    let block = &text[start..];
    let end = block
        .find("-----END")
        .and_then(|end| {
            let label = end + "-----END".len();
            block[label..]
                .find("-----")
                .map(|dashes| label + dashes + 5)
        })
        .unwrap_or(block.len());
    // The base64 rewrapped to 64 columns: strict PEM readers refuse the
    // longer lines some tools write (sigstore-go's publish_key.pub).
    let mut lines = block[..end].lines().map(str::trim);
    let (Some(begin), Some(end)) = (lines.next(), lines.next_back()) else {
        let mut trimmed = block[..end].to_owned();
        trimmed.push('\n');
        return trimmed.into_bytes();
    };
    let body: String = lines.collect();
    let mut trimmed = format!("{begin}\n");
    for chunk in body.as_bytes().chunks(64) {
        trimmed.push_str(&String::from_utf8_lossy(chunk));
        trimmed.push('\n');
    }
    trimmed.push_str(end);
    trimmed.push('\n');
    trimmed.into_bytes()
}
