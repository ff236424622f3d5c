//! Rewrites for client catalog queries that the compatibility parser does not cover.

use std::ops::ControlFlow;

use std::collections::HashSet;

use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, Expr, FunctionArguments, Ident, SelectItem, SetExpr, Statement,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Alias prefix for repeated output expressions; result naming strips it again.
pub const DUPLICATE_ALIAS_PREFIX: &str = "__lakegate_dup_";

pub fn rewrite(mut statement: Statement) -> Statement {
    let _ = visit_expressions_mut(&mut statement, |expr| {
        replace_array_subquery(expr);
        ControlFlow::<()>::Continue(())
    });
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
