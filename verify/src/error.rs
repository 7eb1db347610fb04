//! The two ways verification ends without a result: input that cannot be
//! read (a usage error), and input that reads but does not verify (a deny).

use std::fmt;

use serde::Serialize;

/// Which check refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// The signature is not the key's signature over the signed bytes.
    Signature,
    /// The signed payload names another image than the one decided.
    ImageDigest,
    /// No subject of an in-toto statement is the artifact decided.
    Subject,
    /// The envelope carries something other than what was expected.
    PayloadType,
    /// The signing certificate does not chain to a trusted certificate
    /// authority at the signing time.
    Certificate,
    /// The certificate names another signer (SAN) or OIDC issuer than the
    /// policy's, or the bundle is signed with a key where the policy names
    /// an identity (or with a certificate where it names a key).
    Identity,
    /// The transparency log entry is not the log's (signed entry timestamp,
    /// inclusion proof, checkpoint) or does not describe this signature.
    TransparencyLog,
    /// The signed time lies outside the signing certificate's validity.
    Timestamp,
    /// No certificate transparency log of the trust root saw the certificate.
    CertificateTransparency,
    /// The bundle signs another artifact than the one decided.
    ArtifactDigest,
    /// The bundle needs a kind of verification not implemented here, so
    /// nothing of it is verified.
    Unsupported,
    /// The signature's own expiry (Notation `io.cncf.notary.expiry`) has
    /// passed.
    Expiry,
    /// No statement of the trust policy covers the artifact's repository.
    TrustPolicy,
}

impl Check {
    pub fn name(self) -> &'static str {
        match self {
            Check::Signature => "signature",
            Check::ImageDigest => "image-digest",
            Check::Subject => "subject",
            Check::PayloadType => "payload-type",
            Check::Certificate => "certificate",
            Check::Identity => "identity",
            Check::TransparencyLog => "transparency-log",
            Check::Timestamp => "timestamp",
            Check::CertificateTransparency => "certificate-transparency",
            Check::ArtifactDigest => "artifact-digest",
            Check::Unsupported => "unsupported",
            Check::Expiry => "expiry",
            Check::TrustPolicy => "trust-policy",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A key, signature, payload or envelope that cannot be read: names
    /// the input and what is wrong with it.
    #[error("{origin}: {reason}")]
    Unreadable { origin: String, reason: String },
    /// Read, and not verified: the check that failed and why.
    #[error("not verified ({check}): {reason}")]
    Refused { check: Check, reason: String },
}

impl Error {
    pub(crate) fn unreadable(origin: &str, reason: impl Into<String>) -> Error {
        Error::Unreadable {
            origin: origin.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn refused(check: Check, reason: impl Into<String>) -> Error {
        Error::Refused {
            check,
            reason: reason.into(),
        }
    }

    /// Whether the input was read and refused (rather than unreadable).
    pub fn is_refusal(&self) -> bool {
        matches!(self, Error::Refused { .. })
    }
}
