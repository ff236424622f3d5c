//! Correlated scalar subqueries over catalog tables, in the shapes DataFusion can plan.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    visit_expressions, BinaryOperator, Expr, GroupByExpr, SelectItem, SetExpr, TableFactor, Value,
};

use super::{call, last_name_is, reads_only_catalog};
use crate::pgcatalog::WHEN;

pub fn rewrite(expr: &mut Expr) {
    domain_base_type(expr);
    aggregate_catalog_subquery(expr);
    conditional_subquery(expr);
}

/// A scalar subquery over catalog tables that is correlated with the outer query must be an
/// aggregate for DataFusion; PostgreSQL only requires it to return at most one row, which
/// catalog lookups (a column's default, its comment) do. Such a subquery's single value is
/// wrapped in `max()`, which returns that one row's value.
/// asyncpg's type introspection finds a domain's base type with a correlated recursive CTE
/// (`WITH RECURSIVE typebases … SELECT oid FROM typebases ORDER BY depth DESC LIMIT 1`), which
/// DataFusion cannot plan. The catalog here holds only PostgreSQL's built-in domains, each
/// directly over a base type (the gateway creates none), so the walk ends at its first step:
/// the CTE's base case, `(SELECT t2.typbasetype FROM pg_type t2 WHERE t2.oid = t.oid)`.
fn domain_base_type(expr: &mut Expr) {
    let Expr::Subquery(query) = expr else {
        return;
    };
    let Some(with) = query.with.as_ref().filter(|w| w.recursive) else {
        return;
    };
    let [cte] = with.cte_tables.as_slice() else {
        return;
    };
    if cte.alias.name.value != "typebases" {
        return;
    }
    let SetExpr::SetOperation { left, .. } = cte.query.body.as_ref() else {
        return;
    };
    let SetExpr::Select(base) = left.as_ref() else {
        return;
    };
    let mut first_step = base.clone();
    first_step.projection.truncate(1);
    let mut replacement = cte.query.clone();
    replacement.body = Box::new(SetExpr::Select(first_step));
    *expr = Expr::Subquery(replacement);
}

const AGGREGATES: [&str; 9] = [
    "max",
    "min",
    "count",
    "sum",
    "avg",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
];

fn aggregate_catalog_subquery(expr: &mut Expr) {
    let Expr::Subquery(query) = expr else {
        return;
    };
    // Ordered, limited or offset subqueries pick a row; max() would pick another.
    let picks_a_row = query.order_by.is_some() || query.limit_clause.is_some();
    let SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    let over_catalog = reads_only_catalog(select) && !picks_a_row;
    let ungrouped = matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty())
        && select.having.is_none()
        && select.distinct.is_none();
    let [item] = select.projection.as_mut_slice() else {
        return;
    };
    let value = match item {
        SelectItem::UnnamedExpr(value) | SelectItem::ExprWithAlias { expr: value, .. } => value,
        _ => return,
    };
    let mut is_aggregate = false;
    let _ = visit_expressions(value, |e| {
        is_aggregate |=
            matches!(e, Expr::Function(f) if AGGREGATES.iter().any(|a| last_name_is(&f.name, a)));
        ControlFlow::<()>::Continue(())
    });
    if over_catalog && ungrouped && !is_aggregate {
        // A scalar subquery's column name is never seen; an alias that repeats an outer
        // column's name (`… AS oid`) makes DataFusion's decorrelated join ambiguous.
        *item = SelectItem::UnnamedExpr(call("max", vec![value.clone()]));
    }
}

/// `CASE WHEN c THEN r [ELSE NULL] END` where `c` or `r` holds a scalar subquery becomes the
/// eager `lakegate_when(c, r)`: DataFusion plans no correlated subquery inside CASE (see
/// `pgcatalog::conditional`).
fn conditional_subquery(expr: &mut Expr) {
    let Expr::Case {
        operand: None,
        conditions,
        else_result,
        ..
    } = expr
    else {
        return;
    };
    let else_null = match else_result.as_deref() {
        None => true,
        Some(Expr::Value(v)) => matches!(v.value, Value::Null),
        Some(_) => false,
    };
    let [when] = conditions.as_slice() else {
        return;
    };
    if else_null
        && (has_subquery(&when.condition) || has_subquery(&when.result))
        && only_catalog_subqueries(&when.condition)
        && only_catalog_subqueries(&when.result)
    {
        let mut result = when.result.clone();
        drop_repeated_condition(&mut result, &when.condition);
        *expr = call(WHEN, vec![when.condition.clone(), result]);
    }
}

/// SQLAlchemy repeats the CASE condition inside the subquery's WHERE (`CASE WHEN
/// attribute.atthasdef THEN (SELECT … WHERE attribute.atthasdef AND …)`). Under
/// `lakegate_when` the condition already holds, and a WHERE conjunct that reads only outer
/// columns keeps DataFusion from decorrelating the subquery, so the repeat goes.
fn drop_repeated_condition(result: &mut Expr, condition: &Expr) {
    let Expr::Subquery(query) = result else {
        return;
    };
    let SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    let Some(selection) = select.selection.take() else {
        return;
    };
    let condition = unnested(condition);
    let inner = inner_names(select);
    let kept: Vec<Expr> = conjuncts(selection)
        .into_iter()
        .filter(|c| unnested(c) != condition || !reads_only_outer(c, &inner))
        .collect();
    select.selection = kept.into_iter().reduce(|left, right| Expr::BinaryOp {
        left: Box::new(left),
        op: BinaryOperator::And,
        right: Box::new(right),
    });
}

/// The names the subquery's own relations go by (table names and aliases).
fn inner_names(select: &datafusion::sql::sqlparser::ast::Select) -> Vec<String> {
    let mut names = Vec::new();
    for from in &select.from {
        for relation in
            std::iter::once(&from.relation).chain(from.joins.iter().map(|j| &j.relation))
        {
            if let TableFactor::Table { name, alias, .. } = relation {
                if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
                    names.push(last.value.clone());
                }
                if let Some(alias) = alias {
                    names.push(alias.name.value.clone());
                }
            }
        }
    }
    names
}

/// Whether every column `expr` reads is qualified by a relation of the outer query: then
/// dropping it from the subquery cannot change which inner rows match.
fn reads_only_outer(expr: &Expr, inner: &[String]) -> bool {
    let mut outer = true;
    let _ = visit_expressions(expr, |e| {
        match e {
            Expr::Identifier(_) => outer = false,
            Expr::CompoundIdentifier(parts) => {
                let qualifier = parts.len().checked_sub(2).and_then(|i| parts.get(i));
                outer &= qualifier.is_some_and(|q| !inner.contains(&q.value));
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    outer
}

fn conjuncts(expr: Expr) -> Vec<Expr> {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            let mut all = conjuncts(*left);
            all.extend(conjuncts(*right));
            all
        }
        other => vec![other],
    }
}

fn unnested(expr: &Expr) -> &Expr {
    match expr {
        Expr::Nested(inner) => unnested(inner),
        other => other,
    }
}

/// Whether every scalar subquery in `expr` reads only catalog tables: user queries keep
/// CASE's lazy evaluation.
fn only_catalog_subqueries(expr: &Expr) -> bool {
    let mut all = true;
    let _ = visit_expressions(expr, |e| {
        if let Expr::Subquery(query) = e {
            all &= matches!(query.body.as_ref(), SetExpr::Select(select) if reads_only_catalog(select));
        }
        ControlFlow::<()>::Continue(())
    });
    all
}

fn has_subquery(expr: &Expr) -> bool {
    let mut found = false;
    let _ = visit_expressions(expr, |e| {
        found |= matches!(e, Expr::Subquery(_));
        ControlFlow::<()>::Continue(())
    });
    found
}
