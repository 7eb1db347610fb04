//! Applying VEX statements to vulnerabilities.
//!
//! A statement applies to a vulnerability when its id is the vulnerability's
//! id or one of its aliases (either way), when one of its products is this
//! image (a `pkg:oci` purl whose digest, if any, is the image's, and whose name
//! is the image's repository name) or the vulnerable package itself, and, when
//! it lists subcomponents, when one of them is the vulnerable package. Purl
//! qualifiers (arch, distro) are ignored; a version, when given, must match.
//! Later statements win over earlier ones, as documents are read in order.

use std::collections::HashMap;
use std::str::FromStr as _;

use packageurl::PackageUrl;

use crate::model::{Facts, Image, VexStatement, Vulnerability};

pub(crate) fn apply(facts: &mut Facts) {
    if facts.vex.is_empty() {
        return;
    }
    let Some(vulnerabilities) = facts.vulnerabilities.as_mut() else {
        return;
    };
    let by_name = index(vulnerabilities);
    let mut matched = Vec::new();
    for statement in &facts.vex {
        matched.clear();
        matched.extend(
            candidates(&by_name, statement)
                .filter(|&i| applies(statement, &facts.image, &vulnerabilities[i])),
        );
        for &i in &matched {
            let v = &mut vulnerabilities[i];
            v.vex_status = Some(statement.status);
            v.vex_justification = statement.justification.clone();
        }
    }
}

/// The vulnerabilities by id and by alias: a statement is compared only
/// with those it names, so 10,000 statements over 10,000 vulnerabilities
/// take 10,000 lookups, not 10^8 comparisons.
fn index(vulnerabilities: &[Vulnerability]) -> HashMap<String, Vec<usize>> {
    let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, v) in vulnerabilities.iter().enumerate() {
        for name in std::iter::once(&v.id).chain(&v.aliases) {
            let found = by_name.entry(name.clone()).or_default();
            if found.last() != Some(&i) {
                found.push(i);
            }
        }
    }
    by_name
}

/// The vulnerabilities a statement names, each once, in order.
fn candidates<'a>(
    by_name: &'a HashMap<String, Vec<usize>>,
    statement: &'a VexStatement,
) -> impl Iterator<Item = usize> + 'a {
    let mut found: Vec<usize> = statement
        .vulnerability
        .iter()
        .filter_map(|name| by_name.get(name))
        .flatten()
        .copied()
        .collect();
    found.sort_unstable();
    found.dedup();
    found.into_iter()
}

fn applies(statement: &VexStatement, image: &Image, v: &Vulnerability) -> bool {
    let names_match = statement
        .vulnerability
        .iter()
        .any(|name| *name == v.id || v.aliases.contains(name));
    names_match
        && (statement.products.is_empty()
            || statement
                .products
                .iter()
                .any(|p| is_this_image(p, image) || is_this_package(p, v)))
        && (statement.subcomponents.is_empty()
            || statement
                .subcomponents
                .iter()
                .any(|c| is_this_package(c, v)))
}

impl Facts {
    /// VEX statements that apply to no vulnerability of these facts: a typo, or
    /// a document about another image. Ask once every input is merged.
    pub fn unmatched_vex(&self) -> Vec<&VexStatement> {
        let vulnerabilities = self.vulnerabilities.as_deref().unwrap_or_default();
        let by_name = index(vulnerabilities);
        self.vex
            .iter()
            .filter(|statement| {
                !candidates(&by_name, statement)
                    .any(|i| applies(statement, &self.image, &vulnerabilities[i]))
            })
            .collect()
    }
}

fn is_this_image(product: &str, image: &Image) -> bool {
    let Ok(purl) = PackageUrl::from_str(product) else {
        return false;
    };
    if purl.ty() != "oci" {
        return false;
    }
    if let Some(version) = purl.version() {
        let digests = [&image.digest, &image.index_digest, &image.config_digest];
        if !digests.iter().any(|d| d.as_deref() == Some(version)) {
            return false;
        }
        return true;
    }
    // No digest: the product names the image by repository name only.
    image
        .repository
        .as_deref()
        .and_then(|r| r.rsplit('/').next())
        .is_some_and(|name| name == purl.name())
}

fn is_this_package(component: &str, v: &Vulnerability) -> bool {
    let Ok(wanted) = PackageUrl::from_str(component) else {
        return false;
    };
    if let Some(actual) = v.purl.as_deref().and_then(|p| PackageUrl::from_str(p).ok()) {
        return wanted.ty() == actual.ty()
            && wanted.namespace() == actual.namespace()
            && wanted.name() == actual.name()
            && wanted
                .version()
                .is_none_or(|ver| Some(ver) == actual.version());
    }
    // Without a purl on the finding, compare ecosystem, name and version.
    let ecosystem = match wanted.ty() {
        "golang" => "gomod",
        other => other,
    };
    v.package_type.as_deref() == Some(ecosystem)
        && wanted.name() == v.package
        && wanted.version().is_none_or(|ver| ver == v.package_version)
}
