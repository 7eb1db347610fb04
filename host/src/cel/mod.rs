//! CEL policies: a YAML file of expressions, compiled and checked once when it
//! loads, evaluated against facts converted to CEL values once per image.
//!
//! The verdict model is the WASM one: each failed validation is a finding
//! with a rule id, effect and severity; a policy that cannot be evaluated
//! (an expression errors, the deadline passes) fails, and a failed policy
//! denies.

mod check;
mod cost;
pub(crate) mod file;
mod functions;
mod lint;
mod macros;
mod shape;
pub(crate) mod value;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use cel::common::types::{CelBool, CelString, CelTimestamp};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use cel::{Context, Env, Program, Value};

use crate::error::Error;
use crate::limits::{Limits, truncate};
use crate::policy::{ParamInfo, PolicyInfo, RuleInfo, check_id};
use crate::verdict::{Effect, Failure, FailureKind, Finding, Severity};

use check::Checker;
use file::{NamedExpression, ParamValue, PolicyFile};
use shape::Shape;
pub(crate) use value::Object;
use value::budget::Exceeded;

/// Longest CEL policy file, in bytes.
const MAX_FILE_BYTES: usize = 1 << 20;
/// Longest single expression, in bytes.
const MAX_EXPRESSION_BYTES: usize = 16 << 10;
/// Most validations, variables or match conditions in one file.
const MAX_ENTRIES: usize = 1_000;

/// The environment every CEL policy compiles and runs in: the standard
/// library, the strings, lists and math extensions, and customs' functions.
fn env() -> Result<&'static Arc<Env>, Error> {
    static ENV: OnceLock<Result<Arc<Env>, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        // The standard library without its macros: customs' own expand
        // the same way and meter every comprehension.
        let mut env = Env::default().with_stdlib();
        macros::register(&mut env)
            .and_then(|()| env.add_extension(cel::extensions::strings))
            .and_then(|()| env.add_extension(cel::extensions::lists))
            .and_then(|()| env.add_extension(cel::extensions::math))
            .and_then(|()| env.add_extension(functions::register))
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(env))
    })
    .as_ref()
    .map_err(|e| Error::Engine(format!("cannot set up the CEL environment: {e}")))
}

/// The CEL environment customs policies compile and run in, for tools that
/// run CEL expressions the way customs does (the benchmark's plain-`cel` peer).
pub fn environment() -> Result<Arc<Env>, Error> {
    env().map(Arc::clone)
}

/// The names facts are exposed under, in facts v1 order.
const FACT_NAMES: [&str; 15] = [
    "image",
    "base",
    "config",
    "user",
    "history",
    "layers",
    "packages",
    "vulnerabilities",
    "secrets",
    "misconfigurations",
    "signatures",
    "attestations",
    "files",
    "workload",
    "sources",
];

/// Facts as CEL values: built once per image, shared by every CEL policy.
#[derive(Debug)]
pub(crate) struct CelFacts {
    values: Vec<Box<dyn Val>>,
}

impl CelFacts {
    pub(crate) fn new(facts: &customs_facts::Facts) -> CelFacts {
        let mut json = match serde_json::to_value(facts) {
            Ok(serde_json::Value::Object(fields)) => fields,
            _ => serde_json::Map::new(),
        };
        let shapes = shape::facts_shapes();
        let values = FACT_NAMES
            .iter()
            .map(|name| {
                let shape = shapes.get(*name).unwrap_or(&Shape::Any);
                value::from_json(json.remove(*name).unwrap_or_default(), shape)
            })
            .collect();
        CelFacts { values }
    }

    fn get(&self, name: &str) -> Option<&dyn Val> {
        // Called for every identifier an expression resolves: a match, not a
        // search. A test keeps it in step with FACT_NAMES.
        let i = match name {
            "image" => 0,
            "base" => 1,
            "config" => 2,
            "user" => 3,
            "history" => 4,
            "layers" => 5,
            "packages" => 6,
            "vulnerabilities" => 7,
            "secrets" => 8,
            "misconfigurations" => 9,
            "signatures" => 10,
            "attestations" => 11,
            "files" => 12,
            "workload" => 13,
            "sources" => 14,
            _ => return None,
        };
        self.values.get(i).map(|v| v.as_ref())
    }
}

/// What an evaluation's expressions see besides their own variables.
struct Scope<'a> {
    facts: &'a CelFacts,
    params: &'a Object,
    now: CelTimestamp,
}

impl VariableResolver for Scope<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        match variable {
            "params" => Some(CowVal::Borrowed(self.params)),
            "now" => Some(CowVal::Borrowed(&self.now)),
            name => self.facts.get(name).map(CowVal::Borrowed),
        }
    }
}

/// One compiled expression and where it was written.
#[derive(Debug)]
struct Expression {
    program: Program,
    /// `file:line:column (validations[2].expression)`, for errors.
    place: String,
}

#[derive(Debug)]
struct CompiledValidation {
    rule: String,
    effect: Effect,
    severity: Severity,
    expression: Expression,
    message: Option<String>,
    message_expression: Option<Expression>,
}

#[derive(Debug)]
struct ParamSpec {
    name: String,
    default: ParamValue,
}

/// A compiled CEL policy.
#[derive(Debug)]
pub(crate) struct CelPolicy {
    match_conditions: Vec<Expression>,
    /// Each variable under the name expressions use (`variables.NAME`).
    variables: Vec<(String, Expression)>,
    validations: Vec<CompiledValidation>,
    params: Vec<ParamSpec>,
}

/// Where a YAML value starts, to point errors at.
struct Position<'a> {
    origin: &'a str,
    line: u64,
    column: u64,
}

/// Where a YAML value was written.
fn position_of<'a, T>(origin: &'a str, value: &serde_saphyr::Spanned<T>) -> Position<'a> {
    Position {
        origin,
        line: value.referenced.line(),
        column: value.referenced.column(),
    }
}

fn cel_error(at: &Position<'_>, reason: String) -> Error {
    Error::Cel {
        origin: at.origin.to_owned(),
        line: at.line,
        column: at.column,
        reason,
    }
}

impl CelPolicy {
    /// Parses, compiles and checks a CEL policy file.
    pub(crate) fn load(
        origin: &str,
        text: &str,
        limits: &Limits,
    ) -> Result<(CelPolicy, PolicyInfo), Error> {
        let at_start = Position {
            origin,
            line: 1,
            column: 1,
        };
        if text.len() > MAX_FILE_BYTES {
            return Err(cel_error(
                &at_start,
                format!(
                    "the policy file is {} bytes, more than the limit of {MAX_FILE_BYTES}",
                    text.len()
                ),
            ));
        }
        let file: PolicyFile = serde_saphyr::from_str(text).map_err(|e| Error::CelFile {
            origin: origin.to_owned(),
            reason: e.to_string(),
        })?;
        let env = env()?;
        let count = file.validations.len() + file.variables.len() + file.match_conditions.len();
        if count > MAX_ENTRIES {
            return Err(cel_error(
                &at_start,
                format!("the policy has {count} expressions, more than the limit of {MAX_ENTRIES}"),
            ));
        }
        if file.validations.is_empty() {
            return Err(cel_error(
                &at_start,
                "the policy has no validations".to_owned(),
            ));
        }

        check_id("policy name", &file.name.value)
            .map_err(|reason| cel_error(&position_of(origin, &file.name), reason))?;

        // Parameters: names are CEL identifiers so `params.NAME` parses.
        let mut params = Vec::new();
        let mut param_shapes = BTreeMap::new();
        for param in &file.params {
            let at = position_of(origin, &param.name);
            if !is_identifier(&param.name.value) {
                return Err(cel_error(
                    &at,
                    format!(
                        "parameter name {:?} must be a CEL identifier (letters, digits, _), so `params.{}` can name it",
                        param.name.value, param.name.value
                    ),
                ));
            }
            if param_shapes.contains_key(&param.name.value) {
                return Err(cel_error(
                    &at,
                    format!("parameter {:?} is declared twice", param.name.value),
                ));
            }
            let shape = match param.default {
                ParamValue::List(_) => Shape::List(Box::new(Shape::Scalar)),
                _ => Shape::Scalar,
            };
            param_shapes.insert(param.name.value.clone(), shape);
            params.push(ParamSpec {
                name: param.name.value.clone(),
                default: param.default.clone(),
            });
        }

        let mut roots: BTreeMap<String, Shape> = shape::facts_shapes()
            .iter()
            .filter(|(name, _)| FACT_NAMES.contains(&name.as_str()))
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect();
        roots.insert("params".to_owned(), Shape::Object(Arc::new(param_shapes)));
        roots.insert("now".to_owned(), Shape::Scalar);

        // Worst-case estimates of each variable, read by the expressions
        // after it. Each expression is held to the budget on its own (as
        // Kubernetes holds each expression to its per-call limit): one run
        // rarely meets every expression's worst case, and the meter holds
        // the whole run to the budget anyway.
        let mut variable_estimates: BTreeMap<String, cost::Estimate> = BTreeMap::new();
        let compile = |roots: &BTreeMap<String, Shape>,
                       variables: &BTreeMap<String, cost::Estimate>,
                       source: &serde_saphyr::Spanned<String>,
                       what: String|
         -> Result<(Expression, Shape, cost::Estimate), Error> {
            compile_expression(env, roots, variables, limits, origin, text, source, what)
        };

        // Match conditions run before any variable is computed.
        let condition_roots = roots_with_variables(&roots, &BTreeMap::new());
        let mut match_conditions = Vec::new();
        for (i, condition) in file.match_conditions.iter().enumerate() {
            let (expression, _, _) = compile(
                &condition_roots,
                &variable_estimates,
                &condition.expression,
                format!("matchConditions[{i}] ({})", condition.name.value),
            )?;
            match_conditions.push(expression);
        }

        let mut variable_shapes = BTreeMap::new();
        let mut variables = Vec::new();
        for (i, variable) in file.variables.iter().enumerate() {
            check_variable_name(origin, variable, &variable_shapes)?;
            let (expression, shape, estimate) = compile(
                &roots_with_variables(&roots, &variable_shapes),
                &variable_estimates,
                &variable.expression,
                format!("variables[{i}] ({})", variable.name.value),
            )?;
            variable_shapes.insert(variable.name.value.clone(), shape);
            variable_estimates.insert(variable.name.value.clone(), estimate);
            variables.push((format!("variables.{}", variable.name.value), expression));
        }
        let roots = roots_with_variables(&roots, &variable_shapes);

        let mut validations = Vec::new();
        let mut rules: Vec<RuleInfo> = Vec::new();
        let mut seen: Vec<(String, Effect)> = Vec::new();
        for (i, validation) in file.validations.iter().enumerate() {
            let Some(rule) = &validation.rule else {
                return Err(cel_error(
                    &position_of(origin, &validation.expression),
                    format!(
                        "validations[{i}] has no `rule` id; every validation needs a stable rule id"
                    ),
                ));
            };
            let rule_at = position_of(origin, rule);
            check_id("rule id", &rule.value).map_err(|reason| cel_error(&rule_at, reason))?;
            if seen.contains(&(rule.value.clone(), validation.effect)) {
                return Err(cel_error(
                    &rule_at,
                    format!(
                        "rule id {:?} is used by two validations with effect {:?}; a rule may have one deny and one warn validation",
                        rule.value, validation.effect
                    ),
                ));
            }
            seen.push((rule.value.clone(), validation.effect));
            if !rules.iter().any(|r| r.id == rule.value) {
                rules.push(RuleInfo {
                    id: rule.value.clone(),
                    description: validation.description.clone().unwrap_or_default(),
                });
            }
            let (expression, _, _) = compile(
                &roots,
                &variable_estimates,
                &validation.expression,
                format!("validations[{i}] ({}).expression", rule.value),
            )?;
            let message_expression = validation
                .message_expression
                .as_ref()
                .map(|m| {
                    compile(
                        &roots,
                        &variable_estimates,
                        m,
                        format!("validations[{i}] ({}).messageExpression", rule.value),
                    )
                    .map(|(e, _, _)| e)
                })
                .transpose()?;
            validations.push(CompiledValidation {
                rule: rule.value.clone(),
                effect: validation.effect,
                severity: validation.severity,
                expression,
                message: validation.message.clone(),
                message_expression,
            });
        }

        let info = PolicyInfo {
            name: file.name.value.clone(),
            version: file.version.clone().unwrap_or_else(|| "0.0.0".to_owned()),
            description: file.description.clone().unwrap_or_default(),
            rules,
            params: file
                .params
                .iter()
                .map(|p| ParamInfo {
                    name: p.name.value.clone(),
                    description: p.description.clone(),
                    default_value: p.default.to_param_string(),
                })
                .collect(),
        };
        Ok((
            CelPolicy {
                match_conditions,
                variables,
                validations,
                params,
            },
            info,
        ))
    }

    /// The `params` value for these parameter settings (name, text), each
    /// parsed as the type of its default.
    pub(crate) fn params_value(&self, settings: &[(String, String)]) -> Result<Object, String> {
        let fields = self
            .params
            .iter()
            .map(|spec| {
                let text = settings
                    .iter()
                    .find(|(name, _)| *name == spec.name)
                    .map(|(_, v)| v.as_str());
                let value = match text {
                    Some(text) => spec.default.parse_same_type(&spec.name, text)?,
                    None => spec.default.clone(),
                };
                Ok((spec.name.clone(), value.to_val()))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Object::new(fields))
    }

    /// Evaluates the policy. `Err` says why it failed (and so denies).
    pub(crate) fn evaluate(
        &self,
        facts: &CelFacts,
        params: &Object,
        now: i64,
        limits: &Limits,
    ) -> Result<Vec<Finding>, Failure> {
        let now = chrono::DateTime::from_timestamp(now, 0)
            .unwrap_or_default()
            .fixed_offset();
        let scope = Scope {
            facts,
            params,
            now: CelTimestamp::from(now),
        };
        value::budget::start(
            Instant::now() + limits.deadline,
            limits.cel_cost_budget,
            limits.cel_memory_bytes,
        );
        let result = self.run(&scope, limits);
        let spent = value::budget::spent();
        match value::budget::finish() {
            None => result.map_err(|message| Failure::new(FailureKind::PolicyError, message)),
            Some(Exceeded::Deadline) => Err(Failure::new(
                FailureKind::Deadline,
                format!("exceeded its {} ms deadline", limits.deadline.as_millis()),
            )),
            Some(Exceeded::Cost) => Err(Failure::new(
                FailureKind::CostBudget,
                format!(
                    "exceeded the CEL cost budget of {} units (spent {spent})",
                    limits.cel_cost_budget
                ),
            )),
            Some(Exceeded::Memory) => Err(Failure::new(
                FailureKind::Memory,
                format!(
                    "exceeded the CEL memory limit of {} bytes",
                    limits.cel_memory_bytes
                ),
            )),
        }
    }

    fn run(&self, scope: &Scope<'_>, limits: &Limits) -> Result<Vec<Finding>, String> {
        // Between expressions, a passed limit stops the run (evaluate says which).
        let within = || match value::budget::check() {
            Some(_) => Err(String::new()),
            None => Ok(()),
        };
        let mut context = Context::with_env(Arc::clone(env().map_err(|e| e.to_string())?));
        context.set_variable_resolver(scope);
        for condition in &self.match_conditions {
            let matched = run_bool(&condition.program, &context)
                .map_err(|e| format!("{}: {e}", condition.place))?;
            within()?;
            if !matched {
                return Ok(Vec::new());
            }
        }
        for (name, variable) in &self.variables {
            let value = Value::resolve_val(variable.program.expression(), &context)
                .map_err(|e| format!("{}: {e}", variable.place))?
                .into_owned();
            // What a variable holds counts against the memory limit, and
            // iterating its list against the budget.
            value::budget::hold(value::held_bytes(value.as_ref()));
            within()?;
            let value = value::budgeted(value);
            context.add_variable_as_val(name.as_str(), value);
        }
        let mut findings = Vec::new();
        for validation in &self.validations {
            let passed = run_bool(&validation.expression.program, &context)
                .map_err(|e| format!("{}: {e}", validation.expression.place))?;
            within()?;
            if passed {
                continue;
            }
            let mut message = self.message(validation, &context);
            within()?;
            message.truncate(truncate(&message, limits.max_message_bytes).len());
            findings.push(Finding {
                rule: validation.rule.clone(),
                effect: validation.effect,
                severity: validation.severity,
                message,
                subject: None,
                waiver: None,
            });
        }
        Ok(findings)
    }

    /// The message of a failed validation. A message expression that fails
    /// still leaves the finding, saying so.
    fn message(&self, validation: &CompiledValidation, context: &Context<'_, '_>) -> String {
        if let Some(expression) = &validation.message_expression {
            match Value::resolve_val(expression.program.expression(), context) {
                Ok(value) => {
                    if let Some(text) = value.downcast_ref::<CelString>() {
                        return text.inner().to_owned();
                    }
                    return format!(
                        "rule {} failed; its messageExpression ({}) returned a {}, not a string",
                        validation.rule,
                        expression.place,
                        value.get_type().name()
                    );
                }
                Err(e) => {
                    return format!(
                        "rule {} failed; its messageExpression ({}) failed: {e}",
                        validation.rule, expression.place
                    );
                }
            }
        }
        validation.message.clone().unwrap_or_else(|| {
            format!(
                "rule {} failed: {}",
                validation.rule,
                validation.expression.program.source_info().source.trim()
            )
        })
    }
}

fn run_bool(program: &Program, context: &Context<'_, '_>) -> Result<bool, String> {
    let value = Value::resolve_val(program.expression(), context).map_err(|e| e.to_string())?;
    value
        .downcast_ref::<CelBool>()
        .map(|b| *b.inner())
        .ok_or_else(|| {
            format!(
                "the expression returned a {}, not a bool",
                value.get_type().name()
            )
        })
}

/// The roots plus `variables` holding the shapes of the variables so far.
fn roots_with_variables(
    roots: &BTreeMap<String, Shape>,
    variables: &BTreeMap<String, Shape>,
) -> BTreeMap<String, Shape> {
    let mut all = roots.clone();
    all.insert(
        "variables".to_owned(),
        Shape::Object(Arc::new(variables.clone())),
    );
    all
}

fn check_variable_name(
    origin: &str,
    variable: &NamedExpression,
    earlier: &BTreeMap<String, Shape>,
) -> Result<(), Error> {
    let at = position_of(origin, &variable.name);
    if !is_identifier(&variable.name.value) {
        return Err(cel_error(
            &at,
            format!(
                "variable name {:?} must be a CEL identifier (letters, digits, _)",
                variable.name.value
            ),
        ));
    }
    if earlier.contains_key(&variable.name.value) {
        return Err(cel_error(
            &at,
            format!("variable {:?} is declared twice", variable.name.value),
        ));
    }
    Ok(())
}

/// The `cel` crate passes some parser errors on in their Debug form
/// (`Syntax error: OtherError(ParseError { .., msg: "Recursion limit of 96
/// exceeded", .. })`); the message inside is what a policy author needs.
fn unwrap_parser_message(raw: &str) -> Option<&str> {
    let (_, rest) = raw.split_once("OtherError(")?;
    let (_, rest) = rest.split_once("msg: \"")?;
    rest.split_once('"').map(|(message, _)| message)
}

/// Compiles and checks one expression; errors point into the YAML file.
#[allow(clippy::too_many_arguments)]
fn compile_expression(
    env: &Arc<Env>,
    roots: &BTreeMap<String, Shape>,
    variables: &BTreeMap<String, cost::Estimate>,
    limits: &Limits,
    origin: &str,
    yaml: &str,
    source: &serde_saphyr::Spanned<String>,
    what: String,
) -> Result<(Expression, Shape, cost::Estimate), Error> {
    let text = &source.value;
    let at = |line: u64, column: u64| {
        let (line, column) = locate(yaml, source, line, column);
        Position {
            origin,
            line,
            column,
        }
    };
    if text.len() > MAX_EXPRESSION_BYTES {
        return Err(cel_error(
            &at(1, 1),
            format!(
                "{what} is {} bytes, more than the limit of {MAX_EXPRESSION_BYTES}",
                text.len()
            ),
        ));
    }
    let program = env.compile(text).map_err(|errors| {
        let first = errors.errors.first();
        let wrapped = first.and_then(|e| unwrap_parser_message(&e.msg));
        let (line, column) = match first {
            // A wrapped error's position is not in the text (the recursion
            // limit reports the depth): point at the expression.
            Some(e) if wrapped.is_none() => (e.pos.0.max(1) as u64, e.pos.1.max(0) as u64 + 1),
            _ => (1, 1),
        };
        let message = match (wrapped, first) {
            (Some(inner), _) => inner.to_owned(),
            (None, Some(e)) => e.msg.clone(),
            (None, None) => errors.to_string(),
        };
        cel_error(
            &at(line, column),
            format!("{what}: syntax error: {message}"),
        )
    })?;
    let (shape, problem) = Checker::new(roots, env).check(program.expression());
    if let Some(problem) = problem {
        let (line, column) = program
            .source_info()
            .offset_for(problem.id)
            .map(|(start, _)| line_column(text, start as usize))
            .unwrap_or((1, 1));
        return Err(cel_error(
            &at(line, column),
            format!("{what}: {}", problem.message),
        ));
    }
    let estimate = cost::Estimator::new(roots, variables).estimate(program.expression());
    if estimate.cost > limits.cel_cost_budget {
        return Err(cel_error(
            &at(1, 1),
            format!(
                "{what} could cost {} units, more than the CEL cost budget of {} ({})",
                estimate.cost,
                limits.cel_cost_budget,
                cost::ASSUMPTIONS
            ),
        ));
    }
    if estimate.size.bytes() > limits.cel_memory_bytes {
        return Err(cel_error(
            &at(1, 1),
            format!(
                "{what} could build a value of {} bytes, more than the CEL memory limit of {} ({})",
                estimate.size.bytes(),
                limits.cel_memory_bytes,
                cost::ASSUMPTIONS
            ),
        ));
    }
    let place = {
        let p = at(1, 1);
        format!("{}:{}:{} ({what})", p.origin, p.line, p.column)
    };
    Ok((Expression { program, place }, shape, estimate))
}

/// Maps a position in an expression to the YAML file: each line of the
/// expression is looked up in the file from where the value starts, so
/// block scalars (`|`) and indented continuation lines map exactly. Quoted
/// scalars with escapes fall back to the start of the value.
fn locate(
    yaml: &str,
    source: &serde_saphyr::Spanned<String>,
    line: u64,
    column: u64,
) -> (u64, u64) {
    let start = (source.referenced.line(), source.referenced.column());
    let lines: Vec<&str> = source.value.lines().collect();
    // A syntax error at the very end points past the last line: use its end.
    let (wanted, column) = match lines.get(line.saturating_sub(1) as usize) {
        Some(text) => (*text, column),
        None => match lines.last() {
            Some(last) => (*last, last.trim_end().chars().count() as u64 + 1),
            None => return start,
        },
    };
    let wanted = wanted.trim_end();
    let first = start.0.saturating_sub(1) as usize;
    yaml.lines()
        .enumerate()
        .skip(first)
        .take(lines.len() + 2)
        .find_map(|(i, yaml_line)| {
            let from = if i == first {
                (start.1.saturating_sub(1) as usize).min(yaml_line.len())
            } else {
                0
            };
            let found = yaml_line.get(from..)?.find(wanted)? + from;
            let column_chars = yaml_line[..found].chars().count() as u64;
            Some((i as u64 + 1, column_chars + column))
        })
        .unwrap_or(start)
}

/// 1-based line and column of a character offset.
fn line_column(text: &str, offset: usize) -> (u64, u64) {
    let mut line = 1;
    let mut column = 1;
    for c in text.chars().take(offset) {
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 128
}

impl ParamValue {
    fn to_param_string(&self) -> String {
        match self {
            ParamValue::Bool(b) => b.to_string(),
            ParamValue::Int(i) => i.to_string(),
            ParamValue::String(s) => s.clone(),
            ParamValue::List(items) => items.join(","),
        }
    }

    fn parse_same_type(&self, name: &str, text: &str) -> Result<ParamValue, String> {
        Ok(match self {
            ParamValue::Bool(_) => ParamValue::Bool(match text.trim() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(format!(
                        "parameter {name} is a bool (true or false), not {text:?}"
                    ));
                }
            }),
            ParamValue::Int(_) => ParamValue::Int(
                text.trim()
                    .parse()
                    .map_err(|_| format!("parameter {name} is an integer, not {text:?}"))?,
            ),
            ParamValue::String(_) => ParamValue::String(text.to_owned()),
            ParamValue::List(_) => ParamValue::List(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
        })
    }

    fn to_val(&self) -> Box<dyn Val> {
        let json = match self {
            ParamValue::Bool(b) => serde_json::Value::Bool(*b),
            ParamValue::Int(i) => serde_json::Value::from(*i),
            ParamValue::String(s) => serde_json::Value::String(s.clone()),
            ParamValue::List(items) => serde_json::Value::from(items.clone()),
        };
        value::from_json(json, &Shape::Any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fact_name_resolves_to_its_own_value() {
        let facts = CelFacts::new(&customs_facts::Facts::default());
        for (i, name) in FACT_NAMES.iter().enumerate() {
            let found = facts.get(name).map(|v| v as *const dyn Val as *const ());
            let own = facts.values[i].as_ref() as *const dyn Val as *const ();
            assert_eq!(found, Some(own), "{name}");
        }
        assert!(facts.get("schema_version").is_none());
    }
}
