//! The worst-case cost of a CEL policy, estimated when it loads (after
//! Kubernetes' CEL admission cost model): an expression that could not
//! finish within the cost budget, or could build a value over the memory
//! limit, is refused with its position, before it ever runs.
//!
//! Sizes come from the expression itself where it says them (literals,
//! `lists.range(5)`), and otherwise from modest facts: [`FACTS_LIST`]
//! entries in every facts list, [`PARAMS_LIST`] in a list parameter,
//! [`STRING`] bytes in a string. Larger facts are bounded at run time by the
//! meter in [`super::value::budget`], which counts the same units.
//!
//! Units: one per node evaluated, one per comprehension step, and one per
//! element or byte a call reads or builds.

use std::collections::BTreeMap;

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue, operators};

use super::shape::Shape;

/// Entries assumed in a facts list.
pub(crate) const FACTS_LIST: u64 = 1_000;
/// Entries assumed in a list inside an entry of a facts list (a
/// vulnerability's aliases, a container's ports).
pub(crate) const NESTED_LIST: u64 = 16;
/// Entries assumed in a list parameter.
pub(crate) const PARAMS_LIST: u64 = 100;
/// Bytes assumed in a string from the facts or the parameters.
pub(crate) const STRING: u64 = 256;
/// What the estimates assume, for messages.
pub(crate) const ASSUMPTIONS: &str = "worst case on facts with 1000 entries per list, 16 per list inside an entry, and 256-byte strings; see docs/sandbox.md";
/// Bytes a list element or map entry is counted as holding at least.
pub(crate) const ELEMENT_BYTES: u64 = 16;

/// What evaluating an expression can take and give, at worst.
#[derive(Debug, Clone)]
pub(crate) struct Estimate {
    pub(crate) cost: u64,
    pub(crate) size: Size,
    shape: Shape,
}

/// The size of a value: entries of a list or map, bytes of a string (1 for
/// other scalars), and the size of each entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Size {
    pub(crate) len: u64,
    pub(crate) item: Option<Box<Size>>,
}

impl Size {
    fn scalar(len: u64) -> Size {
        Size { len, item: None }
    }

    /// Bytes the value can hold in memory.
    pub(crate) fn bytes(&self) -> u64 {
        match &self.item {
            Some(item) => self.len.saturating_mul(item.bytes().max(ELEMENT_BYTES)),
            None => self.len,
        }
    }

    fn item(&self) -> Size {
        self.item
            .as_deref()
            .cloned()
            .unwrap_or_else(|| Size::scalar(STRING))
    }
}

/// The size a value of `shape` is assumed to have: `list` entries in its
/// lists, [`NESTED_LIST`] in the lists inside them.
fn sized(shape: &Shape, list: u64) -> Size {
    match shape {
        Shape::List(item) | Shape::Map(item) => Size {
            len: list,
            item: Some(Box::new(sized(item, list.min(NESTED_LIST)))),
        },
        Shape::Object(fields) => Size::scalar(fields.len() as u64),
        Shape::Nullable(inner) => sized(inner, list),
        Shape::Scalar | Shape::Any => Size::scalar(STRING),
    }
}

/// Estimates expressions of one policy: the roots (facts, `params`, `now`)
/// and the variables declared so far.
pub(crate) struct Estimator<'a> {
    roots: &'a BTreeMap<String, Shape>,
    variables: &'a BTreeMap<String, Estimate>,
    locals: Vec<(String, Estimate)>,
}

impl<'a> Estimator<'a> {
    pub(crate) fn new(
        roots: &'a BTreeMap<String, Shape>,
        variables: &'a BTreeMap<String, Estimate>,
    ) -> Self {
        Estimator {
            roots,
            variables,
            locals: Vec::new(),
        }
    }

    /// The worst case of `expr`. A variable's estimate, kept for the
    /// expressions after it, costs nothing more where they read it.
    pub(crate) fn estimate(mut self, expr: &IdedExpr) -> Estimate {
        self.walk(expr)
    }

    /// Whether `expr` is a root or a field path from one (`image.layers`),
    /// not something inside a list entry (`v.aliases`).
    fn is_root_path(&self, expr: &IdedExpr) -> bool {
        match &expr.expr {
            Expr::Ident(name) => {
                self.roots.contains_key(name) && self.locals.iter().all(|(n, _)| n != name)
            }
            Expr::Select(select) => self.is_root_path(&select.operand),
            _ => false,
        }
    }

    fn leaf(shape: Shape, size: Size) -> Estimate {
        Estimate {
            cost: 1,
            size,
            shape,
        }
    }

    fn walk(&mut self, expr: &IdedExpr) -> Estimate {
        match &expr.expr {
            Expr::Literal(literal) => {
                let len = match literal {
                    LiteralValue::String(s) => s.inner().len() as u64,
                    LiteralValue::Bytes(b) => b.len() as u64,
                    _ => 1,
                };
                Self::leaf(Shape::Scalar, Size::scalar(len))
            }
            Expr::Ident(name) => {
                if let Some((_, local)) = self.locals.iter().rev().find(|(n, _)| n == name) {
                    return Estimate {
                        cost: 1,
                        ..local.clone()
                    };
                }
                let shape = self.roots.get(name).cloned().unwrap_or(Shape::Any);
                let list = if name == "params" {
                    PARAMS_LIST
                } else {
                    FACTS_LIST
                };
                let size = sized(&shape, list);
                Self::leaf(shape, size)
            }
            Expr::Select(select) => {
                let on_variables = matches!(&select.operand.expr, Expr::Ident(n) if n == "variables")
                    && self.locals.iter().all(|(n, _)| n != "variables");
                if on_variables && let Some(variable) = self.variables.get(&select.field) {
                    return Estimate {
                        cost: 1,
                        ..variable.clone()
                    };
                }
                let operand = self.walk(&select.operand);
                let params = matches!(&select.operand.expr, Expr::Ident(n) if n == "params");
                let shape = match operand.shape.non_null() {
                    Shape::Object(fields) => {
                        fields.get(&select.field).cloned().unwrap_or(Shape::Any)
                    }
                    Shape::Map(value) => (**value).clone(),
                    _ => Shape::Any,
                };
                let list = if params {
                    PARAMS_LIST
                } else if self.is_root_path(&select.operand) {
                    FACTS_LIST
                } else {
                    NESTED_LIST
                };
                let size = sized(&shape, list);
                Estimate {
                    cost: operand.cost.saturating_add(1),
                    size,
                    shape,
                }
            }
            Expr::List(list) => {
                let items: Vec<Estimate> = list.elements.iter().map(|e| self.walk(e)).collect();
                collection(items)
            }
            Expr::Map(map) => {
                let mut items = Vec::new();
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(e) = &entry.expr {
                        let key = self.walk(&e.key);
                        let value = self.walk(&e.value);
                        items.push(Estimate {
                            cost: key.cost.saturating_add(value.cost),
                            ..value
                        });
                    }
                }
                let mut estimate = collection(items);
                estimate.shape = Shape::Map(Box::new(Shape::Any));
                estimate
            }
            Expr::Struct(s) => {
                let cost = s
                    .entries
                    .iter()
                    .filter_map(|entry| match &entry.expr {
                        EntryExpr::StructField(f) => Some(self.walk(&f.value).cost),
                        _ => None,
                    })
                    .fold(1u64, u64::saturating_add);
                Estimate {
                    cost,
                    size: Size::scalar(s.entries.len() as u64),
                    shape: Shape::Any,
                }
            }
            Expr::Call(call) if call.func_name == super::macros::METER => {
                // A comprehension's range: its steps are counted there.
                match call.args.first() {
                    Some(range) => self.walk(range),
                    None => Self::leaf(Shape::Any, Size::scalar(1)),
                }
            }
            Expr::Call(call) => {
                let target = call.target.as_ref().map(|t| self.walk(t));
                let args: Vec<Estimate> = call.args.iter().map(|a| self.walk(a)).collect();
                let literal_int = call.args.first().and_then(|a| match &a.expr {
                    Expr::Literal(LiteralValue::Int(n)) => Some((*n.inner()).max(0) as u64),
                    _ => None,
                });
                self.call(&call.func_name, target, args, literal_int)
            }
            Expr::Comprehension(c) => {
                let range = self.walk(&c.iter_range);
                let steps = range.size.len;
                let item = range.size.item();
                let item_shape = match range.shape.non_null() {
                    Shape::List(item) => (**item).clone(),
                    _ => Shape::Any,
                };
                let init = self.walk(&c.accu_init);
                let mark = self.locals.len();
                self.locals.push((
                    c.iter_var.clone(),
                    Estimate {
                        cost: 1,
                        size: if c.iter_var2.is_some() {
                            Size::scalar(1)
                        } else {
                            item.clone()
                        },
                        shape: item_shape.clone(),
                    },
                ));
                if let Some(second) = &c.iter_var2 {
                    self.locals.push((
                        second.clone(),
                        Estimate {
                            cost: 1,
                            size: item.clone(),
                            shape: item_shape.clone(),
                        },
                    ));
                }
                // The accumulator of `map` and `filter` grows to one entry a step.
                let grows = super::check::appended_item(c).is_some();
                let accu_size = if grows {
                    Size {
                        len: steps,
                        item: init.size.item.clone(),
                    }
                } else {
                    init.size.clone()
                };
                self.locals.push((
                    c.accu_var.clone(),
                    Estimate {
                        cost: 1,
                        size: accu_size,
                        shape: init.shape.clone(),
                    },
                ));
                let condition = self.walk(&c.loop_cond);
                let step = self.walk(&c.loop_step);
                let result = self.walk(&c.result);
                self.locals.truncate(mark);
                let per_step = condition.cost.saturating_add(step.cost).saturating_add(1);
                let cost = range
                    .cost
                    .saturating_add(init.cost)
                    .saturating_add(steps.saturating_mul(per_step))
                    .saturating_add(result.cost);
                let size = if grows {
                    Size {
                        len: steps,
                        item: step.size.item.clone().or(Some(Box::new(step.size.clone()))),
                    }
                } else {
                    result.size
                };
                Estimate {
                    cost,
                    size,
                    shape: if grows {
                        Shape::List(Box::new(Shape::Any))
                    } else {
                        result.shape
                    },
                }
            }
            Expr::Unspecified => Self::leaf(Shape::Any, Size::scalar(1)),
        }
    }

    /// A function or operator call: its arguments' costs, then what it reads
    /// and builds.
    fn call(
        &self,
        name: &str,
        target: Option<Estimate>,
        args: Vec<Estimate>,
        literal_int: Option<u64>,
    ) -> Estimate {
        let operands: Vec<&Estimate> = target.iter().chain(args.iter()).collect();
        let inputs = operands
            .iter()
            .map(|e| e.cost)
            .fold(1u64, u64::saturating_add);
        let first = operands
            .first()
            .map(|e| e.size.clone())
            .unwrap_or(Size::scalar(1));
        let second = operands
            .get(1)
            .map(|e| e.size.clone())
            .unwrap_or(Size::scalar(1));
        let read: u64 = operands
            .iter()
            .map(|e| e.size.len)
            .fold(0u64, u64::saturating_add);
        let (work, size, shape) = match name {
            // Concatenation copies both sides.
            operators::ADD => {
                let size = Size {
                    len: first.len.saturating_add(second.len),
                    item: first.item.clone().or(second.item.clone()),
                };
                (
                    size.len,
                    size,
                    operands.first().map_or(Shape::Any, |e| e.shape.clone()),
                )
            }
            operators::INDEX | operators::OPT_INDEX => {
                let shape = match operands.first().map(|e| e.shape.non_null().clone()) {
                    Some(Shape::List(item)) | Some(Shape::Map(item)) => (*item).clone(),
                    _ => Shape::Any,
                };
                (1, first.item(), shape)
            }
            operators::IN => (second.len, Size::scalar(1), Shape::Scalar),
            // `c ? a : b`: both branches counted, the larger value kept, and
            // the facts' shape kept when the other branch is `[]` or a
            // scalar (so `workload == null ? [] : workload.containers` is
            // still sized as containers).
            operators::CONDITIONAL => {
                let branches = &operands[1..];
                let largest = branches
                    .iter()
                    .map(|e| &e.size)
                    .max_by_key(|s| s.bytes())
                    .cloned()
                    .unwrap_or(Size::scalar(1));
                let shape = match branches {
                    [a, b] => either_shape(a, b),
                    _ => Shape::Any,
                };
                (1, largest, shape)
            }
            operators::EQUALS | operators::NOT_EQUALS => (
                first.bytes().min(second.bytes()),
                Size::scalar(1),
                Shape::Scalar,
            ),
            "flatten" => {
                let item = first.item();
                let size = Size {
                    len: first.len.saturating_mul(item.len.max(1)),
                    item: item.item.clone(),
                };
                (size.len, size, Shape::List(Box::new(Shape::Any)))
            }
            "lists.range" => {
                // Only a literal size can be known; anything else could be
                // any number, built in one call the meter cannot stop.
                let len = literal_int.unwrap_or(u64::MAX);
                (
                    len,
                    Size {
                        len,
                        item: Some(Box::new(Size::scalar(1))),
                    },
                    Shape::List(Box::new(Shape::Scalar)),
                )
            }
            "join" => {
                let item = first.item();
                let len = first
                    .len
                    .saturating_mul(item.len.saturating_add(second.len));
                (len, Size::scalar(len), Shape::Scalar)
            }
            "split" => (
                first.len,
                Size {
                    len: first.len,
                    item: Some(Box::new(first.clone())),
                },
                Shape::List(Box::new(Shape::Scalar)),
            ),
            "replace" => {
                let replacement = operands.get(2).map_or(1, |e| e.size.len);
                let len = first.len.saturating_mul(replacement.max(1));
                (len, Size::scalar(len), Shape::Scalar)
            }
            // Linear in the text (a linear-time engine), compiled once.
            "matches" => (read, Size::scalar(1), Shape::Scalar),
            "format" => {
                let len = first.len.saturating_add(second.bytes());
                (len, Size::scalar(len), Shape::Scalar)
            }
            // Everything else reads its operands once and gives a value no
            // larger than the largest of them.
            _ => {
                let largest = operands
                    .iter()
                    .map(|e| &e.size)
                    .max_by_key(|s| s.bytes())
                    .cloned()
                    .unwrap_or(Size::scalar(1));
                let size = if is_predicate(name) {
                    Size::scalar(1)
                } else {
                    largest
                };
                (read, size, Shape::Any)
            }
        };
        Estimate {
            cost: inputs.saturating_add(work),
            size,
            shape,
        }
    }
}

/// The shape of a value that is one of two: the same shape, or the other's
/// when one holds nothing that could be selected or iterated (a scalar such
/// as `null`, or the empty list `[]`), which any shape covers.
fn either_shape(a: &Estimate, b: &Estimate) -> Shape {
    let holds_nothing = |e: &Estimate| {
        e.shape == Shape::Scalar
            || (e.size.len == 0 && e.shape == Shape::List(Box::new(Shape::Any)))
    };
    if a.shape == b.shape || holds_nothing(b) {
        a.shape.clone()
    } else if holds_nothing(a) {
        b.shape.clone()
    } else {
        Shape::Any
    }
}

/// A list (or map) literal of these entries.
fn collection(items: Vec<Estimate>) -> Estimate {
    let len = items.len() as u64;
    let mut cost = len.saturating_add(1);
    let mut largest: Option<Size> = None;
    for item in items {
        cost = cost.saturating_add(item.cost);
        if largest
            .as_ref()
            .is_none_or(|l| item.size.bytes() > l.bytes())
        {
            largest = Some(item.size);
        }
    }
    Estimate {
        cost,
        size: Size {
            len,
            item: Some(Box::new(largest.unwrap_or(Size::scalar(1)))),
        },
        shape: Shape::List(Box::new(Shape::Any)),
    }
}

/// Operators and functions that answer a bool or a number.
fn is_predicate(name: &str) -> bool {
    matches!(
        name,
        operators::LESS
            | operators::LESS_EQUALS
            | operators::GREATER
            | operators::GREATER_EQUALS
            | operators::LOGICAL_AND
            | operators::LOGICAL_OR
            | operators::LOGICAL_NOT
            | "size"
            | "contains"
            | "startsWith"
            | "endsWith"
            | "matchesGlob"
            | "severityRank"
            | "severityAtLeast"
            | "semverCompare"
            | "versionCompare"
    )
}
