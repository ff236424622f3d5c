//! Rewrites of client SQL that DataFusion would otherwise refuse or answer differently from
//! PostgreSQL, applied after datafusion-pg-catalog's compatibility parser: catalog name lookups
//! (`lookups`), correlated catalog subqueries (`subqueries`), the catalog's vector columns
//! (`vectors`), and the general spellings below.

mod lookups;
mod subqueries;
mod vectors;

use std::collections::HashSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, AccessExpr, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentList, FunctionArguments, Ident, ObjectName, Query, SelectItem, SetExpr,
    Statement, Subscript, Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Alias prefix for repeated output expressions; result naming strips it again.
pub const DUPLICATE_ALIAS_PREFIX: &str = "__lakegate_dup_";

pub fn rewrite(mut statement: Statement) -> Statement {
    let _ = visit_expressions_mut(&mut statement, |expr| {
        replace_array_subquery(expr);
        like_with_escape(expr);
        composite_field_access(expr);
        vectors::rewrite(expr);
        lookups::rewrite(expr);
        subqueries::rewrite(expr);
        ControlFlow::<()>::Continue(())
    });
    let _ = statement.visit(&mut SetReturningProjections);
    alias_repeated_outputs(&mut statement);
    statement
}

/// PostgreSQL allows repeated output expressions (`SELECT 1, 1`, `SELECT current_user,
/// session_user`); DataFusion requires unique names. Repeats get an internal alias, which
/// result naming maps back to the name PostgreSQL would show.
fn alias_repeated_outputs(statement: &mut Statement) {
    let Statement::Query(query) = statement else {
        return;
    };
    let SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    let mut seen = HashSet::new();
    for (index, item) in select.projection.iter_mut().enumerate() {
        let SelectItem::UnnamedExpr(expr) = item else {
            continue;
        };
        if !seen.insert(expr.to_string()) {
            let alias = Ident::with_quote('"', format!("{DUPLICATE_ALIAS_PREFIX}{index}"));
            *item = SelectItem::ExprWithAlias {
                expr: expr.clone(),
                alias,
            };
        }
    }
}

/// psql 15's `\du` lists role memberships with `ARRAY(SELECT …)`, a correlated array
/// constructor DataFusion cannot plan; lakegate has no role memberships to show, so the
/// constructor becomes an empty text array.
fn replace_array_subquery(expr: &mut Expr) {
    let Expr::Function(function) = expr else {
        return;
    };
    let is_array = function.name.to_string().eq_ignore_ascii_case("array");
    if is_array && matches!(function.args, FunctionArguments::Subquery(_)) {
        if let Ok(empty) = Parser::new(&PostgreSqlDialect {})
            .try_with_sql("CAST(NULL AS TEXT[])")
            .and_then(|mut p| p.parse_expr())
        {
            *expr = empty;
        }
    }
}

/// `x LIKE p ESCAPE 'c'`: DataFusion knows only the backslash escape, so the pattern is
/// converted by PostgreSQL's own `like_escape(p, 'c')` (SQLAlchemy escapes with `/`).
fn like_with_escape(expr: &mut Expr) {
    let (Expr::Like {
        pattern,
        escape_char,
        ..
    }
    | Expr::ILike {
        pattern,
        escape_char,
        ..
    }) = expr
    else {
        return;
    };
    let Some(escape) = escape_char.take() else {
        return;
    };
    if matches!(&escape.value, Value::SingleQuotedString(c) if c == "\\") {
        return;
    }
    let escape = Expr::Value(escape);
    **pattern = call("like_escape", vec![(**pattern).clone(), escape]);
}

/// `(composite).field` → `(composite)['field']`, the field access DataFusion plans.
fn composite_field_access(expr: &mut Expr) {
    let Expr::CompoundFieldAccess { root, access_chain } = expr else {
        return;
    };
    if !matches!(root.as_ref(), Expr::Nested(_)) {
        return;
    }
    for access in access_chain.iter_mut() {
        if let AccessExpr::Dot(Expr::Identifier(field)) = access {
            let name = Value::SingleQuotedString(field.value.clone()).with_empty_span();
            *access = AccessExpr::Subscript(Subscript::Index {
                index: Expr::Value(name),
            });
        }
    }
}

/// `SELECT generate_series(a, b) AS i, …` returns one row per value in PostgreSQL (psqlODBC's
/// foreign-key query numbers key columns this way); DataFusion's `generate_series` is a list
/// there, so it is unnested. Every query is visited, derived tables included.
struct SetReturningProjections;

impl VisitorMut for SetReturningProjections {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        set_returning_projections(query);
        ControlFlow::Continue(())
    }
}

fn set_returning_projections(query: &mut Query) {
    let SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    for item in select.projection.iter_mut() {
        let (SelectItem::UnnamedExpr(value) | SelectItem::ExprWithAlias { expr: value, .. }) = item
        else {
            continue;
        };
        let series = match value {
            Expr::Function(f)
                if last_name_is(&f.name, "generate_series")
                    || last_name_is(&f.name, "generate_subscripts") =>
            {
                f.name.0.last().and_then(|p| p.as_ident()).cloned()
            }
            _ => None,
        };
        let Some(name) = series else {
            continue;
        };
        let unnested = call("unnest", vec![value.clone()]);
        // The column keeps the function's name, as in PostgreSQL.
        *item = match item {
            SelectItem::ExprWithAlias { alias, .. } => SelectItem::ExprWithAlias {
                expr: unnested,
                alias: alias.clone(),
            },
            _ => SelectItem::ExprWithAlias {
                expr: unnested,
                alias: name,
            },
        };
    }
}

/// A `pg_catalog` relation as written in a client's catalog query: `pg_x` or `pg_catalog.pg_x`
/// (a lake table named `sales.pg_x` is not one).
pub(super) fn is_catalog_relation(name: &ObjectName) -> bool {
    let parts: Vec<&str> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(|i| i.value.as_str()))
        .collect();
    match parts.as_slice() {
        [table] | ["pg_catalog", table] => table.starts_with("pg_"),
        _ => false,
    }
}

/// Whether every relation a select reads is a `pg_catalog` relation.
pub(super) fn reads_only_catalog(select: &datafusion::sql::sqlparser::ast::Select) -> bool {
    let is_catalog = |relation: &datafusion::sql::sqlparser::ast::TableFactor| matches!(relation, datafusion::sql::sqlparser::ast::TableFactor::Table { name, .. } if is_catalog_relation(name));
    !select.from.is_empty()
        && select.from.iter().all(|from| {
            is_catalog(&from.relation) && from.joins.iter().all(|j| is_catalog(&j.relation))
        })
}

pub(super) fn last_name_is(name: &ObjectName, expected: &str) -> bool {
    name.0
        .last()
        .and_then(|part| part.as_ident())
        .is_some_and(|ident| ident.value.eq_ignore_ascii_case(expected))
}

pub(super) fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}
