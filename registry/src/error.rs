//! What can go wrong between customs and a registry, each naming the reference.

use oci_client::errors::OciDistributionError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{reference}: not a registry reference: {reason}")]
    Reference { reference: String, reason: String },
    #[error("{reference}: cannot reach the registry: {reason}")]
    Unreachable { reference: String, reason: String },
    #[error(
        "{reference}: the registry refused access (401/403): log in (docker login, or CUSTOMS_REGISTRY_USERNAME and CUSTOMS_REGISTRY_PASSWORD) with an account that may {operation}"
    )]
    Unauthorized {
        reference: String,
        operation: String,
    },
    #[error("{reference}: not found in the registry (404)")]
    NotFound { reference: String },
    #[error("{reference}: the registry failed: {reason}")]
    Registry { reference: String, reason: String },
    #[error("{reference}: not a customs bundle: {reason}")]
    NotABundle { reference: String, reason: String },
    #[error("{reference}: {what} sha256 mismatch: expected {expected}, got {actual}")]
    Digest {
        reference: String,
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{reference}: not in the local bundle cache, and --pull never forbids the network")]
    NotCached { reference: String },
    #[error("{reference}: not signed by the given key: {reason}")]
    Unsigned { reference: String, reason: String },
    #[error("bundle cache {path}: {reason}")]
    Cache { path: String, reason: String },
    /// An image read could not be merged with the other inputs, or its
    /// signatures could not be checked.
    #[error("{reference}: {reason}")]
    Inputs { reference: String, reason: String },
    #[error(transparent)]
    Bundle(#[from] customs::Error),
    #[error(transparent)]
    Image(#[from] customs_image::ImageError),
}

impl Error {
    /// Says in a person's words what a registry call's failure means.
    pub(crate) fn from_oci(reference: &str, error: OciDistributionError) -> Error {
        let reference = reference.to_owned();
        match error {
            OciDistributionError::AuthenticationFailure(_)
            | OciDistributionError::UnauthorizedError { .. } => Error::Unauthorized {
                reference,
                operation: "read or write it".to_owned(),
            },
            OciDistributionError::ServerError {
                code: 401 | 403, ..
            } => Error::Unauthorized {
                reference,
                operation: "read or write it".to_owned(),
            },
            OciDistributionError::ImageManifestNotFoundError(_)
            | OciDistributionError::ServerError { code: 404, .. } => Error::NotFound { reference },
            OciDistributionError::RegistryError { envelope, .. }
                if envelope.errors.iter().any(|e| {
                    matches!(
                        e.code,
                        oci_client::errors::OciErrorCode::ManifestUnknown
                            | oci_client::errors::OciErrorCode::NotFound
                            | oci_client::errors::OciErrorCode::NameUnknown
                            | oci_client::errors::OciErrorCode::BlobUnknown
                    )
                }) =>
            {
                Error::NotFound { reference }
            }
            OciDistributionError::RegistryError { envelope, .. }
                if envelope.errors.iter().any(|e| {
                    matches!(
                        e.code,
                        oci_client::errors::OciErrorCode::Unauthorized
                            | oci_client::errors::OciErrorCode::Denied
                    )
                }) =>
            {
                Error::Unauthorized {
                    reference,
                    operation: "read or write it".to_owned(),
                }
            }
            OciDistributionError::RequestError(e) if e.is_connect() || e.is_timeout() => {
                Error::Unreachable {
                    reference,
                    reason: format!("{e} (is the registry running and the address right?)"),
                }
            }
            other => Error::Registry {
                reference,
                reason: other.to_string(),
            },
        }
    }
}
