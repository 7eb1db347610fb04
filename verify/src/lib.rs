//! Offline verification of what is said to be signed about a container
//! image: cosign signatures over simple-signing payloads and DSSE envelopes
//! carrying in-toto statements, against public keys given as files;
//! Sigstore bundles (message signatures and DSSE attestations, keyless or
//! with the caller's key) against a Sigstore trust root ([`bundle`]); and
//! cosign's older keyless signatures with their Rekor entry
//! ([`cosign::verify_keyless_simple_signing`]).
//!
//! Nothing here fetches anything: the caller brings the signature, the
//! payload, the key and the digest of the image being decided, and gets
//! back what verified (with the key it verified with) or which check
//! failed. A tool's claim that something "verified" is never an input.
//!
//! ```no_run
//! use customs_verify::{PublicKey, cosign};
//! let key = PublicKey::from_pem("cosign.pub", &std::fs::read("cosign.pub")?)?;
//! let payload = std::fs::read("payload.json")?;
//! let signature = std::fs::read_to_string("signature.b64")?;
//! let verified = cosign::verify_simple_signing(
//!     &payload,
//!     &signature,
//!     &key,
//!     Some("sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b"),
//! )?;
//! println!("{} signed by {}", verified.image_digest, verified.key_id);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bundle;
pub mod cosign;
pub mod dsse;
mod error;
pub mod evidence;
mod keys;
pub mod notation;
mod protojson;
pub mod rekor;
mod sct;
pub mod timestamp;
pub mod trust_root;
pub mod x509;

pub use bundle::{Bundle, Identity, Policy, Signed, Signer, VerifiedBundle, verify_bundle};
pub use error::{Check, Error};
pub use keys::{KeyAlgorithm, PublicKey};
pub use notation::{TrustPolicy, TrustStores, VerifiedNotation, verify_jws};
pub use timestamp::{Timestamp, TimestampTrust, verify_timestamp};
pub use trust_root::TrustedRoot;

/// `sha256:` and the hex SHA-256 of `bytes`: how an artifact is named.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}
