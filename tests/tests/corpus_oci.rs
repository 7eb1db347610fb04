//! OCI config, manifest and index documents and `docker inspect` output from
//! ../shared/corpus: digests are computed from content, and the documents of
//! one image merge into one facts document.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use customs_facts::Facts;
use customs_facts::import::{Format, ImportError, Origin, detect, import_bytes, import_file};
use customs_tests::{corpus_dir, corpus_files};
use serde_json::Value;

fn facts(path: &str) -> Facts {
    import_file(&corpus_dir().join(path)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_document_is_detected_and_imported() {
    let kinds = [
        ("oci-config", Format::OciConfig),
        ("docker-inspect", Format::DockerInspect),
    ];
    for (kind, format) in kinds {
        for file in corpus_files(kind) {
            let bytes = std::fs::read(&file).unwrap();
            assert_eq!(
                detect(&Origin::file(&file), &bytes).unwrap(),
                format,
                "{}",
                file.display()
            );
            import_file(&file).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    for file in corpus_files("oci-manifest") {
        let bytes = std::fs::read(&file).unwrap();
        let expected = if file.to_string_lossy().ends_with(".index.json") {
            Format::OciIndex
        } else {
            Format::OciManifest
        };
        assert_eq!(
            detect(&Origin::file(&file), &bytes).unwrap(),
            expected,
            "{}",
            file.display()
        );
        import_file(&file).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn content_digests_match_the_registry_blobs() {
    // The regclient files are registry blobs; SOURCES.md names each by its digest.
    let cases = [
        (
            "oci-config/regclient-testrepo-v1-amd64.config.json",
            "sha256:03d7b3c657a4af5b4ff7967bf843d04a93008f28d658a7df3f679b2c7e519639",
        ),
        (
            "oci-config/regclient-testrepo-v3-arm-v6.config.json",
            "sha256:0da9b7d747f276cec5405049196715887f14e4d4895c64c1491be05682968333",
        ),
    ];
    for (path, digest) in cases {
        assert_eq!(
            facts(path).image.config_digest.as_deref(),
            Some(digest),
            "{path}"
        );
    }
    let manifest = facts("oci-manifest/regclient-testrepo-v3-arm-v6.manifest.json");
    assert_eq!(
        manifest.image.digest.as_deref(),
        Some("sha256:8fb6a85012f44e45a0555da6449e1444bdfe9b6589c3090ffccbdbcdcf979011")
    );
    let index = facts("oci-manifest/regclient-testrepo-v3.index.json");
    assert_eq!(
        index.image.index_digest.as_deref(),
        Some("sha256:6fe828b32b9b4572f32b16c1c0a4d675660b19ec207d010724309374252c2d6d")
    );
    // The index lists the manifest by the same digest.
    assert!(index.sources[0].warnings[0].contains(
        "linux/arm/v6 (sha256:8fb6a85012f44e45a0555da6449e1444bdfe9b6589c3090ffccbdbcdcf979011)"
    ));
}

#[test]
fn index_manifest_and_config_of_one_image_merge() {
    let merged = Facts::merge_all([
        facts("oci-manifest/regclient-testrepo-v3.index.json"),
        facts("oci-manifest/regclient-testrepo-v3-arm-v6.manifest.json"),
        facts("oci-config/regclient-testrepo-v3-arm-v6.config.json"),
    ])
    .unwrap();
    let base = merged.base.as_ref().unwrap();
    assert_eq!(
        base.reference.as_deref(),
        Some("registry.example.org/testrepo:b3")
    );
    assert_eq!(
        base.digest.as_deref(),
        Some("sha256:119b4a63feeda91d4874578e7883994fc45772dd912aa49ba380f87507f6ad07")
    );
    assert_eq!(merged.image.architecture.as_deref(), Some("arm/v6"));
    assert!(merged.user.as_ref().unwrap().is_root);
    let layers = merged.layers.as_ref().unwrap();
    assert_eq!(layers.len(), 5);
    assert!(
        layers
            .iter()
            .all(|l| l.digest.is_some() && l.size.is_some()),
        "the manifest's layers win: {layers:?}"
    );
    assert_eq!(merged.sources.len(), 3);
    let raw: Value = serde_json::from_slice(
        &std::fs::read(corpus_dir().join("oci-config/regclient-testrepo-v3-arm-v6.config.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        merged.history.as_ref().unwrap().len(),
        raw["history"].as_array().unwrap().len()
    );
}

#[test]
fn a_config_from_another_image_does_not_merge() {
    let err = Facts::merge_all([
        facts("oci-manifest/regclient-testrepo-v3-arm-v6.manifest.json"),
        facts("oci-config/regclient-testrepo-v1-amd64.config.json"),
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("image.config_digest"), "{err}");
}

#[test]
fn config_maps_user_ports_env_names_and_history() {
    let kolla = facts("oci-config/containers-image-kolla-rhel-base.config.json");
    let user = kolla.user.as_ref().unwrap();
    assert_eq!((user.name.as_str(), user.is_root), ("nova", false));
    let httpd = facts("oci-config/containers-image-httpd-2.4.23.config.json");
    let config = httpd.config.as_ref().unwrap();
    assert_eq!(config.exposed_ports, ["80/tcp"]);
    assert!(
        config.env_names.contains(&"HTTPD_VERSION".to_owned()),
        "{:?}",
        config.env_names
    );
    assert!(
        config.env_names.iter().all(|n| !n.contains('=')),
        "values never reach facts"
    );
    assert_eq!(httpd.history.as_ref().unwrap().len(), 15);
}

#[test]
fn docker_inspect_maps_tags_digests_and_config() {
    let perf = facts("docker-inspect/rabbitmq-stream-perf-test.inspect.json");
    assert_eq!(
        perf.image.reference.as_deref(),
        Some("pivotalrabbitmq/stream-perf-test:latest")
    );
    assert_eq!(perf.image.registry.as_deref(), Some("docker.io"));
    assert_eq!(
        perf.image.repository.as_deref(),
        Some("pivotalrabbitmq/stream-perf-test")
    );
    assert_eq!(
        perf.image.digest.as_deref(),
        Some("sha256:566094791d8c82b4dd6f845bb9e234801e3d22280127674c37d715ea9dad3047")
    );
    assert_eq!(
        perf.image.config_digest.as_deref(),
        Some("sha256:b92431c20744b254cc742fe40a5cf554391b99aa855db0c2d5b83c786a4935c7")
    );
    assert!(perf.user.as_ref().unwrap().is_root);
    assert_eq!(perf.layers.as_ref().unwrap().len(), 10);

    // Docker's own test skeleton: every field empty. Imported, with what is missing said.
    let skeleton = facts("docker-inspect/docker-cli-inspect-skeleton.json");
    assert_eq!(skeleton.user, None);
    let warnings = &skeleton.sources[0].warnings;
    assert!(
        warnings.iter().any(|w| w.contains("no Config")),
        "{warnings:?}"
    );
}

#[test]
fn docker_inspect_of_several_images_is_refused() {
    let one = std::fs::read_to_string(
        corpus_dir().join("docker-inspect/rabbitmq-stream-perf-test.inspect.json"),
    )
    .unwrap();
    let inner = one.trim().trim_start_matches('[').trim_end_matches(']');
    let two = format!("[{inner},{inner}]");
    let err = import_bytes(&Origin::named("two.json"), two.as_bytes()).unwrap_err();
    assert!(matches!(err, ImportError::Schema { .. }), "{err}");
    assert!(err.to_string().contains("describes 2 images"), "{err}");
}

#[test]
fn a_manifest_of_another_schema_version_is_refused() {
    let doc = br#"{"schemaVersion": 1, "config": {"digest": "sha256:x"}, "layers": []}"#;
    let err = import_bytes(&Origin::named("m.json"), doc).unwrap_err();
    assert!(
        err.to_string()
            .contains("oci-manifest version 1 is not supported (supported: schemaVersion 2)"),
        "{err}"
    );
}
