//! Where an image is read from: `oci-layout:DIR[:TAG|@DIGEST]`,
//! `docker-archive:FILE` or `oci://REGISTRY/REPO:TAG|@DIGEST`.

use std::fmt;
use std::path::PathBuf;

use crate::ImageError;

/// An image source named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageSource {
    /// An OCI image layout directory (skopeo, crane, buildah, `docker buildx
    /// --output type=oci,tar=false`), and which of its images.
    OciLayout {
        dir: PathBuf,
        selector: Option<Selector>,
    },
    /// `docker save` / `podman save` output, in the legacy layout or the
    /// OCI layout Docker 25+ writes (both in one tar).
    DockerArchive {
        file: PathBuf,
        selector: Option<Selector>,
    },
    /// An image in a registry (`REGISTRY/REPO:TAG` or `@DIGEST`, without
    /// `oci://`). customs-image does no network: `customs_registry` pulls
    /// it into a temporary layout and reads that with [`crate::read_pulled`].
    Registry { reference: String },
}

/// Which image of a layout or archive that holds several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// A tag (`org.opencontainers.image.ref.name`, or a full reference as
    /// Docker records it).
    Tag(String),
    /// A manifest or index digest.
    Digest(String),
}

const OCI_LAYOUT: &str = "oci-layout:";
const DOCKER_ARCHIVE: &str = "docker-archive:";
const REGISTRY: &str = "oci://";

impl ImageSource {
    /// Whether `text` names an image source rather than a file.
    pub fn is_source(text: &str) -> bool {
        text.starts_with(OCI_LAYOUT)
            || text.starts_with(DOCKER_ARCHIVE)
            || text.starts_with(REGISTRY)
    }

    /// Parses `oci-layout:DIR[:TAG|@DIGEST]`, `docker-archive:FILE[:TAG|@DIGEST]`
    /// or `oci://REGISTRY/REPO[:TAG][@DIGEST]`.
    pub fn parse(text: &str) -> Result<ImageSource, ImageError> {
        if let Some(reference) = text.strip_prefix(REGISTRY) {
            if !reference.contains('/') {
                return Err(ImageError::Source(format!(
                    "{text:?} names no repository: use oci://REGISTRY/REPO:TAG or oci://REGISTRY/REPO@DIGEST"
                )));
            }
            return Ok(ImageSource::Registry {
                reference: reference.to_owned(),
            });
        }
        let (rest, layout) = if let Some(rest) = text.strip_prefix(OCI_LAYOUT) {
            (rest, true)
        } else if let Some(rest) = text.strip_prefix(DOCKER_ARCHIVE) {
            (rest, false)
        } else {
            return Err(ImageError::Source(format!(
                "{text:?} is not an image source: use oci-layout:DIR[:TAG|@DIGEST], docker-archive:FILE or oci://REGISTRY/REPO:TAG"
            )));
        };
        let (path, selector) = split_selector(rest);
        if path.is_empty() {
            return Err(ImageError::Source(format!("{text:?} names no path")));
        }
        let path = PathBuf::from(path);
        Ok(if layout {
            ImageSource::OciLayout {
                dir: path,
                selector,
            }
        } else {
            ImageSource::DockerArchive {
                file: path,
                selector,
            }
        })
    }

    /// Which image of a layout or archive; a registry reference is read
    /// from a layout holding only it.
    pub fn selector(&self) -> Option<&Selector> {
        match self {
            ImageSource::OciLayout { selector, .. }
            | ImageSource::DockerArchive { selector, .. } => selector.as_ref(),
            ImageSource::Registry { .. } => None,
        }
    }

    /// The format name recorded in the facts' sources.
    pub fn format(&self) -> &'static str {
        match self {
            ImageSource::OciLayout { .. } => "oci-layout",
            ImageSource::DockerArchive { .. } => "docker-archive",
            ImageSource::Registry { .. } => "registry",
        }
    }
}

/// `PATH@sha256:HEX` or `PATH:TAG` (a tag has no `/`, so `:` inside a
/// directory path is not taken for one).
fn split_selector(rest: &str) -> (&str, Option<Selector>) {
    if let Some((path, digest)) = rest.rsplit_once('@')
        && digest.contains(':')
    {
        return (path, Some(Selector::Digest(digest.to_owned())));
    }
    if let Some((path, tag)) = rest.rsplit_once(':')
        && !tag.is_empty()
        && !tag.contains('/')
        && !path.is_empty()
    {
        return (path, Some(Selector::Tag(tag.to_owned())));
    }
    (rest, None)
}

impl fmt::Display for ImageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageSource::OciLayout { dir, .. } => write!(f, "{OCI_LAYOUT}{}", dir.display())?,
            ImageSource::DockerArchive { file, .. } => {
                write!(f, "{DOCKER_ARCHIVE}{}", file.display())?
            }
            ImageSource::Registry { reference } => return write!(f, "{REGISTRY}{reference}"),
        }
        match self.selector() {
            Some(Selector::Tag(tag)) => write!(f, ":{tag}"),
            Some(Selector::Digest(digest)) => write!(f, "@{digest}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sources_parse_with_their_selectors() {
        assert_eq!(
            ImageSource::parse("oci-layout:out/app:1.2").unwrap(),
            ImageSource::OciLayout {
                dir: "out/app".into(),
                selector: Some(Selector::Tag("1.2".into()))
            }
        );
        assert_eq!(
            ImageSource::parse("oci-layout:/tmp/x@sha256:ab").unwrap(),
            ImageSource::OciLayout {
                dir: "/tmp/x".into(),
                selector: Some(Selector::Digest("sha256:ab".into()))
            }
        );
        assert_eq!(
            ImageSource::parse("docker-archive:app.tar").unwrap(),
            ImageSource::DockerArchive {
                file: "app.tar".into(),
                selector: None
            }
        );
        assert_eq!(
            ImageSource::parse("oci://127.0.0.1:5000/app:1").unwrap(),
            ImageSource::Registry {
                reference: "127.0.0.1:5000/app:1".into()
            }
        );
        assert!(ImageSource::parse("oci://app").is_err());
        assert!(ImageSource::parse("oci-layout:").is_err());
        assert!(ImageSource::parse("registry:x").is_err());
    }
}
