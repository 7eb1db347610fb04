//! The cross-crate integration tests as one test binary: each module is one
//! area (the corpus, hostile policies, the CLI, the server, registries).
//! One binary rather than one per file: each links wasmtime, and 33 copies
//! of it cost CI minutes of linking and gigabytes of disk.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Test images built as OCI layouts and docker archives, shared with
/// customs-image's own tests.
#[path = "../../image/tests/build/mod.rs"]
mod build;

mod admission;
mod attestation_predicates;
mod baseline;
mod baseline_cli;
mod bundles;
mod cel;
mod cel_baseline;
mod cel_hostile;
mod ci_integrations;
mod clair_snyk;
mod componentize;
mod corpus_clair_snyk;
mod corpus_grype;
mod corpus_oci;
mod corpus_sbom;
mod corpus_sigstore;
mod corpus_trivy;
mod fuzz_regressions;
mod image_cli;
mod languages;
mod lint;
mod malformed;
mod malformed_corpus;
mod output_integrity;
mod registry;
mod registry_images;
mod require;
mod schemas;
mod sdk;
mod secrets_hygiene;
mod server;
mod server_mtls;
mod verify_cli;
mod vex;
