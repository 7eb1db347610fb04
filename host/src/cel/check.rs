//! Checks an expression when the policy loads: every variable, field of the
//! facts and function it names must exist, so a typo (`v.severty`) is an
//! error with its position rather than a deny on every image.
//!
//! The shapes of the facts come from their JSON Schema (see [`super::shape`]); comprehension
//! variables take the shape of the list they range over, and `filter` and
//! `map` results keep the element shape, so `variables.fixable.all(v, ...)`
//! is checked too. Anything the checker cannot know is left to run time.

use std::collections::BTreeMap;
use std::sync::Arc;

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue, operators};
use cel::{Context, Env};

use super::shape::Shape;

/// A problem found in an expression, at the node `id`.
#[derive(Debug)]
pub(crate) struct Problem {
    pub(crate) id: u64,
    pub(crate) message: String,
}

/// Checks one expression against the names in scope.
pub(crate) struct Checker<'a> {
    pub(crate) roots: &'a BTreeMap<String, Shape>,
    pub(crate) env: &'a Arc<Env>,
    problems: Vec<Problem>,
    locals: Vec<(String, Shape)>,
}

impl<'a> Checker<'a> {
    pub(crate) fn new(roots: &'a BTreeMap<String, Shape>, env: &'a Arc<Env>) -> Self {
        Checker {
            roots,
            env,
            problems: Vec::new(),
            locals: Vec::new(),
        }
    }

    /// The first problem found in `expr`, if any, and the shape of its value.
    pub(crate) fn check(mut self, expr: &IdedExpr) -> (Shape, Option<Problem>) {
        let shape = self.walk(expr);
        (shape, self.problems.into_iter().next())
    }

    fn problem(&mut self, id: u64, message: String) -> Shape {
        self.problems.push(Problem { id, message });
        Shape::Any
    }

    fn lookup(&self, name: &str) -> Option<Shape> {
        self.locals
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
            .or_else(|| self.roots.get(name).cloned())
    }

    /// Whether the first segment of a qualified name is no variable in scope
    /// (so `a.f()` can only be the function `a.f`).
    fn lookup_root(&self, qualified: &str) -> bool {
        let root = qualified.split('.').next().unwrap_or(qualified);
        self.lookup(root).is_none()
    }

    fn walk(&mut self, expr: &IdedExpr) -> Shape {
        match &expr.expr {
            Expr::Ident(name) => match self.lookup(name) {
                Some(shape) => shape,
                None => {
                    let known: Vec<&str> = self.roots.keys().map(String::as_str).collect();
                    self.problem(
                        expr.id,
                        format!("unknown variable `{name}` (known: {})", known.join(", ")),
                    )
                }
            },
            Expr::Select(select) => {
                let operand = self.walk(&select.operand);
                let on_variables = matches!(&select.operand.expr, Expr::Ident(n) if n == "variables")
                    && self.locals.iter().all(|(n, _)| n != "variables");
                if on_variables
                    && let Shape::Object(declared) = operand.non_null()
                    && !declared.contains_key(&select.field)
                {
                    let names: Vec<&str> = declared.keys().map(String::as_str).collect();
                    return self.problem(
                        expr.id,
                        format!(
                            "no variable `{}` is declared before this expression (declared: {})",
                            select.field,
                            if names.is_empty() {
                                "none".to_owned()
                            } else {
                                names.join(", ")
                            }
                        ),
                    );
                }
                self.field(expr.id, &operand, &select.field)
            }
            Expr::Call(call) if call.func_name == super::macros::METER => {
                // A comprehension's range, passed through as it is.
                call.args
                    .first()
                    .map_or(Shape::Any, |range| self.walk(range))
            }
            Expr::Call(call) => {
                // `sets.contains(a, b)` parses as `contains` called on `sets`.
                let namespaced = call
                    .target
                    .as_ref()
                    .and_then(|t| qualified_name(t))
                    .map(|namespace| format!("{namespace}.{}", call.func_name))
                    .is_some_and(|name| self.lookup_root(&name) && is_declared(self.env, &name));
                if namespaced {
                    for arg in &call.args {
                        self.walk(arg);
                    }
                    return Shape::Any;
                }
                if let Some(target) = &call.target {
                    self.walk(target);
                }
                let args: Vec<Shape> = call.args.iter().map(|a| self.walk(a)).collect();
                let name = call.func_name.as_str();
                if name == operators::INDEX || name == operators::OPT_INDEX {
                    return match args.first().map(Shape::non_null) {
                        Some(Shape::List(item)) | Some(Shape::Map(item)) => (**item).clone(),
                        _ => Shape::Any,
                    };
                }
                if !is_operator(name) && !is_declared(self.env, name) {
                    return self.problem(expr.id, format!("unknown function `{name}`"));
                }
                // A literal pattern is compiled now, so one that is invalid or
                // too big is refused at load rather than failing every run.
                if name == "matches"
                    && let Some(Expr::Literal(LiteralValue::String(pattern))) =
                        call.args.last().map(|a| &a.expr)
                    && let Err(reason) = super::functions::compiled_regex(pattern.inner())
                {
                    return self.problem(expr.id, reason);
                }
                Shape::Any
            }
            Expr::Comprehension(c) => {
                let range = self.walk(&c.iter_range);
                let (first, second) = match range.non_null() {
                    Shape::List(item) => (
                        if c.iter_var2.is_some() {
                            Shape::Scalar
                        } else {
                            (**item).clone()
                        },
                        (**item).clone(),
                    ),
                    Shape::Map(value) => (Shape::Scalar, (**value).clone()),
                    Shape::Object(_) => (Shape::Scalar, Shape::Any),
                    _ => (Shape::Any, Shape::Any),
                };
                let accu = self.walk(&c.accu_init);
                let mark = self.locals.len();
                self.locals.push((c.iter_var.clone(), first.clone()));
                if let Some(v2) = &c.iter_var2 {
                    self.locals.push((v2.clone(), second));
                }
                self.locals.push((c.accu_var.clone(), accu));
                self.walk(&c.loop_cond);
                self.walk(&c.loop_step);
                let appended = appended_item(c);
                let item = appended.map(|e| self.walk(e));
                self.walk(&c.result);
                self.locals.truncate(mark);
                match item {
                    Some(item) => Shape::List(Box::new(item)),
                    None => Shape::Any,
                }
            }
            Expr::List(list) => {
                for element in &list.elements {
                    self.walk(element);
                }
                Shape::List(Box::new(Shape::Any))
            }
            Expr::Map(map) => {
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(e) = &entry.expr {
                        self.walk(&e.key);
                        self.walk(&e.value);
                    }
                }
                Shape::Map(Box::new(Shape::Any))
            }
            Expr::Struct(s) => {
                for entry in &s.entries {
                    if let EntryExpr::StructField(f) = &entry.expr {
                        self.walk(&f.value);
                    }
                }
                Shape::Any
            }
            Expr::Literal(_) => Shape::Scalar,
            Expr::Unspecified => Shape::Any,
        }
    }

    fn field(&mut self, id: u64, operand: &Shape, field: &str) -> Shape {
        match operand.non_null() {
            Shape::Object(fields) => match fields.get(field) {
                Some(shape) => shape.clone(),
                None => {
                    let known: Vec<&str> = fields.keys().map(String::as_str).collect();
                    self.problem(
                        id,
                        format!(
                            "unknown field `{field}` (fields here: {})",
                            known.join(", ")
                        ),
                    )
                }
            },
            Shape::Map(value) => (**value).clone(),
            Shape::List(_) => self.problem(
                id,
                format!(
                    "`.{field}` on a list: lists have no fields (use .exists(), .all(), .map() ...)"
                ),
            ),
            Shape::Scalar | Shape::Any | Shape::Nullable(_) => Shape::Any,
        }
    }
}

/// The element a `map` or `filter` comprehension appends on each step
/// (`@result + [item]`, maybe guarded), so its result can keep a shape.
pub(crate) fn appended_item(c: &cel::common::ast::ComprehensionExpr) -> Option<&IdedExpr> {
    let is_accu = |e: &IdedExpr| matches!(&e.expr, Expr::Ident(n) if *n == c.accu_var);
    if !is_accu(&c.result) {
        return None;
    }
    let step = match &c.loop_step.expr {
        Expr::Call(call) if call.func_name == operators::CONDITIONAL => call.args.get(1)?,
        _ => &c.loop_step,
    };
    match &step.expr {
        Expr::Call(call) if call.func_name == operators::ADD => match call.args.as_slice() {
            [accu, list] if is_accu(accu) => match &list.expr {
                Expr::List(l) if l.elements.len() == 1 => l.elements.first(),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// `a.b.c` when `expr` spells a qualified name.
fn qualified_name(expr: &IdedExpr) -> Option<String> {
    match &expr.expr {
        Expr::Ident(name) => Some(name.clone()),
        Expr::Select(select) if !select.test => {
            qualified_name(&select.operand).map(|q| format!("{q}.{}", select.field))
        }
        _ => None,
    }
}

/// Operators and macros the interpreter handles itself.
fn is_operator(name: &str) -> bool {
    name.starts_with('_')
        || name.starts_with('@')
        || name.starts_with('!')
        || name.starts_with('-')
        || name == operators::HAS
}

/// Whether `env` declares a function (or member function) named `name`. The
/// interpreter offers no lookup, but refuses to add a context function that
/// shadows a declared one: that refusal is the answer.
fn is_declared(env: &Arc<Env>, name: &str) -> bool {
    let mut probe = Context::with_env(Arc::clone(env));
    probe.add_function(name, |x: i64| x).is_err()
}
