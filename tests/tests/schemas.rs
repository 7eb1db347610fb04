//! The JSON Schemas of what authors write (facts, CEL policies, bundle
//! manifests, waivers, test suites): the published copies in `schemas/`
//! are what `customs schema --kind` prints, and every example in the
//! repository — its YAML files and the YAML blocks of its docs — is valid
//! against its schema and loads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use serde_json::Value;

const KINDS: [&str; 5] = [
    "facts",
    "cel-policy",
    "bundle-manifest",
    "waivers",
    "test-suite",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn printed(kind: &str) -> String {
    let output = assert_cmd::Command::cargo_bin("customs")
        .unwrap()
        .args(["schema", "--kind", kind])
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_published_schemas_are_what_customs_prints() {
    for kind in KINDS {
        let path = root().join(format!("schemas/{kind}.schema.json"));
        let now = printed(kind);
        if std::env::var_os("CUSTOMS_UPDATE_SCHEMAS").is_some() {
            std::fs::write(&path, &now).unwrap();
        }
        let published = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            published == now,
            "{} is not what `customs schema --kind {kind}` prints: CUSTOMS_UPDATE_SCHEMAS=1 cargo test -p customs-tests --test integration schemas::",
            path.display()
        );
    }
}

/// Which schema a YAML document is written to, by its top-level keys.
fn kind_of(document: &Value) -> Option<&'static str> {
    let has = |key: &str| document.get(key).is_some();
    if has("validations") {
        Some("cel-policy")
    } else if has("cases") {
        Some("test-suite")
    } else if has("waivers") {
        Some("waivers")
    } else if has("policies") && has("version") {
        Some("bundle-manifest")
    } else {
        None
    }
}

/// The repository's YAML examples: files, and ```yaml blocks of the docs.
fn examples() -> Vec<(String, String)> {
    let mut found = Vec::new();
    let files = [
        "policies/cel/baseline.yaml",
        "policies/baseline/tests/baseline.test.yaml",
    ];
    for file in files {
        found.push((
            file.to_owned(),
            std::fs::read_to_string(root().join(file)).unwrap(),
        ));
    }
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.push(root().join("README.md"));
    for doc in docs {
        let text = std::fs::read_to_string(&doc).unwrap();
        let mut block: Option<(usize, String)> = None;
        for (number, line) in text.lines().enumerate() {
            match &mut block {
                None if line.trim_start().starts_with("```yaml") => {
                    block = Some((number + 1, String::new()))
                }
                Some((start, body)) if line.trim_start().starts_with("```") => {
                    found.push((
                        format!(
                            "{}:{start}",
                            doc.strip_prefix(root()).unwrap_or(&doc).display()
                        ),
                        std::mem::take(body),
                    ));
                    block = None;
                }
                Some((_, body)) => {
                    body.push_str(line);
                    body.push('\n');
                }
                None => {}
            }
        }
    }
    found
}

#[test]
fn every_example_is_valid_against_its_schema() {
    let validators: Vec<(&str, jsonschema::Validator)> = KINDS
        .iter()
        .map(|kind| {
            let schema: Value = serde_json::from_str(&printed(kind)).unwrap();
            (*kind, jsonschema::validator_for(&schema).unwrap())
        })
        .collect();
    let mut checked = std::collections::BTreeMap::<&str, usize>::new();
    let mut invalid = Vec::new();
    for (origin, text) in examples() {
        let Ok(document) = serde_saphyr::from_str::<Value>(&text) else {
            continue;
        };
        let Some(kind) = kind_of(&document) else {
            continue;
        };
        let validator = &validators.iter().find(|(k, _)| *k == kind).unwrap().1;
        for error in validator.iter_errors(&document) {
            invalid.push(format!(
                "{origin} ({kind}): {error} at {}",
                error.instance_path()
            ));
        }
        *checked.entry(kind).or_default() += 1;
    }
    assert!(invalid.is_empty(), "{invalid:#?}");
    // Each kind an author writes has at least one example checked.
    for kind in ["cel-policy", "test-suite", "waivers", "bundle-manifest"] {
        assert!(
            checked.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} example: {checked:?}"
        );
    }
}
