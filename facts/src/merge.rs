//! Merging facts about one image from several inputs.
//!
//! Lists are merged through an index keyed like DESIGN.md says (packages by purl
//! or type+name+version; vulnerabilities by id+package+version), so merging is
//! linear in the number of entries.

use std::collections::HashMap;

use crate::derive::{os_info, split_reference, user_from_config};
use crate::model::{Facts, Package, Vulnerability};

/// Why facts could not be merged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    #[error(
        "the inputs describe different images: {field} is {first} in {first_source} but {second} in {second_source}; evaluate each image on its own"
    )]
    DifferentImages {
        field: &'static str,
        first: String,
        first_source: String,
        second: String,
        second_source: String,
    },
}

impl Facts {
    /// Computes derived facts: user from config, reference parts, OS end of life.
    pub fn normalize(&mut self) {
        split_reference(&mut self.image);
        if let Some(config) = &self.config {
            self.user = Some(user_from_config(&config.user));
        }
        if let Some(os) = self.base.as_mut().and_then(|b| b.os.as_mut())
            && os.eol.is_none()
        {
            os.eol = os_info(&os.family, &os.version, os.eosl).eol;
        }
        // One report may list the same CVE of the same package twice (Grype,
        // for each path the package was found at): one vulnerability.
        if let Some(list) = self.vulnerabilities.take() {
            let mut merged = None;
            merge_list(&mut merged, Some(list), vulnerability_key, merge_duplicate);
            self.vulnerabilities = merged;
        }
        crate::vex::apply(self);
    }

    /// Merges `other` (facts about the same image) into `self`.
    pub fn merge(&mut self, other: Facts) -> Result<(), MergeError> {
        self.check_same_image(&other)?;
        let Facts {
            schema_version: _,
            image,
            base,
            config,
            user: _,
            history,
            layers,
            packages,
            vulnerabilities,
            secrets,
            misconfigurations,
            signatures,
            attestations,
            files,
            workload,
            sources,
            vex,
        } = other;

        let mine = &mut self.image;
        fill(&mut mine.reference, image.reference);
        fill(&mut mine.registry, image.registry);
        fill(&mut mine.repository, image.repository);
        fill(&mut mine.tag, image.tag);
        fill(&mut mine.digest, image.digest);
        fill(&mut mine.index_digest, image.index_digest);
        fill(&mut mine.config_digest, image.config_digest);
        fill(&mut mine.os, image.os);
        fill(&mut mine.architecture, image.architecture);
        fill(&mut mine.created, image.created);
        for (k, v) in image.labels {
            mine.labels.entry(k).or_insert(v);
        }
        for (k, v) in image.annotations {
            mine.annotations.entry(k).or_insert(v);
        }
        if let Some(base) = base {
            let mine = self.base.get_or_insert_with(Default::default);
            fill(&mut mine.reference, base.reference);
            fill(&mut mine.digest, base.digest);
            fill(&mut mine.os, base.os);
        }
        fill(&mut self.config, config);
        fill(&mut self.history, history);
        fill(&mut self.layers, layers);
        fill(&mut self.workload, workload);
        // Read from the image's layers: one reading of one digest is the truth.
        fill(&mut self.files, files);
        merge_list(&mut self.packages, packages, package_key, |_, _| {});
        merge_list(
            &mut self.vulnerabilities,
            vulnerabilities,
            vulnerability_key,
            merge_vulnerability,
        );
        concat(&mut self.secrets, secrets);
        concat(&mut self.misconfigurations, misconfigurations);
        concat(&mut self.signatures, signatures);
        concat(&mut self.attestations, attestations);
        self.sources.extend(sources);
        self.vex.extend(vex);
        self.normalize();
        Ok(())
    }

    /// Merges a list of facts about one image into one document.
    pub fn merge_all(all: impl IntoIterator<Item = Facts>) -> Result<Facts, MergeError> {
        let mut iter = all.into_iter();
        let mut merged = iter.next().unwrap_or_default();
        for next in iter {
            merged.merge(next)?;
        }
        merged.normalize();
        Ok(merged)
    }

    /// Everything the inputs held that the facts do not use, one line each
    /// as `INPUT: what`: each importer's warnings, then the VEX statements
    /// that apply to no vulnerability. Ask once every input is merged.
    ///
    /// At most [`MAX_WARNINGS`] lines of at most [`MAX_WARNING_CHARS`]
    /// characters each, then a count of the rest: an input cannot make the
    /// diagnostics outgrow it.
    pub fn import_warnings(&self) -> Vec<String> {
        let from_importers = self.sources.iter().flat_map(|source| {
            let input = source.file.as_deref().unwrap_or(&source.format);
            source
                .warnings
                .iter()
                .map(move |warning| format!("{input}: {warning}"))
        });
        let unmatched_vex = self.unmatched_vex().into_iter().map(|statement| {
            format!(
                "{}: the VEX statement for {} ({}) applies to no vulnerability of this image",
                statement.source,
                statement.vulnerability.join(" / "),
                statement.status.as_str()
            )
        });
        let mut warnings: Vec<String> = from_importers
            .chain(unmatched_vex)
            .map(|warning| shortened(warning, MAX_WARNING_CHARS))
            .collect();
        if warnings.len() > MAX_WARNINGS {
            let more = warnings.len() - MAX_WARNINGS;
            warnings.truncate(MAX_WARNINGS);
            warnings.push(format!("{more} more importer warnings not shown"));
        }
        warnings
    }

    fn check_same_image(&self, other: &Facts) -> Result<(), MergeError> {
        let pairs = [
            ("image.digest", &self.image.digest, &other.image.digest),
            (
                "image.index_digest",
                &self.image.index_digest,
                &other.image.index_digest,
            ),
            (
                "image.config_digest",
                &self.image.config_digest,
                &other.image.config_digest,
            ),
        ];
        for (field, a, b) in pairs {
            if let (Some(a), Some(b)) = (a, b)
                && a != b
            {
                return Err(MergeError::DifferentImages {
                    field,
                    first: a.clone(),
                    first_source: describe_sources(self),
                    second: b.clone(),
                    second_source: describe_sources(other),
                });
            }
        }
        Ok(())
    }
}

fn describe_sources(facts: &Facts) -> String {
    let names: Vec<&str> = facts
        .sources
        .iter()
        .map(|s| s.file.as_deref().unwrap_or(&s.tool))
        .collect();
    if names.is_empty() {
        "an input".to_owned()
    } else {
        names.join(", ")
    }
}

fn fill<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}

fn concat<T>(slot: &mut Option<Vec<T>>, more: Option<Vec<T>>) {
    if let Some(more) = more {
        slot.get_or_insert_with(Vec::new).extend(more);
    }
}

fn merge_list<T, K: std::hash::Hash + Eq>(
    slot: &mut Option<Vec<T>>,
    more: Option<Vec<T>>,
    key: impl Fn(&T) -> K,
    combine: impl Fn(&mut T, T),
) {
    let Some(more) = more else { return };
    let list = slot.get_or_insert_with(Vec::new);
    let mut index: HashMap<K, usize> = list
        .iter()
        .enumerate()
        .map(|(i, item)| (key(item), i))
        .collect();
    for item in more {
        match index.get(&key(&item)) {
            Some(&i) => combine(&mut list[i], item),
            None => {
                index.insert(key(&item), list.len());
                list.push(item);
            }
        }
    }
}

fn package_key(p: &Package) -> (String, String, String) {
    match &p.purl {
        // The qualifiers (arch, distro) differ between tools; type/namespace/name@version do not.
        Some(purl) => (
            purl.split(['?', '#']).next().unwrap_or(purl).to_owned(),
            String::new(),
            String::new(),
        ),
        None => (p.package_type.clone(), p.name.clone(), p.version.clone()),
    }
}

fn vulnerability_key(v: &Vulnerability) -> (String, String, String) {
    (v.id.clone(), v.package.clone(), v.package_version.clone())
}

fn merge_vulnerability(mine: &mut Vulnerability, other: Vulnerability) {
    mine.severity = mine.severity.max(other.severity);
    if mine.cvss_score.is_none() || other.cvss_score > mine.cvss_score {
        mine.cvss_score = other.cvss_score.or(mine.cvss_score);
    }
    for source in other.sources {
        if !mine.sources.contains(&source) {
            mine.sources.push(source);
        }
    }
    for version in other.fixed_versions {
        if !mine.fixed_versions.contains(&version) {
            mine.fixed_versions.push(version);
        }
    }
    for alias in other.aliases {
        if !mine.aliases.contains(&alias) {
            mine.aliases.push(alias);
        }
    }
    for location in other.locations {
        if !mine.locations.contains(&location) {
            mine.locations.push(location);
        }
    }
    if mine.fix_state == crate::model::FixState::Unknown {
        mine.fix_state = other.fix_state;
    }
    fill(&mut mine.vex_status, other.vex_status);
    fill(&mut mine.vex_justification, other.vex_justification);
    fill(&mut mine.published, other.published);
    fill(&mut mine.title, other.title);
    fill(&mut mine.layer, other.layer);
    fill(&mut mine.purl, other.purl);
    fill(&mut mine.package_type, other.package_type);
}

/// Two copies of one finding in one report (one per path): merged as two
/// reports' are, except that it stays suppressed (`not_affected`, `fixed`)
/// only if every copy says so; one copy affected keeps it counted.
fn merge_duplicate(mine: &mut Vulnerability, other: Vulnerability) {
    use crate::model::VexStatus;
    let suppressed = |status: Option<VexStatus>| {
        matches!(status, Some(VexStatus::NotAffected | VexStatus::Fixed))
    };
    let open = if suppressed(mine.vex_status) && !suppressed(other.vex_status) {
        Some((other.vex_status, other.vex_justification.clone()))
    } else {
        None
    };
    merge_vulnerability(mine, other);
    if let Some((status, justification)) = open {
        mine.vex_status = status;
        mine.vex_justification = justification;
    }
}

/// The most importer warnings [`Facts::import_warnings`] lists.
const MAX_WARNINGS: usize = 50;
/// The longest importer warning, in characters.
const MAX_WARNING_CHARS: usize = 512;

/// `text` cut to `max` characters, with `…` when cut.
fn shortened(mut text: String, max: usize) -> String {
    if let Some((at, _)) = text.char_indices().nth(max) {
        text.truncate(at);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod duplicate_tests {
    use super::*;
    use crate::model::VexStatus;

    #[test]
    fn a_duplicate_stays_counted_unless_every_copy_is_suppressed() {
        let copy = |status: Option<VexStatus>, path: &str| Vulnerability {
            id: "CVE-1".into(),
            package: "p".into(),
            package_version: "1".into(),
            vex_status: status,
            locations: vec![path.into()],
            ..Vulnerability::default()
        };
        let mut facts = Facts {
            vulnerabilities: Some(vec![
                copy(Some(VexStatus::NotAffected), "/a"),
                copy(None, "/b"),
            ]),
            ..Facts::default()
        };
        facts.normalize();
        let list = facts.vulnerabilities.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].vex_status, None);
        assert_eq!(list[0].locations, ["/a", "/b"]);
        let mut facts = Facts {
            vulnerabilities: Some(vec![
                copy(Some(VexStatus::NotAffected), "/a"),
                copy(Some(VexStatus::Fixed), "/b"),
            ]),
            ..Facts::default()
        };
        facts.normalize();
        assert_eq!(
            facts.vulnerabilities.unwrap()[0].vex_status,
            Some(VexStatus::NotAffected)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Severity, Source};

    fn vuln(id: &str, severity: Severity, source: &str) -> Vulnerability {
        Vulnerability {
            id: id.into(),
            package: "openssl".into(),
            package_version: "1.1".into(),
            severity,
            sources: vec![source.into()],
            ..Default::default()
        }
    }

    #[test]
    fn vulnerabilities_dedupe_keep_highest_severity_and_union_sources() {
        let mut a = Facts {
            vulnerabilities: Some(vec![vuln("CVE-1", Severity::Medium, "trivy")]),
            ..Default::default()
        };
        let b = Facts {
            vulnerabilities: Some(vec![
                vuln("CVE-1", Severity::High, "grype"),
                vuln("CVE-2", Severity::Low, "grype"),
            ]),
            ..Default::default()
        };
        a.merge(b).unwrap();
        let vulns = a.vulnerabilities.unwrap();
        assert_eq!(vulns.len(), 2);
        assert_eq!(vulns[0].severity, Severity::High);
        assert_eq!(vulns[0].sources, vec!["trivy", "grype"]);
    }

    #[test]
    fn different_digests_are_refused() {
        let mut a = Facts::default();
        a.image.digest = Some("sha256:aaa".into());
        a.sources.push(Source {
            tool: "trivy".into(),
            format: "trivy-json".into(),
            file: Some("a.json".into()),
            ..Default::default()
        });
        let mut b = Facts::default();
        b.image.digest = Some("sha256:bbb".into());
        let err = a.merge(b).unwrap_err().to_string();
        assert!(
            err.contains("image.digest is sha256:aaa in a.json but sha256:bbb"),
            "{err}"
        );
    }

    #[test]
    fn unknown_stays_unknown_and_known_wins() {
        let mut a = Facts::default();
        a.merge(Facts {
            secrets: Some(vec![]),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(a.secrets, Some(vec![]));
        assert_eq!(a.signatures, None);
    }
}
