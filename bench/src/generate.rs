//! Generated facts of a chosen size, deterministic (the same sizes always give
//! the same document), shaped like a real scan: a trusted base, a non-root
//! user, a signature and provenance, packages with a few shells and build
//! tools among them, and vulnerabilities of every severity, some fixable.

use customs_facts::{
    Attestation, Base, Config, Facts, FixState, Package, Severity, Signature, SignatureKind, Trust,
    Vulnerability,
};

/// The sizes of the issue: (name, packages, vulnerabilities).
pub const SIZES: [(&str, usize, usize); 3] = [
    ("small", 50, 20),
    ("medium", 500, 200),
    ("large", 5_000, 2_000),
];

/// Facts with `packages` packages and `vulnerabilities` vulnerabilities,
/// created `age_days` before `now`.
pub fn facts(packages: usize, vulnerabilities: usize, now: i64, age_days: i64) -> Facts {
    let created = chrono::DateTime::from_timestamp(now - age_days * 86_400, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    let package_list: Vec<Package> = (0..packages)
        .map(|i| Package {
            // Every 97th package a shell, every 211th a build tool.
            name: match i {
                i if i % 211 == 7 => "gcc".to_owned(),
                i if i % 97 == 3 => "bash".to_owned(),
                i => format!("lib{i}"),
            },
            version: format!("1.{}.{}", i % 17, i % 5),
            package_type: "deb".to_owned(),
            ..Default::default()
        })
        .collect();
    let vulnerability_list: Vec<Vulnerability> = (0..vulnerabilities)
        .map(|i| {
            // A quarter fixable, so fixable criticals and highs occur.
            let fixed = i % 4 == 1;
            Vulnerability {
                id: format!("CVE-2026-{:05}", 10_000 + i),
                package: format!("lib{}", i % packages.max(1)),
                package_version: "1.0.0".to_owned(),
                severity: Severity::ALL[i % Severity::ALL.len()],
                fixed_versions: if fixed {
                    vec!["1.0.1".to_owned()]
                } else {
                    vec![]
                },
                fix_state: if fixed {
                    FixState::Fixed
                } else {
                    FixState::NotFixed
                },
                ..Default::default()
            }
        })
        .collect();
    let mut facts = Facts {
        schema_version: "1".to_owned(),
        config: Some(Config {
            user: "1000:1000".into(),
            ..Default::default()
        }),
        base: Some(Base {
            reference: Some("gcr.io/distroless/static:nonroot".into()),
            ..Default::default()
        }),
        packages: Some(package_list),
        vulnerabilities: Some(vulnerability_list),
        secrets: Some(vec![]),
        signatures: Some(vec![Signature {
            kind: SignatureKind::Cosign,
            verified: true,
            // As customs records a signature it checked itself.
            trust: Trust::Verified,
            verified_by: Some("customs".into()),
            key_id: None,
            issuer: Some("https://token.actions.githubusercontent.com".into()),
            subject: Some("ci@example.com".into()),
            rekor_log_index: Some(1),
        }]),
        attestations: Some(vec![Attestation {
            predicate_type: "https://slsa.dev/provenance/v1".into(),
            verified: true,
            trust: Trust::Verified,
            builder_id: Some("https://github.com/actions/runner".into()),
            ..Default::default()
        }]),
        ..Default::default()
    };
    facts.image.reference = Some("registry.example.com/shop/api:1.4.2".into());
    facts.image.created = Some(created);
    facts.normalize();
    facts
}
