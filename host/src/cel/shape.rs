//! The shape of the facts (which fields each object has, what each list
//! holds), read from the facts JSON Schema. The checker uses it to refuse
//! unknown fields when a policy loads; the conversion uses it to give every
//! field a value, so a missing fact is `null` and an empty list `[]`, never
//! an absent key.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde_json::Value as Json;

/// What is known about the value of an expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Shape {
    /// Anything: not checked further.
    Any,
    /// A string, number, bool, timestamp or null: has no fields.
    Scalar,
    List(Box<Shape>),
    /// An object with these fields and no others.
    Object(Arc<BTreeMap<String, Shape>>),
    /// A map with any keys (labels, annotations, qualifiers).
    Map(Box<Shape>),
    /// A value that may be null: absent means unknown (`vulnerabilities`
    /// is null without a scan, `[]` for a clean one).
    Nullable(Box<Shape>),
}

impl Shape {
    /// The shape of the value when it is not null.
    pub(crate) fn non_null(&self) -> &Shape {
        match self {
            Shape::Nullable(inner) => inner.non_null(),
            other => other,
        }
    }
}

/// The shape of each top-level facts name (`image`, `vulnerabilities`, ...).
pub(crate) fn facts_shapes() -> &'static BTreeMap<String, Shape> {
    static SHAPES: OnceLock<BTreeMap<String, Shape>> = OnceLock::new();
    SHAPES.get_or_init(|| {
        let schema = customs_facts::json_schema();
        match shape_of(&schema, &schema, 0) {
            Shape::Object(fields) => fields.as_ref().clone(),
            _ => BTreeMap::new(),
        }
    })
}

/// Converts a JSON Schema (as schemars writes it) to a shape.
fn shape_of(schema: &Json, root: &Json, depth: usize) -> Shape {
    if depth > 16 {
        return Shape::Any;
    }
    if let Some(reference) = schema.get("$ref").and_then(Json::as_str) {
        let target = reference
            .strip_prefix("#/$defs/")
            .and_then(|name| root.get("$defs")?.get(name));
        return target.map_or(Shape::Any, |t| shape_of(t, root, depth + 1));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(variants) = schema.get(key).and_then(Json::as_array) {
            let not_null: Vec<&Json> = variants
                .iter()
                .filter(|v| v.get("type").and_then(Json::as_str) != Some("null"))
                .collect();
            let nullable = not_null.len() < variants.len();
            return match not_null.as_slice() {
                [one] if nullable => Shape::Nullable(Box::new(shape_of(one, root, depth + 1))),
                [one] => shape_of(one, root, depth + 1),
                _ => Shape::Any,
            };
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Json::String(t)) => vec![t.as_str()],
        Some(Json::Array(ts)) => ts.iter().filter_map(Json::as_str).collect(),
        _ => vec![],
    };
    if types.contains(&"array") {
        let item = schema
            .get("items")
            .map_or(Shape::Any, |i| shape_of(i, root, depth + 1));
        let list = Shape::List(Box::new(item));
        return if types.contains(&"null") {
            Shape::Nullable(Box::new(list))
        } else {
            list
        };
    }
    if types.contains(&"object") {
        if let Some(properties) = schema.get("properties").and_then(Json::as_object) {
            let fields = properties
                .iter()
                .map(|(name, s)| (name.clone(), shape_of(s, root, depth + 1)))
                .collect();
            return Shape::Object(Arc::new(fields));
        }
        let value = schema
            .get("additionalProperties")
            .filter(|v| v.is_object())
            .map_or(Shape::Any, |v| shape_of(v, root, depth + 1));
        return Shape::Map(Box::new(value));
    }
    if types.is_empty() {
        Shape::Any
    } else {
        Shape::Scalar
    }
}
