//! Bad input to every importer: a clear error that names the file and the
//! place (line and column, or the JSON path), never a panic.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use customs_facts::import::{Format, ImportError, Origin, import_as, import_bytes};
use customs_tests::corpus_files;

const KINDS: [&str; 12] = [
    "trivy",
    "grype",
    "cyclonedx",
    "syft-cyclonedx",
    "spdx",
    "syft-spdx",
    "openvex",
    "cosign",
    "oci-config",
    "oci-manifest",
    "docker-inspect",
    "other",
];

fn origin() -> Origin {
    Origin::named("bad.json")
}

#[test]
fn every_real_file_cut_short_is_a_syntax_error_with_a_position() {
    for kind in KINDS {
        for file in corpus_files(kind) {
            let bytes = std::fs::read(&file).unwrap();
            // Half the file, and the file without its closing bracket.
            let end = bytes
                .iter()
                .rposition(|b| !b.is_ascii_whitespace())
                .unwrap();
            for cut in [bytes.len() / 2, end] {
                match import_bytes(&origin(), &bytes[..cut]) {
                    Err(ImportError::Syntax { line, .. }) => assert!(line >= 1),
                    other => panic!("{} cut at {cut}: {other:?}", file.display()),
                }
            }
        }
    }
}

#[test]
fn wrong_types_name_the_json_path() {
    let cases: [(&[u8], &str); 6] = [
        (br#"{"matches": [{"vulnerability": {"id": 5}, "artifact": {"name": "x"}}], "source": {"type": "image"}}"#, "matches[0].vulnerability.id"),
        (br#"{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [{"name": ["x"]}]}"#, "components[0].name"),
        (br#"{"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "packages": [{"SPDXID": "a", "name": 1}]}"#, "packages[0].name"),
        (br#"{"@context": "https://openvex.dev/ns/v0.2.0", "statements": [{"vulnerability": {"name": "x"}, "status": 3}]}"#, "statements[0].status"),
        (br#"{"schemaVersion": 2, "config": {"digest": 1}, "layers": []}"#, "config.digest"),
        (br#"[{"Id": "sha256:x", "RepoTags": "not-a-list"}]"#, "[0].RepoTags"),
    ];
    for (doc, path) in cases {
        let err = import_bytes(&origin(), doc).unwrap_err();
        assert!(matches!(err, ImportError::Schema { .. }), "{path}: {err}");
        assert!(err.to_string().contains(path), "expected {path} in: {err}");
        assert!(err.to_string().starts_with("bad.json: "), "{err}");
    }
}

#[test]
fn unknown_versions_say_which_are_supported() {
    let cases: [(&[u8], &str); 5] = [
        (
            br#"{"SchemaVersion": 3, "Results": []}"#,
            "supported: SchemaVersion 2",
        ),
        (
            br#"{"bomFormat": "CycloneDX", "specVersion": "2.0"}"#,
            "supported: specVersion 1.2 to 1.7",
        ),
        (
            br#"{"spdxVersion": "SPDX-3.0", "SPDXID": "SPDXRef-DOCUMENT"}"#,
            "supported: SPDX-2.2 and SPDX-2.3",
        ),
        (br#"{"schema_version": "2", "image": {}}"#, "supported: 1"),
        (
            br#"{"apiVersion": "admission.k8s.io/v2", "kind": "AdmissionReview", "request": {}}"#,
            "supported: admission.k8s.io/v1",
        ),
    ];
    for (doc, expected) in cases {
        let err = import_bytes(&origin(), doc).unwrap_err();
        assert!(
            matches!(err, ImportError::UnsupportedVersion { .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains(expected),
            "expected {expected:?} in: {err}"
        );
    }
}

#[test]
fn duplicate_keys_are_refused() {
    let doc = br#"{"SchemaVersion": 2, "ArtifactType": "container_image", "ArtifactType": "filesystem", "Results": []}"#;
    let err = import_bytes(&origin(), doc).unwrap_err();
    assert!(
        err.to_string().contains("duplicate field `ArtifactType`"),
        "{err}"
    );
}

#[test]
fn deep_nesting_is_refused_without_a_stack_overflow() {
    let depth = 100_000;
    let mut doc = String::from(r#"{"SchemaVersion": 2, "Results": "#);
    doc.push_str(&"[".repeat(depth));
    doc.push_str(&"]".repeat(depth));
    doc.push('}');
    // Where a typed value is expected, the first nested array is already wrong.
    let err = import_bytes(&origin(), doc.as_bytes()).unwrap_err();
    assert!(err.to_string().starts_with("bad.json: "), "{err}");
    // Inside a value the importer skips, serde_json skips iteratively: no overflow, no error.
    let mut skipped = String::from(r#"{"SchemaVersion": 2, "Results": [], "Extra": "#);
    skipped.push_str(&"[".repeat(depth));
    skipped.push_str(&"]".repeat(depth));
    skipped.push('}');
    import_bytes(&origin(), skipped.as_bytes()).unwrap();
}

#[test]
fn invalid_utf8_is_a_syntax_error() {
    let mut doc = br#"{"SchemaVersion": 2, "ArtifactName": "app"#.to_vec();
    doc.extend_from_slice(&[0xff, 0xfe]);
    doc.extend_from_slice(br#"", "Results": []}"#);
    let err = import_bytes(&origin(), &doc).unwrap_err();
    assert!(matches!(err, ImportError::Syntax { .. }), "{err}");
}

#[test]
fn huge_numbers_and_strings_do_not_break_the_importer() {
    let doc = format!(
        r#"{{"SchemaVersion": 2, "ArtifactName": "{}", "Results": []}}"#,
        "a".repeat(8 << 20)
    );
    import_bytes(&origin(), doc.as_bytes()).unwrap();
    let doc = br#"{"SchemaVersion": 99999999999999999999999999, "Results": []}"#;
    assert!(import_bytes(&origin(), doc).is_err());
    let doc = br#"{"matches": [{"vulnerability": {"id": "x", "cvss": [{"metrics": {"baseScore": 1e999}}]}, "artifact": {"name": "x"}}], "source": {"type": "image"}}"#;
    assert!(import_bytes(&origin(), doc).is_err());
}

#[test]
fn a_format_that_does_not_fit_the_content_is_an_error_not_a_guess() {
    let trivy = std::fs::read(&corpus_files("trivy")[0]).unwrap();
    for format in Format::ALL {
        if format == Format::TrivyJson {
            continue;
        }
        // Either it does not parse as that format, or it parses to facts; never a panic.
        let _ = import_as(&origin(), &trivy, format);
    }
    let err = import_as(&origin(), &trivy, Format::GrypeJson).unwrap_err();
    assert!(err.to_string().contains("missing field `matches`"), "{err}");
}
