//! Result column names as PostgreSQL gives them (D13): a column keeps its name, a function call
//! is named after the function (`count`, `sum`), any other expression is `?column?`, and an
//! explicit alias wins. DataFusion instead names columns after the whole expression
//! (`count(*)`, `sum(sales.orders.amount)`), which clients show and some match on.

use datafusion::logical_expr::{Expr, LogicalPlan};

/// The name of every output column of `plan`, PostgreSQL-style.
pub fn column_names(plan: &LogicalPlan) -> Vec<String> {
    let fallback = || {
        plan.schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    };
    let Some(projection) = top_projection(plan) else {
        return fallback();
    };
    if projection.expr.len() != plan.schema().fields().len() {
        return fallback();
    }
    projection.expr.iter().map(expression_name).collect()
}

/// The projection that defines the output, under ORDER BY / LIMIT / DISTINCT.
fn top_projection(plan: &LogicalPlan) -> Option<&datafusion::logical_expr::Projection> {
    match plan {
        LogicalPlan::Projection(p) => Some(p),
        LogicalPlan::Sort(s) => top_projection(&s.input),
        LogicalPlan::Limit(l) => top_projection(&l.input),
        LogicalPlan::Distinct(datafusion::logical_expr::Distinct::All(input)) => {
            top_projection(input)
        }
        _ => None,
    }
}

fn expression_name(expr: &Expr) -> String {
    match expr {
        // DataFusion plans `count(*)` as `count(Int64(1)) AS "count(*)"`.
        Expr::Alias(alias) if alias.name.ends_with("(*)") => {
            function_name(&alias.name).unwrap_or_else(|| alias.name.clone())
        }
        Expr::Alias(alias)
            if alias
                .name
                .starts_with(crate::statement::DUPLICATE_ALIAS_PREFIX) =>
        {
            expression_name(&alias.expr)
        }
        Expr::Alias(alias) => alias.name.clone(),
        Expr::Column(column) => function_name(&column.name).unwrap_or_else(|| column.name.clone()),
        Expr::ScalarFunction(f) => f.name().to_owned(),
        Expr::AggregateFunction(f) => f.func.name().to_owned(),
        Expr::WindowFunction(f) => f.fun.name().to_owned(),
        Expr::Cast(cast) => expression_name(&cast.expr),
        Expr::TryCast(cast) => expression_name(&cast.expr),
        _ => "?column?".to_owned(),
    }
}

/// Columns produced by an aggregate or window below the projection are named after their
/// expression (`count(*)`); recover the function's name from it. DataFusion writes literal
/// types in CamelCase (`Int64(1)`), so only a lower-case identifier counts as a function.
fn function_name(expression: &str) -> Option<String> {
    let open = expression.find('(')?;
    let name = &expression[..open];
    let is_function = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    is_function.then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::function_name;

    #[test]
    fn function_names_from_expression_names() {
        assert_eq!(function_name("count(*)").as_deref(), Some("count"));
        assert_eq!(
            function_name("sum(sales.orders.amount)").as_deref(),
            Some("sum")
        );
        assert_eq!(
            function_name("row_number() ORDER BY [x ASC]").as_deref(),
            Some("row_number")
        );
        assert_eq!(function_name("Int64(1) + Int64(1)"), None);
        assert_eq!(function_name("region"), None);
    }
}
