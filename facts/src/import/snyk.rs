//! Snyk container test results (`snyk container test IMAGE --json`): the OS
//! packages' vulnerabilities, and those of the applications in the image.
//!
//! Snyk lists a vulnerability once per dependency path; facts have no paths, so
//! repeats of one id in one package are merged (and counted in a warning). A
//! CVE id is used as the id when Snyk names one, so the finding merges with
//! other scanners'; the Snyk id and the other identifiers (GHSA, SUSE, ...)
//! are kept as aliases. The project `path` is the image reference, followed
//! by the path of an application inside it when Snyk tested one
//! (`sarim04/juiceshop:latest/juiceshop`). Snyk lists no packages, only the
//! vulnerable ones, so the facts have no package list.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Format, ImportError, Origin, parse_typed, plain_source};
use crate::model::{Base, Facts, FixState, Severity, Vulnerability};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Project {
    #[serde(default)]
    vulnerabilities: Vec<SnykVulnerability>,
    #[serde(default)]
    package_manager: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    dependency_count: Option<u64>,
    #[serde(default)]
    docker: Option<Docker>,
    #[serde(default)]
    applications: Vec<Project>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Docker {
    #[serde(default)]
    base_image: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SnykVulnerability {
    id: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    package_name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    fixed_in: Option<Vec<String>>,
    #[serde(default)]
    nearest_fixed_in_version: Option<String>,
    #[serde(default)]
    /// Kind (CVE, CWE, GHSA, ...) to ids; old npm advisories (NSP) are numbers.
    identifiers: Option<BTreeMap<String, Vec<serde_json::Value>>>,
    #[serde(default)]
    cvss_score: Option<f64>,
    #[serde(default)]
    publication_time: Option<String>,
}

fn ecosystem(package_manager: &str) -> &str {
    match package_manager {
        "pip" | "poetry" | "pipenv" => "pypi",
        "maven" | "gradle" | "sbt" => "maven",
        "gomodules" | "golangdep" => "gomod",
        "rubygems" => "gem",
        "yarn" | "npm" | "pnpm" => "npm",
        other => other,
    }
}

pub(super) fn import(origin: &Origin, bytes: &[u8]) -> Result<Facts, ImportError> {
    let project: Project = parse_typed(origin, bytes, Format::SnykJson)?;
    let mut facts = Facts::default();
    let mut warnings = Vec::new();
    if let Some(path) = project.path.as_deref().filter(|p| !p.is_empty()) {
        match image_of_path(path) {
            Some((reference, _application)) => facts.image.reference = Some(reference.to_owned()),
            None => warnings.push(format!(
                "the project path {path:?} is not an image reference (a {} input): the image is named by no reference",
                path.split_once(':').map_or("file", |(transport, _)| transport)
            )),
        }
    }
    warnings.push(format!(
        "Snyk lists only the packages a vulnerability was found in: the image's packages are unknown{} (add an SBOM)",
        project
            .dependency_count
            .map(|n| format!(" (Snyk counted {n} dependencies)"))
            .unwrap_or_default()
    ));
    if let Some(base) = project.docker.as_ref().and_then(|d| d.base_image.clone()) {
        facts.base.get_or_insert_with(Base::default).reference = Some(base);
    }
    let mut vulnerabilities: Vec<Vulnerability> = Vec::new();
    let mut repeats = 0;
    for p in std::iter::once(&project).chain(&project.applications) {
        let package_type = ecosystem(p.package_manager.as_deref().unwrap_or("unknown")).to_owned();
        for v in &p.vulnerabilities {
            let identifiers = v.identifiers.as_ref();
            let ids_of = |kind: &str, ids: &[serde_json::Value]| -> Vec<String> {
                ids.iter()
                    .filter_map(|id| match id {
                        serde_json::Value::String(id) => Some(id.clone()),
                        serde_json::Value::Number(n) => Some(format!("{kind}-{n}")),
                        _ => None,
                    })
                    .collect()
            };
            let cves = identifiers
                .and_then(|i| i.get("CVE"))
                .map(|ids| ids_of("CVE", ids))
                .unwrap_or_default();
            let id = cves.first().cloned().unwrap_or_else(|| v.id.clone());
            if vulnerabilities.iter().any(|known| {
                known.id == id
                    && known.package == v.package_name
                    && known.package_version == v.version
            }) {
                repeats += 1;
                continue;
            }
            let mut aliases: Vec<String> = cves.into_iter().skip(1).collect();
            if id != v.id {
                aliases.push(v.id.clone());
            }
            // Other advisories' ids (GHSA, SUSE, ALTERNATIVE); weaknesses
            // (CWE) are not ids of this vulnerability.
            let others = identifiers
                .into_iter()
                .flatten()
                .filter(|(kind, _)| *kind != "CVE" && *kind != "CWE")
                .flat_map(|(kind, ids)| ids_of(kind, ids));
            for other in others {
                if other != id && !aliases.contains(&other) {
                    aliases.push(other);
                }
            }
            // `fixedIn` is null where Snyk gives only the nearest fix.
            let fixed_versions: Vec<String> = match &v.fixed_in {
                Some(fixed) if !fixed.is_empty() => fixed.clone(),
                _ => v.nearest_fixed_in_version.iter().cloned().collect(),
            };
            vulnerabilities.push(Vulnerability {
                id,
                aliases,
                package: v.package_name.clone(),
                package_version: v.version.clone(),
                package_type: Some(package_type.clone()),
                purl: None,
                severity: v
                    .severity
                    .as_deref()
                    .and_then(Severity::parse_lenient)
                    .unwrap_or_default(),
                cvss_score: v.cvss_score,
                fix_state: if fixed_versions.is_empty() {
                    FixState::NotFixed
                } else {
                    FixState::Fixed
                },
                fixed_versions,
                title: v.title.clone(),
                published: v.publication_time.clone(),
                layer: None,
                locations: Vec::new(),
                vex_status: None,
                vex_justification: None,
                sources: vec!["snyk".to_owned()],
            });
        }
    }
    if repeats > 0 {
        warnings.push(format!("merged {repeats} repeated finding(s): Snyk lists a vulnerability once per dependency path"));
    }
    facts.vulnerabilities = Some(vulnerabilities);
    facts
        .sources
        .push(plain_source("snyk", Format::SnykJson, origin, warnings));
    Ok(facts)
}

/// The image reference at the start of a Snyk project path, and the path
/// of the application after it, if any: `sarim04/juiceshop:latest/juiceshop`
/// is the image `sarim04/juiceshop:latest` and its application `juiceshop`.
/// `None` for a path that names no image (`docker-archive:FILE`).
fn image_of_path(path: &str) -> Option<(&str, Option<&str>)> {
    // Snyk's archive inputs (`docker-archive:FILE`, `oci-archive:FILE`) name no image.
    if path
        .split_once(':')
        .is_some_and(|(transport, _)| ["docker-archive", "oci-archive"].contains(&transport))
    {
        return None;
    }
    // A first component with a dot, a port or `localhost` is a registry.
    let registry_len = match path.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first.len() + 1,
        _ => 0,
    };
    let rest = &path[registry_len..];
    // The tag or digest ends the reference; a `/` after it starts the application.
    let end = match rest.find(['@', ':']) {
        Some(at) => rest[at..]
            .find('/')
            .map_or(path.len(), |slash| registry_len + at + slash),
        None => path.len(),
    };
    let (reference, application) = path.split_at(end);
    let application = application.strip_prefix('/').filter(|a| !a.is_empty());
    (!reference.is_empty()).then_some((reference, application))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_paths_split_into_image_and_application() {
        assert_eq!(
            image_of_path("sarim04/juiceshop:latest/juiceshop"),
            Some(("sarim04/juiceshop:latest", Some("juiceshop")))
        );
        assert_eq!(image_of_path("cli-grouping"), Some(("cli-grouping", None)));
        assert_eq!(
            image_of_path("vulnerable:latest"),
            Some(("vulnerable:latest", None))
        );
        assert_eq!(
            image_of_path("localhost:5000/team/app:1.2/usr/src/app"),
            Some(("localhost:5000/team/app:1.2", Some("usr/src/app")))
        );
        assert_eq!(
            image_of_path("ghcr.io/acme/app@sha256:abc/opt/app"),
            Some(("ghcr.io/acme/app@sha256:abc", Some("opt/app")))
        );
        assert_eq!(
            image_of_path("docker-archive:a_container-engine-tls:8.2.0-28.tar"),
            None
        );
        assert_eq!(image_of_path("oci-archive:/tmp/app.tar"), None);
    }
}
