//! JSON Schemas of the YAML files a policy author writes, for editors
//! (`# yaml-language-server: $schema=...`) and checks. Printed by
//! `customs schema --kind ...` and published in `schemas/`.

use serde_json::Value;

fn to_value(schema: schemars::Schema) -> Value {
    serde_json::to_value(schema).unwrap_or_default()
}

/// A CEL policy file.
pub fn cel_policy() -> Value {
    to_value(schemars::schema_for!(crate::cel::file::PolicyFile))
}

/// A bundle manifest, `customs-bundle.yaml`.
pub fn bundle_manifest() -> Value {
    to_value(schemars::schema_for!(crate::Manifest))
}

/// A waivers file.
pub fn waivers() -> Value {
    to_value(schemars::schema_for!(crate::waivers::WaiversFile))
}
