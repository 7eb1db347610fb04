//! The comprehension macros (`all`, `exists`, `exists_one`, `map`,
//! `filter`) and `has`, expanded as the CEL standard library expands them,
//! except that every comprehension's range goes through [`METER`]. That
//! call lets the cost meter see a loop over any list, not only over the
//! facts: a literal list, or a list an expression just built.
//!
//! The standard expansions are kept node for node (the accumulator is
//! `@result`, `map` and `filter` append `[x]` to it) so the type checker and
//! the cost estimator read them as before.

use cel::common::ast::{
    CallExpr, ComprehensionExpr, Expr, IdedExpr, ListExpr, LiteralValue, operators,
};
use cel::parser::Macro;
use cel::parser::{MacroExprHelper, ParseError};
use cel::{DeclarationError, Env};

/// The function every comprehension range is passed through. Its name
/// cannot be written in a CEL expression, so only these macros call it.
pub(crate) const METER: &str = "@meter";

/// The accumulator the standard macros use.
const RESULT: &str = "@result";

type Parts<'a> = (&'a mut Option<IdedExpr>, &'a mut Vec<IdedExpr>);

/// Adds the macros to `env`, which must have none yet (an `Env::default()`).
pub(crate) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_macro(Macro::global(operators::HAS, 1, |helper, _, args| {
        has(helper, args).map(Some)
    }))?;
    type Expand = fn(&mut MacroExprHelper<'_>, Parts<'_>) -> Result<IdedExpr, ParseError>;
    let receivers: [(&str, usize, Expand); 7] = [
        (operators::ALL, 2, all),
        (operators::EXISTS, 2, exists),
        (operators::EXISTS_ONE, 2, exists_one),
        ("existsOne", 2, exists_one),
        (operators::MAP, 2, map),
        (operators::MAP, 3, map),
        (operators::FILTER, 2, filter),
    ];
    for (name, arity, expand) in receivers {
        env.add_macro(Macro::receiver(name, arity, move |helper, target, args| {
            expand(helper, (target, args)).map(Some)
        }))?;
    }
    Ok(())
}

fn has(helper: &mut MacroExprHelper<'_>, args: &mut Vec<IdedExpr>) -> Result<IdedExpr, ParseError> {
    let arg = args.remove(0);
    match arg.expr {
        Expr::Select(mut select) => {
            select.test = true;
            Ok(helper.next_expr(Expr::Select(select)))
        }
        _ => Err(helper.new_error(arg.id, "invalid argument to has() macro")),
    }
}

fn all(
    helper: &mut MacroExprHelper<'_>,
    (target, args): Parts<'_>,
) -> Result<IdedExpr, ParseError> {
    let predicate = args.remove(1);
    let var = variable(helper, args.remove(0))?;
    let init = literal(helper, LiteralValue::Boolean(true.into()));
    let accu = result(helper);
    let condition = call(helper, operators::NOT_STRICTLY_FALSE, vec![accu]);
    let accu = result(helper);
    let step = call(helper, operators::LOGICAL_AND, vec![accu, predicate]);
    let done = result(helper);
    comprehension(helper, target, var, init, condition, step, done)
}

fn exists(
    helper: &mut MacroExprHelper<'_>,
    (target, args): Parts<'_>,
) -> Result<IdedExpr, ParseError> {
    let predicate = args.remove(1);
    let var = variable(helper, args.remove(0))?;
    let init = literal(helper, LiteralValue::Boolean(false.into()));
    let accu = result(helper);
    let not_found = call(helper, operators::LOGICAL_NOT, vec![accu]);
    let condition = call(helper, operators::NOT_STRICTLY_FALSE, vec![not_found]);
    let accu = result(helper);
    let step = call(helper, operators::LOGICAL_OR, vec![accu, predicate]);
    let done = result(helper);
    comprehension(helper, target, var, init, condition, step, done)
}

fn exists_one(
    helper: &mut MacroExprHelper<'_>,
    (target, args): Parts<'_>,
) -> Result<IdedExpr, ParseError> {
    let predicate = args.remove(1);
    let var = variable(helper, args.remove(0))?;
    let init = literal(helper, LiteralValue::Int(0.into()));
    let condition = literal(helper, LiteralValue::Boolean(true.into()));
    let accu = result(helper);
    let one = literal(helper, LiteralValue::Int(1.into()));
    let counted = call(helper, operators::ADD, vec![accu, one]);
    let accu = result(helper);
    let step = call(
        helper,
        operators::CONDITIONAL,
        vec![predicate, counted, accu],
    );
    let accu = result(helper);
    let one = literal(helper, LiteralValue::Int(1.into()));
    let done = call(helper, operators::EQUALS, vec![accu, one]);
    comprehension(helper, target, var, init, condition, step, done)
}

/// `target.map(v, f)` or `target.map(v, p, f)`.
fn map(
    helper: &mut MacroExprHelper<'_>,
    (target, args): Parts<'_>,
) -> Result<IdedExpr, ParseError> {
    let transform = args.pop().unwrap_or_default();
    let var = variable(helper, args.remove(0))?;
    let predicate = args.pop();
    let init = helper.next_expr(Expr::List(ListExpr::new(Vec::new())));
    let condition = literal(helper, LiteralValue::Boolean(true.into()));
    let step = append(helper, transform);
    let step = match predicate {
        Some(predicate) => {
            let accu = result(helper);
            call(helper, operators::CONDITIONAL, vec![predicate, step, accu])
        }
        None => step,
    };
    let done = result(helper);
    comprehension(helper, target, var, init, condition, step, done)
}

fn filter(
    helper: &mut MacroExprHelper<'_>,
    (target, args): Parts<'_>,
) -> Result<IdedExpr, ParseError> {
    let predicate = args.remove(1);
    let element = args.remove(0);
    let var = variable(helper, element.clone())?;
    let init = helper.next_expr(Expr::List(ListExpr::new(Vec::new())));
    let condition = literal(helper, LiteralValue::Boolean(true.into()));
    let step = append(helper, element);
    let accu = result(helper);
    let step = call(helper, operators::CONDITIONAL, vec![predicate, step, accu]);
    let done = result(helper);
    comprehension(helper, target, var, init, condition, step, done)
}

/// `@result + [item]`.
fn append(helper: &mut MacroExprHelper<'_>, item: IdedExpr) -> IdedExpr {
    let accu = result(helper);
    let single = helper.next_expr(Expr::List(ListExpr::new(vec![item])));
    call(helper, operators::ADD, vec![accu, single])
}

fn comprehension(
    helper: &mut MacroExprHelper<'_>,
    target: &mut Option<IdedExpr>,
    iter_var: String,
    accu_init: IdedExpr,
    loop_cond: IdedExpr,
    loop_step: IdedExpr,
    result: IdedExpr,
) -> Result<IdedExpr, ParseError> {
    let range = target.take().unwrap_or_default();
    let iter_range = call(helper, METER, vec![range]);
    Ok(
        helper.next_expr(Expr::Comprehension(Box::new(ComprehensionExpr {
            iter_range,
            iter_var,
            iter_var2: None,
            accu_var: RESULT.to_owned(),
            accu_init,
            loop_cond,
            loop_step,
            result,
        }))),
    )
}

fn call(helper: &mut MacroExprHelper<'_>, function: &str, args: Vec<IdedExpr>) -> IdedExpr {
    helper.next_expr(Expr::Call(CallExpr {
        func_name: function.to_owned(),
        target: None,
        args,
    }))
}

fn literal(helper: &mut MacroExprHelper<'_>, value: LiteralValue) -> IdedExpr {
    helper.next_expr(Expr::Literal(value))
}

fn result(helper: &mut MacroExprHelper<'_>) -> IdedExpr {
    helper.next_expr(Expr::Ident(RESULT.to_owned()))
}

fn variable(helper: &mut MacroExprHelper<'_>, expr: IdedExpr) -> Result<String, ParseError> {
    match expr.expr {
        Expr::Ident(name) => Ok(name),
        _ => Err(helper.new_error(expr.id, "argument must be a simple name")),
    }
}
