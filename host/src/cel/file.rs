//! The CEL policy file (YAML), as written. Field names follow Kubernetes'
//! ValidatingAdmissionPolicy: `matchConditions`, `variables`, `validations`
//! with `expression`, `message` and `messageExpression`.

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::verdict::{Effect, Severity};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PolicyFile {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ParamDecl {
    pub(crate) name: Spanned<String>,
    pub(crate) default: ParamValue,
    #[serde(default)]
    pub(crate) description: String,
}

/// A parameter's default, which also fixes its type: a value set later
/// (`--param`) is parsed as that type.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub(crate) enum ParamValue {
    Bool(bool),
    Int(i64),
    String(String),
    /// Set from the command line as a comma-separated string.
    List(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NamedExpression {
    pub(crate) name: Spanned<String>,
    pub(crate) expression: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Validation {
    pub(crate) rule: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) description: Option<String>,
    pub(crate) expression: Spanned<String>,
    #[serde(default)]
    pub(crate) message: Option<String>,
    #[serde(default)]
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
