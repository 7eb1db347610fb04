//! Facts computed once on import from other facts, so no policy has to redo them.

use crate::model::{Image, OsInfo, User};

/// Derives the effective user from an image config's `USER` value.
///
/// Docker's forms: "", "name", "uid", "name:group", "uid:gid". An empty user
/// means the runtime default, which is root. A numeric uid 0 or the name "root"
/// is root whatever the group says.
pub fn user_from_config(config_user: &str) -> User {
    let trimmed = config_user.trim();
    let (user_part, group_part) = match trimmed.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (trimmed, None),
    };
    let uid = user_part.parse::<u32>().ok();
    let gid = group_part.and_then(|g| g.parse::<u32>().ok());
    let is_root = user_part.is_empty() || user_part == "root" || uid == Some(0);
    User {
        name: user_part.to_owned(),
        uid: uid.or(if user_part == "root" { Some(0) } else { None }),
        gid,
        is_root,
    }
}

/// The parts of an image reference, normalized the way Docker does
/// (`alpine` is `docker.io/library/alpine`).
#[derive(Debug, PartialEq, Eq)]
pub struct ReferenceParts<'a> {
    pub registry: &'a str,
    /// The repository without the registry; `library/` is added for official images.
    pub repository: String,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

/// Splits `[registry/]repository[:tag][@digest]`; `None` when it is not a reference.
///
/// Hand-written on purpose: the regex-based parser of `oci-spec` compiles its
/// grammar on first use, which measured ~80 ms per process, 8x the rest of a
/// whole `customs eval`.
pub fn split_image_reference(reference: &str) -> Option<ReferenceParts<'_>> {
    let (name_and_tag, digest) = match reference.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (reference, None),
    };
    // A tag is after the last ':' that follows the last '/' (a port is before a '/').
    let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
        Some(i) => (
            &name_and_tag[..last_slash + i],
            Some(&name_and_tag[last_slash + i + 1..]),
        ),
        None => (name_and_tag, None),
    };
    let (registry, path) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest),
        _ => ("docker.io", name),
    };
    let path_ok = !path.is_empty()
        && path.split('/').all(|part| {
            !part.is_empty()
                && part.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
        });
    let tag_ok = tag.is_none_or(|t| {
        !t.is_empty()
            && t.len() <= 128
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    });
    let digest_ok = digest.is_none_or(|d| {
        d.split_once(':')
            .is_some_and(|(alg, hex)| !alg.is_empty() && !hex.is_empty())
    });
    if !path_ok || !tag_ok || !digest_ok || registry.is_empty() {
        return None;
    }
    let repository = if registry == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_owned()
    };
    Some(ReferenceParts {
        registry,
        repository,
        tag,
        digest,
    })
}

/// Fills registry, repository and tag from `image.reference` when they are unset.
pub fn split_reference(image: &mut Image) {
    let Some(parts) = image.reference.as_deref().and_then(split_image_reference) else {
        return;
    };
    let ReferenceParts {
        registry,
        repository,
        tag,
        digest,
    } = parts;
    let (registry, tag, digest) = (
        registry.to_owned(),
        tag.map(str::to_owned),
        digest.map(str::to_owned),
    );
    image.registry.get_or_insert(registry);
    image.repository.get_or_insert(repository);
    if image.tag.is_none() {
        image.tag = tag;
    }
    if image.digest.is_none() {
        image.digest = digest;
    }
}

/// End-of-life dates (YYYY-MM-DD) of distribution releases that images are
/// commonly built on. Keyed by family and the version prefix that names a release.
/// Dates are the end of standard/security support as published by each project.
const EOL_TABLE: &[(&str, &str, &str)] = &[
    ("alpine", "3.9", "2020-11-01"),
    ("alpine", "3.10", "2021-05-01"),
    ("alpine", "3.11", "2021-11-01"),
    ("alpine", "3.12", "2022-05-01"),
    ("alpine", "3.13", "2022-11-01"),
    ("alpine", "3.14", "2023-05-01"),
    ("alpine", "3.15", "2023-11-01"),
    ("alpine", "3.16", "2024-05-23"),
    ("alpine", "3.17", "2024-11-22"),
    ("alpine", "3.18", "2025-05-09"),
    ("alpine", "3.19", "2025-11-01"),
    ("alpine", "3.20", "2026-04-01"),
    ("alpine", "3.21", "2026-11-01"),
    ("alpine", "3.22", "2027-05-01"),
    ("debian", "8", "2020-06-30"),
    ("debian", "9", "2022-06-30"),
    ("debian", "10", "2024-06-30"),
    ("debian", "11", "2026-08-31"),
    ("debian", "12", "2028-06-30"),
    ("debian", "13", "2030-06-30"),
    ("ubuntu", "16.04", "2021-04-30"),
    ("ubuntu", "18.04", "2023-05-31"),
    ("ubuntu", "20.04", "2025-05-31"),
    ("ubuntu", "22.04", "2027-06-01"),
    ("ubuntu", "24.04", "2029-05-31"),
    ("centos", "6", "2020-11-30"),
    ("centos", "7", "2024-06-30"),
    ("centos", "8", "2021-12-31"),
    ("redhat", "7", "2024-06-30"),
    ("redhat", "8", "2029-05-31"),
    ("redhat", "9", "2032-05-31"),
    ("rocky", "8", "2029-05-31"),
    ("rocky", "9", "2032-05-31"),
    ("amazon", "2018.03", "2023-12-31"),
    ("amazon", "2", "2026-06-30"),
    ("amazon", "2023", "2029-06-30"),
];

/// Looks up the end-of-life date of a distribution release.
pub fn os_eol(family: &str, version: &str) -> Option<&'static str> {
    let family = family.to_ascii_lowercase();
    EOL_TABLE
        .iter()
        .filter(|(f, release, _)| {
            *f == family
                && (version == *release
                    || version
                        .strip_prefix(release)
                        .is_some_and(|rest| rest.starts_with(['.', ' ', '-'])))
        })
        // The longest release prefix wins ("2018.03" over "2" for amazon).
        .max_by_key(|(_, release, _)| release.len())
        .map(|(_, _, date)| *date)
}

/// Builds OS facts, filling the end-of-life date from the table when the input has none.
pub fn os_info(family: &str, version: &str, eosl: Option<bool>) -> OsInfo {
    let family = family.trim().to_ascii_lowercase();
    OsInfo {
        eol: os_eol(&family, version).map(str::to_owned),
        family,
        version: version.trim().to_owned(),
        eosl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_forms_are_root() {
        for user in [
            "",
            "root",
            "0",
            "0:0",
            "root:root",
            "root:1000",
            "0:1000",
            "  ",
        ] {
            assert!(user_from_config(user).is_root, "{user:?} should be root");
        }
    }

    #[test]
    fn non_root_forms_are_not_root() {
        for user in [
            "nobody",
            "1000",
            "1000:1000",
            "app:app",
            "65532:65532",
            "10001:0",
        ] {
            assert!(
                !user_from_config(user).is_root,
                "{user:?} should not be root"
            );
        }
    }

    #[test]
    fn uid_and_gid_are_parsed() {
        let user = user_from_config("1000:2000");
        assert_eq!((user.uid, user.gid), (Some(1000), Some(2000)));
        assert_eq!(user_from_config("root").uid, Some(0));
        assert_eq!(user_from_config("app").uid, None);
    }

    #[test]
    fn eol_prefers_the_longest_release() {
        assert_eq!(os_eol("alpine", "3.10.2"), Some("2021-05-01"));
        assert_eq!(os_eol("alpine", "3.1"), None);
        assert_eq!(os_eol("amazon", "2018.03"), Some("2023-12-31"));
        assert_eq!(os_eol("amazon", "2 (Karoo)"), Some("2026-06-30"));
        assert_eq!(os_eol("debian", "10.13"), Some("2024-06-30"));
        assert_eq!(os_eol("Ubuntu", "18.04"), Some("2023-05-31"));
        assert_eq!(os_eol("plan9", "4"), None);
    }

    #[test]
    fn references_split_like_docker() {
        let parts =
            |r| split_image_reference(r).map(|p| (p.registry, p.repository, p.tag, p.digest));
        assert_eq!(
            parts("alpine"),
            Some(("docker.io", "library/alpine".into(), None, None))
        );
        assert_eq!(
            parts("alpine:3.20"),
            Some(("docker.io", "library/alpine".into(), Some("3.20"), None))
        );
        assert_eq!(
            parts("org/app:1"),
            Some(("docker.io", "org/app".into(), Some("1"), None))
        );
        assert_eq!(
            parts("localhost:5000/team/app:v1@sha256:abc"),
            Some((
                "localhost:5000",
                "team/app".into(),
                Some("v1"),
                Some("sha256:abc")
            ))
        );
        assert_eq!(
            parts("ghcr.io/o/r@sha256:abc"),
            Some(("ghcr.io", "o/r".into(), None, Some("sha256:abc")))
        );
        assert_eq!(
            parts("registry:5000/app"),
            Some(("registry:5000", "app".into(), None, None))
        );
        for bad in [
            "",
            "REDACTED",
            "a b",
            "app:",
            "ghcr.io/",
            "app@",
            "a//b",
            "app:bad tag",
        ] {
            assert_eq!(parts(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reference_is_split() {
        let mut image = Image {
            reference: Some("ghcr.io/aquasecurity/trivy-test-images:alpine-310".into()),
            ..Image::default()
        };
        split_reference(&mut image);
        assert_eq!(image.registry.as_deref(), Some("ghcr.io"));
        assert_eq!(
            image.repository.as_deref(),
            Some("aquasecurity/trivy-test-images")
        );
        assert_eq!(image.tag.as_deref(), Some("alpine-310"));
    }
}
