//! What `customs lint` finds in a CEL policy: expressions that read no
//! fact (after the parameters are set, only `params` and variables made of
//! them), so their value is the same for every image. A validation that is
//! always true can never fail; one that is always false fails every image;
//! a match condition that is always false never lets the policy apply.

use std::collections::BTreeSet;

use cel::Context;
use cel::common::ast::{EntryExpr, Expr, IdedExpr};

use super::{CelFacts, CelPolicy, FACT_NAMES, Scope, run_bool, value};
use crate::policy::LintFinding;

/// The names an expression reads from outside itself: root identifiers
/// (`image`, `params`, `now`, ...) and `variables.NAME` for each variable.
fn reads(expr: &IdedExpr) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    walk(expr, &mut Vec::new(), &mut out);
    out
}

fn walk(expr: &IdedExpr, locals: &mut Vec<String>, out: &mut BTreeSet<String>) {
    match &expr.expr {
        Expr::Ident(name) => {
            if !locals.contains(name) {
                out.insert(name.clone());
            }
        }
        Expr::Select(select) => match &select.operand.expr {
            Expr::Ident(name) if name == "variables" && !locals.contains(name) => {
                out.insert(format!("variables.{}", select.field));
            }
            _ => walk(&select.operand, locals, out),
        },
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                walk(target, locals, out);
            }
            for arg in &call.args {
                walk(arg, locals, out);
            }
        }
        Expr::Comprehension(c) => {
            walk(&c.iter_range, locals, out);
            walk(&c.accu_init, locals, out);
            let mark = locals.len();
            locals.push(c.iter_var.clone());
            if let Some(second) = &c.iter_var2 {
                locals.push(second.clone());
            }
            locals.push(c.accu_var.clone());
            walk(&c.loop_cond, locals, out);
            walk(&c.loop_step, locals, out);
            walk(&c.result, locals, out);
            locals.truncate(mark);
        }
        Expr::List(list) => {
            for element in &list.elements {
                walk(element, locals, out);
            }
        }
        Expr::Map(map) => {
            for entry in &map.entries {
                if let EntryExpr::MapEntry(e) = &entry.expr {
                    walk(&e.key, locals, out);
                    walk(&e.value, locals, out);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &s.entries {
                if let EntryExpr::StructField(f) = &entry.expr {
                    walk(&f.value, locals, out);
                }
            }
        }
        Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// Whether what an expression reads makes it the same for every image:
/// no fact, not `now`, no variable (`variables.NAME`, the name a policy's
/// variables are kept under) that is not itself constant.
fn is_constant(reads: &BTreeSet<String>, constant_variables: &BTreeSet<String>) -> bool {
    reads.iter().all(|name| {
        if name.starts_with("variables.") {
            constant_variables.contains(name)
        } else {
            name != "now" && name != "variables" && !FACT_NAMES.contains(&name.as_str())
        }
    })
}

impl CelPolicy {
    /// The expressions whose value is the same for every image with these
    /// parameter settings, and that value.
    pub(crate) fn lint(&self, settings: &[(String, String)]) -> Result<Vec<LintFinding>, String> {
        let params = self.params_value(settings)?;
        let mut constant_variables = BTreeSet::new();
        let mut constant_programs = Vec::new();
        for (name, variable) in &self.variables {
            if is_constant(&reads(variable.program.expression()), &constant_variables) {
                constant_variables.insert(name.clone());
                constant_programs.push((name, variable));
            }
        }
        let conditions: Vec<_> = self
            .match_conditions
            .iter()
            .filter(|c| is_constant(&reads(c.program.expression()), &constant_variables))
            .collect();
        let validations: Vec<_> = self
            .validations
            .iter()
            .filter(|v| {
                is_constant(
                    &reads(v.expression.program.expression()),
                    &constant_variables,
                )
            })
            .collect();
        if conditions.is_empty() && validations.is_empty() {
            return Ok(Vec::new());
        }
        // What they read is only parameters and constant variables: any
        // facts serve, and none are read. Run as `evaluate` runs: match
        // conditions, then variables, then validations, within the limits,
        // and a limit passed is a finding like an error.
        let facts = CelFacts::new(&customs_facts::Facts::default());
        let scope = Scope {
            facts: &facts,
            params: &params,
            now: cel::common::types::CelTimestamp::from(
                chrono::DateTime::UNIX_EPOCH.fixed_offset(),
            ),
        };
        let limits = crate::limits::Limits::default();
        value::budget::start(
            std::time::Instant::now() + limits.deadline,
            limits.cel_cost_budget,
            limits.cel_memory_bytes,
        );
        let mut found = Vec::new();
        let fails_always = |place: &str, why: String| LintFinding {
            place: place.to_owned(),
            rule: None,
            message: format!(
                "{why} for every image: the policy fails (and denies) on every image it applies to"
            ),
        };
        let mut context = Context::with_env(std::sync::Arc::clone(
            super::env().map_err(|e| e.to_string())?,
        ));
        context.set_variable_resolver(&scope);
        let run = || {
            for condition in conditions {
                match run_bool(&condition.program, &context) {
                    Ok(true) => {}
                    Ok(false) => {
                        found.push(LintFinding {
                            place: condition.place.clone(),
                            rule: None,
                            message: "this match condition is false for every image: the policy never applies".to_owned(),
                        });
                        return;
                    }
                    Err(e) => {
                        return found
                            .push(fails_always(&condition.place, format!("it errors ({e})")));
                    }
                }
                if value::budget::check().is_some() {
                    return;
                }
            }
            for (name, variable) in &constant_programs {
                let value = match cel::Value::resolve_val(variable.program.expression(), &context) {
                    Ok(value) => value.into_owned(),
                    Err(e) => {
                        return found
                            .push(fails_always(&variable.place, format!("it errors ({e})")));
                    }
                };
                value::budget::hold(value::held_bytes(value.as_ref()));
                if value::budget::check().is_some() {
                    return;
                }
                context.add_variable_as_val(name.as_str(), value::budgeted(value));
            }
            for validation in validations {
                let place = validation.expression.place.clone();
                let passes = match run_bool(&validation.expression.program, &context) {
                    Ok(passes) => passes,
                    Err(e) => return found.push(fails_always(&place, format!("it errors ({e})"))),
                };
                if value::budget::check().is_some() {
                    return;
                }
                let what = match validation.effect {
                    crate::verdict::Effect::Deny => "denies",
                    crate::verdict::Effect::Warn => "warns",
                };
                found.push(LintFinding {
                    place,
                    rule: Some(validation.rule.clone()),
                    message: if passes {
                        "true for every image: this rule can never fail".to_owned()
                    } else {
                        format!(
                            "false for every image: this rule fails ({what}) on every image the policy applies to"
                        )
                    },
                });
            }
        };
        run();
        if let Some(exceeded) = value::budget::finish() {
            found.push(fails_always(
                "the policy's constant expressions",
                format!("they pass a limit ({exceeded:?})"),
            ));
        }
        Ok(found)
    }
}
