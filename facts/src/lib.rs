//! # customs-facts
//!
//! The normalized **facts** about a container image that customs policies decide
//! on (facts v1), and the importers that build them from tool outputs.
//!
//! ```
//! use customs_facts::{import, Facts};
//!
//! let report = br#"{"SchemaVersion": 2, "ArtifactName": "alpine:3.20",
//!   "ArtifactType": "container_image",
//!   "Metadata": {"ImageConfig": {"config": {"User": "nobody"}}},
//!   "Results": []}"#;
//! let facts: Facts = import::import_bytes(&import::Origin::named("report.json"), report)?;
//! assert_eq!(facts.user.map(|u| u.is_root), Some(false));
//! # Ok::<(), customs_facts::import::ImportError>(())
//! ```
//!
//! This crate has no WebAssembly dependencies: anything that produces facts can
//! depend on it alone.

mod derive;
pub mod import;
mod merge;
mod model;
mod required;
pub mod text;
mod vex;

pub use derive::{ReferenceParts, os_eol, split_image_reference, user_from_config};
pub use merge::MergeError;
pub use model::*;
pub use required::RequiredFact;

/// The JSON Schema of the facts v1 document, generated from the types.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Facts);
    serde_json::to_value(schema).unwrap_or_default()
}
