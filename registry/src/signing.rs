//! Signing bundles in cosign's formats: ECDSA P-256 key pairs as `cosign
//! generate-key-pair` writes them (an encrypted `SIGSTORE PRIVATE KEY` PEM and
//! a `PUBLIC KEY` PEM), and signatures as `cosign sign-blob` writes them
//! (base64 of an ASN.1 ECDSA-SHA256 signature). The sigstore crate does the
//! cryptography. Here rather than in the evaluation library, which only
//! verifies ([`customs::signing::VerifyingKey`]) and so needs none of it.

use base64::Engine as _;
use sigstore::crypto::SigningScheme;
use sigstore::crypto::signing_key::SigStoreKeyPair;
use zeroize::Zeroizing;

use customs::Error;

const SCHEME: SigningScheme = SigningScheme::ECDSA_P256_SHA256_ASN1;

/// A new key pair: (encrypted private key PEM, public key PEM).
pub fn generate_key_pair(password: &[u8]) -> Result<(Zeroizing<String>, String), Error> {
    let error = |e: sigstore::errors::SigstoreError| Error::Signature {
        origin: "new key pair".to_owned(),
        reason: e.to_string(),
    };
    let signer = SCHEME.create_signer().map_err(error)?;
    let pair = signer.to_sigstore_keypair().map_err(error)?;
    let private = pair.private_key_to_encrypted_pem(password).map_err(error)?;
    let public = pair.public_key_to_pem().map_err(error)?;
    Ok((private, public))
}

/// A private key that signs bundles.
pub struct SigningKey {
    signer: sigstore::crypto::SigStoreSigner,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    /// Reads a cosign private key (encrypted PEM; `password` may be empty).
    pub fn from_pem(origin: &str, pem: &[u8], password: &[u8]) -> Result<SigningKey, Error> {
        let error = |reason: String| Error::Signature {
            origin: origin.to_owned(),
            reason,
        };
        let pair = SigStoreKeyPair::from_encrypted_pem(pem, password).map_err(|e| {
            error(format!(
                "cannot read the private key (wrong password, or not a cosign key): {e}"
            ))
        })?;
        let signer = pair
            .to_sigstore_signer(&SCHEME)
            .map_err(|e| error(format!("the key is not an ECDSA P-256 key: {e}")))?;
        Ok(SigningKey { signer })
    }

    /// The base64 signature of `message`, as `cosign sign-blob` prints it.
    pub fn sign(&self, message: &[u8]) -> Result<String, Error> {
        let signature = self.signer.sign(message).map_err(|e| Error::Signature {
            origin: "signing".to_owned(),
            reason: e.to_string(),
        })?;
        Ok(base64::engine::general_purpose::STANDARD.encode(signature))
    }
}
