//! The customs CEL baseline run on the `cel` crate the plain way: facts turned
//! into the crate's own `Value` tree on every evaluation (serde JSON, then one
//! owned map per object), a fresh `Context`, and each variable re-bound as the
//! next one is computed. It is what an embedder writes without customs' shared,
//! converted-once facts; the benchmark measures what those save.

use std::collections::HashMap;
use std::sync::Arc;

use cel::objects::{Key, Map};
use cel::{Context, Env, Program, Value};
use serde::Deserialize;
use serde_json::Value as Json;

use crate::Verdict;

/// The same policy file customs loads (keys this peer does not use, such as
/// descriptions and severities, are ignored).
pub const SOURCE: &str = include_str!("../../policies/cel/baseline.yaml");

/// Fields holding an RFC 3339 time (or a date), which CEL compares as timestamps.
const TIME_FIELDS: [&str; 4] = ["created", "eol", "published", "scanned_at"];

#[derive(Deserialize)]
struct File {
    params: Vec<Param>,
    variables: Vec<Named>,
    validations: Vec<Validation>,
}

#[derive(Deserialize)]
struct Param {
    name: String,
    default: Json,
}

#[derive(Deserialize)]
struct Named {
    name: String,
    expression: String,
}

#[derive(Deserialize)]
struct Validation {
    rule: String,
    #[serde(default)]
    effect: Option<String>,
    expression: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(rename = "messageExpression", default)]
    message_expression: Option<String>,
}

struct Compiled {
    rule: String,
    effect: &'static str,
    expression: Program,
    message: Option<String>,
    message_expression: Option<Program>,
}

/// The CEL baseline compiled once, evaluated the plain way.
pub struct NaiveCel {
    env: Arc<Env>,
    schema: Json,
    params: Value,
    variables: Vec<(String, Program)>,
    validations: Vec<Compiled>,
}

impl std::fmt::Debug for NaiveCel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NaiveCel")
    }
}

impl NaiveCel {
    pub fn new() -> Result<NaiveCel, String> {
        let file: File = serde_saphyr::from_str(SOURCE).map_err(|e| e.to_string())?;
        let env = customs::cel_environment().map_err(|e| e.to_string())?;
        let compile = |source: &str| env.compile(source).map_err(|e| format!("{source}: {e}"));
        let params = Value::Map(Map::from(
            file.params
                .iter()
                .map(|p| (p.name.clone(), json_to_cel(&p.default, None)))
                .collect::<HashMap<String, Value>>(),
        ));
        let variables = file
            .variables
            .iter()
            .map(|v| Ok((v.name.clone(), compile(&v.expression)?)))
            .collect::<Result<_, String>>()?;
        let validations = file
            .validations
            .iter()
            .map(|v| {
                Ok(Compiled {
                    rule: v.rule.clone(),
                    effect: if v.effect.as_deref() == Some("warn") {
                        "warn"
                    } else {
                        "deny"
                    },
                    expression: compile(&v.expression)?,
                    message: v.message.clone(),
                    message_expression: v.message_expression.as_deref().map(compile).transpose()?,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(NaiveCel {
            env,
            schema: customs_facts::json_schema(),
            params,
            variables,
            validations,
        })
    }

    /// The (rule, effect, message) of every failed validation.
    pub fn findings(
        &self,
        facts: &customs_facts::Facts,
        now: i64,
    ) -> Result<Vec<(String, &'static str, String)>, String> {
        let json = serde_json::to_value(facts).map_err(|e| e.to_string())?;
        let mut context = Context::with_env(Arc::clone(&self.env));
        let root = &self.schema;
        let properties = root
            .get("properties")
            .and_then(Json::as_object)
            .ok_or("the facts schema has no properties")?;
        for (name, schema) in properties {
            let value = fill(json.get(name), schema, root, Some(name), 0);
            context.add_variable_from_value(name.as_str(), value);
        }
        context.add_variable_from_value("params", self.params.clone());
        let now = chrono::DateTime::from_timestamp(now, 0)
            .ok_or("now is out of range")?
            .fixed_offset();
        context.add_variable_from_value("now", Value::Timestamp(now));
        let mut variables: HashMap<String, Value> = HashMap::new();
        for (name, program) in &self.variables {
            let value = program
                .execute(&context)
                .map_err(|e| format!("variables.{name}: {e}"))?;
            variables.insert(name.clone(), value);
            context.add_variable_from_value("variables", Value::Map(Map::from(variables.clone())));
        }
        let mut findings = Vec::new();
        for v in &self.validations {
            match v.expression.execute(&context) {
                Ok(Value::Bool(true)) => {}
                Ok(Value::Bool(false)) => {
                    let message = match &v.message_expression {
                        Some(program) => match program.execute(&context) {
                            Ok(Value::String(s)) => s.to_string(),
                            Ok(other) => format!("{other:?}"),
                            Err(e) => return Err(format!("{}: message: {e}", v.rule)),
                        },
                        None => v.message.clone().unwrap_or_default(),
                    };
                    findings.push((v.rule.clone(), v.effect, message));
                }
                Ok(other) => return Err(format!("{}: not a bool: {other:?}", v.rule)),
                Err(e) => return Err(format!("{}: {e}", v.rule)),
            }
        }
        Ok(findings)
    }

    pub fn verdict(&self, facts: &customs_facts::Facts, now: i64) -> Result<Verdict, String> {
        let findings = self.findings(facts, now)?;
        Ok(Verdict {
            allowed: !findings.iter().any(|(_, effect, _)| *effect == "deny"),
            rules: findings
                .into_iter()
                .map(|(rule, effect, _)| (rule, effect.to_owned()))
                .collect(),
        })
    }
}

/// JSON to CEL, with times as timestamps.
fn json_to_cel(json: &Json, key: Option<&str>) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::UInt(u),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => key
            .filter(|k| TIME_FIELDS.contains(k))
            .and_then(|_| parse_time(s))
            .map_or_else(|| Value::String(Arc::new(s.clone())), Value::Timestamp),
        Json::Array(items) => Value::List(Arc::new(
            items.iter().map(|item| json_to_cel(item, None)).collect(),
        )),
        Json::Object(fields) => Value::Map(Map::from(
            fields
                .iter()
                .map(|(k, v)| (Key::from(k.as_str()), json_to_cel(v, Some(k))))
                .collect::<HashMap<Key, Value>>(),
        )),
    }
}

fn parse_time(text: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(text).ok().or_else(|| {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc().fixed_offset())
    })
}

/// Converts `json` as `schema` (the facts JSON Schema) describes it, giving
/// fields the JSON leaves out a value: `null`, or `[]` / `{}` where the
/// schema says the field is always a list or map. The policy reads every
/// fact without `has()`, so this is the least a plain embedder must do.
fn fill(json: Option<&Json>, schema: &Json, root: &Json, key: Option<&str>, depth: usize) -> Value {
    let schema = resolve(schema, root);
    if depth > 16 {
        return json.map_or(Value::Null, |j| json_to_cel(j, key));
    }
    // Option<T>: anyOf [T, null].
    if let Some(variants) = schema.get("anyOf").and_then(Json::as_array) {
        return match json {
            None | Some(Json::Null) => Value::Null,
            Some(_) => {
                let inner = variants
                    .iter()
                    .map(|v| resolve(v, root))
                    .find(|v| v.get("type").and_then(Json::as_str) != Some("null"))
                    .unwrap_or(&Json::Null);
                fill(json, inner, root, key, depth + 1)
            }
        };
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Json::String(t)) => vec![t.as_str()],
        Some(Json::Array(ts)) => ts.iter().filter_map(Json::as_str).collect(),
        _ => vec![],
    };
    let nullable = types.contains(&"null");
    match json {
        None | Some(Json::Null) if nullable || types.is_empty() => Value::Null,
        None | Some(Json::Null) if types.contains(&"array") => Value::List(Arc::new(Vec::new())),
        _ if types.contains(&"array") => {
            let items = schema.get("items").unwrap_or(&Json::Null);
            let list = json
                .and_then(Json::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            Value::List(Arc::new(
                list.iter()
                    .map(|item| fill(Some(item), items, root, None, depth + 1))
                    .collect(),
            ))
        }
        _ if types.contains(&"object") => {
            let fields = json.and_then(Json::as_object);
            let map: HashMap<Key, Value> = match schema.get("properties").and_then(Json::as_object)
            {
                Some(properties) => properties
                    .iter()
                    .map(|(name, s)| {
                        let value = fill(
                            fields.and_then(|f| f.get(name)),
                            s,
                            root,
                            Some(name),
                            depth + 1,
                        );
                        (Key::from(name.as_str()), value)
                    })
                    .collect(),
                None => fields
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (Key::from(k.as_str()), json_to_cel(v, Some(k))))
                    .collect(),
            };
            Value::Map(Map::from(map))
        }
        Some(j) => json_to_cel(j, key),
        None => Value::Null,
    }
}

/// Follows a `$ref` into `$defs`.
fn resolve<'a>(schema: &'a Json, root: &'a Json) -> &'a Json {
    schema
        .get("$ref")
        .and_then(Json::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
        .and_then(|name| root.get("$defs")?.get(name))
        .unwrap_or(schema)
}
