//! Checking bundle signatures in cosign's format: a `PUBLIC KEY` PEM (an
//! ECDSA P-256 key, as `cosign generate-key-pair` writes) and signatures as
//! `cosign sign-blob` writes them (base64 of an ASN.1 ECDSA-SHA256
//! signature). aws-lc-rs does the cryptography. Making keys and signing live
//! in `customs-registry` (`customs_registry::signing`): evaluating needs
//! neither.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use base64::Engine as _;
use spki::{ObjectIdentifier, SubjectPublicKeyInfoOwned};

use crate::error::Error;

/// id-ecPublicKey (RFC 5480).
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// secp256r1, the curve cosign keys use.
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// A public key that verifies bundle signatures.
#[derive(Clone)]
pub struct VerifyingKey {
    /// The uncompressed EC point.
    point: Vec<u8>,
    origin: String,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerifyingKey({})", self.origin)
    }
}

impl VerifyingKey {
    /// Reads a cosign public key (`PUBLIC KEY` PEM, ECDSA P-256).
    pub fn from_pem(origin: &str, pem: &[u8]) -> Result<VerifyingKey, Error> {
        let error = |reason: String| Error::Signature {
            origin: origin.to_owned(),
            reason: format!("not an ECDSA P-256 public key in PEM form: {reason}"),
        };
        let text = std::str::from_utf8(pem).map_err(|_| error("not text".to_owned()))?;
        // Read as leniently as cosign does: text around the block, base64
        // wrapped at any width. The DER inside is parsed strictly.
        let body = text
            .split_once("-----BEGIN PUBLIC KEY-----")
            .and_then(|(_, rest)| rest.split_once("-----END PUBLIC KEY-----"))
            .map(|(body, _)| body)
            .ok_or_else(|| error("no -----BEGIN PUBLIC KEY----- block".to_owned()))?;
        let base64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(base64)
            .map_err(|e| error(format!("the block is not base64: {e}")))?;
        let spki = SubjectPublicKeyInfoOwned::try_from(der.as_slice())
            .map_err(|e| error(e.to_string()))?;
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|parameters| parameters.decode_as::<ObjectIdentifier>().ok());
        if spki.algorithm.oid != EC_PUBLIC_KEY || curve != Some(P256) {
            return Err(error(format!(
                "a key of algorithm {}{}",
                spki.algorithm.oid,
                curve.map(|c| format!(" on curve {c}")).unwrap_or_default()
            )));
        }
        let point = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| error("the key bits are not whole bytes".to_owned()))?
            .to_vec();
        Ok(VerifyingKey {
            point,
            origin: origin.to_owned(),
        })
    }

    /// Checks a base64 signature (`cosign sign-blob` output) over `message`.
    /// `what` names the signed thing in the error.
    pub fn verify(&self, what: &str, message: &[u8], signature_b64: &str) -> Result<(), Error> {
        let error = |reason: String| Error::Signature {
            origin: what.to_owned(),
            reason,
        };
        let signature = base64::engine::general_purpose::STANDARD
            .decode(signature_b64.trim())
            .map_err(|e| error(format!("the signature is not base64: {e}")))?;
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.point)
            .verify(message, &signature)
            .map_err(|_| {
                error(format!(
                    "the signature does not match: the content changed after signing, or it was signed by another key than {}",
                    self.origin
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P384: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEDlZ9Sbyc69vpGsIkzhoddcTMcmlkm6iJ
UIKQGMVLQ4A5G5gHWM3xFuOnp+dS44IKcNDgr0HqbreE5z3JtcE6TBtuuWhm3OFT
27XLsNiVbsKfRotDklgu1ebrPpNdFtgM
-----END PUBLIC KEY-----
";

    #[test]
    fn keys_wrapped_at_any_width_with_text_around_are_read() {
        let (_, der) = spki::der::pem::decode_vec(P384.as_bytes()).unwrap();
        let one_line = base64::engine::general_purpose::STANDARD.encode(der);
        let pem = format!(
            "# a comment\n-----BEGIN PUBLIC KEY-----\n{one_line}\n-----END PUBLIC KEY-----\ntrailing text"
        );
        // Read as far as the algorithm check: the block itself was understood.
        let error = VerifyingKey::from_pem("wide.pub", pem.as_bytes()).unwrap_err();
        assert!(
            error.to_string().contains("on curve 1.3.132.0.34"),
            "{error}"
        );
    }

    #[test]
    fn only_ecdsa_p256_public_keys_are_read() {
        let error = VerifyingKey::from_pem("p384.pub", P384.as_bytes()).unwrap_err();
        assert!(
            error.to_string().contains("on curve 1.3.132.0.34"),
            "{error}"
        );
        for junk in [
            "",
            "not a key",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        ] {
            let error = VerifyingKey::from_pem("junk.pub", junk.as_bytes()).unwrap_err();
            assert!(
                error
                    .to_string()
                    .starts_with("junk.pub: signature check failed: not an ECDSA P-256 public key"),
                "{error}"
            );
        }
    }
}
