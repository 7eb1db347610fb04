//! What can go wrong reading an image: each error names the image, and where
//! it applies the blob (layer digest) and the entry.

use thiserror::Error;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The source string is not one customs reads.
    #[error("{0}")]
    Source(String),
    /// A file of the layout or archive could not be read.
    #[error("{image}: cannot read {what}: {source}")]
    Io {
        image: String,
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The layout or archive is not what it claims to be.
    #[error("{image}: {message}")]
    Invalid { image: String, message: String },
    /// A blob's bytes do not hash to the digest its descriptor names.
    #[error("{image}: blob {digest} does not match its digest (its bytes hash to {actual})")]
    DigestMismatch {
        image: String,
        digest: String,
        actual: String,
    },
    /// A layer could not be read as a (compressed) tar stream, or broke a rule.
    #[error("{image}: layer {layer}{}: {message}", entry.as_ref().map(|e| format!(", entry {e:?}")).unwrap_or_default())]
    Layer {
        image: String,
        layer: String,
        entry: Option<String>,
        message: String,
    },
    /// A bound on the work of reading one image was reached.
    #[error("{image}: {message} (a limit; see ImageLimits)")]
    Limit { image: String, message: String },
    /// The manifest or config did not import as facts.
    #[error(transparent)]
    Import(#[from] customs_facts::import::ImportError),
}
