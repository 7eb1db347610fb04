//! Installed-package databases read from the final filesystem: apk
//! (`lib/apk/db/installed`) and dpkg (`var/lib/dpkg/status`, and
//! `var/lib/dpkg/status.d/*` as distroless writes it); rpm's sqlite
//! database is read in `crate::rpm`.

use customs_facts::Package;

/// The distribution, from `os-release`: its `ID` names the purl namespace
/// (`pkg:apk/alpine/...`, `pkg:deb/debian/...`).
#[derive(Debug, Default, Clone)]
pub(crate) struct OsRelease {
    pub(crate) id: Option<String>,
    pub(crate) version_id: Option<String>,
}

pub(crate) fn os_release(text: &str) -> OsRelease {
    let mut release = OsRelease::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"').trim_matches('\'').to_owned();
        match key.trim() {
            "ID" => release.id = Some(value),
            "VERSION_ID" => release.version_id = Some(value),
            _ => {}
        }
    }
    release
}

/// Paragraphs of `Key: value` (dpkg) or `K:value` (apk) lines.
fn paragraphs(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.split("\n\n")
        .map(|p| p.lines().collect::<Vec<_>>())
        .filter(|lines| lines.iter().any(|l| !l.trim().is_empty()))
}

/// The apk installed database.
pub(crate) fn apk(text: &str, os: &OsRelease) -> Vec<Package> {
    let namespace = os.id.as_deref().unwrap_or("alpine");
    paragraphs(text)
        .filter_map(|lines| {
            let field = |key: &str| {
                lines
                    .iter()
                    .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix(':')))
                    .map(str::to_owned)
            };
            let name = field("P")?;
            let version = field("V")?;
            let arch = field("A");
            Some(Package {
                purl: Some(purl("apk", namespace, &name, &version, arch.as_deref())),
                licenses: field("L").into_iter().collect(),
                source_name: field("o").filter(|o| *o != name),
                name,
                version,
                package_type: "apk".to_owned(),
                layer: None,
            })
        })
        .collect()
}

/// A dpkg status file: only packages whose status says installed (the
/// distroless `status.d` files carry no status: every one is installed).
pub(crate) fn dpkg(text: &str, os: &OsRelease) -> Vec<Package> {
    let namespace = os.id.as_deref().unwrap_or("debian");
    paragraphs(text)
        .filter_map(|lines| {
            let field = |key: &str| {
                lines.iter().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    (k == key).then(|| v.trim().to_owned())
                })
            };
            if let Some(status) = field("Status")
                && !status.ends_with(" installed")
            {
                return None;
            }
            let name = field("Package")?;
            let version = field("Version")?;
            let arch = field("Architecture");
            // "Source: openssl (3.0.11-1)": the name before any version.
            let source = field("Source")
                .and_then(|s| s.split_whitespace().next().map(str::to_owned))
                .filter(|s| *s != name);
            Some(Package {
                purl: Some(purl("deb", namespace, &name, &version, arch.as_deref())),
                licenses: Vec::new(),
                source_name: source,
                name,
                version,
                package_type: "deb".to_owned(),
                layer: None,
            })
        })
        .collect()
}

fn purl(kind: &str, namespace: &str, name: &str, version: &str, arch: Option<&str>) -> String {
    let qualifiers: Vec<(&str, String)> =
        arch.map(|a| ("arch", a.to_owned())).into_iter().collect();
    purl_with(kind, namespace, name, version, &qualifiers)
}

/// A purl with qualifiers (given in their sorted order, as the spec wants).
pub(crate) fn purl_with(
    kind: &str,
    namespace: &str,
    name: &str,
    version: &str,
    qualifiers: &[(&str, String)],
) -> String {
    let mut purl = format!(
        "pkg:{kind}/{}/{}@{}",
        encode(namespace),
        encode(name),
        encode(version)
    );
    for (index, (key, value)) in qualifiers.iter().enumerate() {
        purl.push(if index == 0 { '?' } else { '&' });
        purl.push_str(key);
        purl.push('=');
        purl.push_str(&encode(value));
    }
    purl
}

/// Percent-encodes what a purl segment may not hold (`+` in `1.2+dfsg`, `:` in epochs).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b".-_~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apk_and_dpkg_databases_give_packages_with_purls() {
        let os = os_release("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\n");
        let apk = apk(
            "C:Q1abc=\nP:musl\nV:1.2.5-r0\nA:x86_64\nL:MIT\no:musl\n\nP:busybox\nV:1.36.1-r29\nA:x86_64\nL:GPL-2.0-only\n",
            &os,
        );
        assert_eq!(apk.len(), 2);
        assert_eq!(
            apk[0].purl.as_deref(),
            Some("pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64")
        );
        assert_eq!(apk[0].source_name, None, "origin is the package itself");

        let debian = os_release("ID=debian\nVERSION_ID=\"12\"\n");
        let dpkg = dpkg(
            "Package: libssl3\nStatus: install ok installed\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\nSource: openssl (3.0.11-1)\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n",
            &debian,
        );
        assert_eq!(dpkg.len(), 1, "config-files is not installed");
        assert_eq!(
            dpkg[0].purl.as_deref(),
            Some("pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64")
        );
        assert_eq!(dpkg[0].source_name.as_deref(), Some("openssl"));
    }
}
