//! The CEL policy file (YAML), as written. Field names follow Kubernetes'
//! ValidatingAdmissionPolicy: `matchConditions`, `variables`, `validations`
//! with `expression`, `message` and `messageExpression`.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::verdict::{Effect, Severity};

/// A CEL policy file: rules over the facts, in the shape of a Kubernetes
/// ValidatingAdmissionPolicy (`customs schema --kind cel-policy`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "customs CEL policy")]
pub(crate) struct PolicyFile {
    /// The policy's name: lower-case letters, digits and dashes.
    #[schemars(with = "String")]
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) version: Option<String>,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) params: Vec<ParamDecl>,
    #[serde(default)]
    pub(crate) match_conditions: Vec<NamedExpression>,
    #[serde(default)]
    pub(crate) variables: Vec<NamedExpression>,
    pub(crate) validations: Vec<Validation>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ParamDecl {
    #[schemars(with = "String")]
    pub(crate) name: Spanned<String>,
    pub(crate) default: ParamValue,
    #[serde(default)]
    pub(crate) description: String,
}

/// A parameter's default, which also fixes its type: a value set later
/// (`--param`) is parsed as that type.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(untagged)]
pub(crate) enum ParamValue {
    Bool(bool),
    Int(i64),
    String(String),
    /// Set from the command line as a comma-separated string.
    List(Vec<String>),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NamedExpression {
    #[schemars(with = "String")]
    pub(crate) name: Spanned<String>,
    /// A CEL expression.
    #[schemars(with = "String")]
    pub(crate) expression: Spanned<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Validation {
    /// The rule id findings carry (default: the policy's name).
    #[schemars(with = "Option<String>")]
    pub(crate) rule: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) description: Option<String>,
    /// A CEL expression that is true when the facts pass.
    #[schemars(with = "String")]
    pub(crate) expression: Spanned<String>,
    #[serde(default)]
    pub(crate) message: Option<String>,
    /// A CEL expression giving the message (a string).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(crate) message_expression: Option<Spanned<String>>,
    #[serde(default = "default_severity")]
    pub(crate) severity: Severity,
    #[serde(default = "default_effect")]
    pub(crate) effect: Effect,
}

fn default_severity() -> Severity {
    Severity::Medium
}

fn default_effect() -> Effect {
    Effect::Deny
}
