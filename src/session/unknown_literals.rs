//! PostgreSQL gives a quoted literal no type until it meets another operand: in
//! `indisprimary = 't'` the literal is a boolean. DataFusion types it as text and finds no
//! common type for `Boolean = Utf8` (psqlODBC's and pgjdbc's catalog queries compare flags
//! this way). This analyzer rule runs before type coercion and reads a text literal compared
//! with a boolean as a boolean, with PostgreSQL's spellings; any other text stays an error.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator};
use datafusion::optimizer::analyzer::{Analyzer, AnalyzerRule};

#[derive(Debug, Default)]
pub struct UnknownLiterals;

/// DataFusion's analyzer rules with this one first.
pub fn analyzer_rules() -> Vec<Arc<dyn AnalyzerRule + Send + Sync>> {
    let mut rules = Analyzer::new().rules;
    rules.insert(0, Arc::new(UnknownLiterals));
    rules
}

impl AnalyzerRule for UnknownLiterals {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            let mut schema = DFSchema::empty();
            for input in node.inputs() {
                schema.merge(input.schema());
            }
            node.map_expressions(|expr| expr.transform_up(|e| typed_literal(e, &schema)))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "lakegate_unknown_literals"
    }
}

fn typed_literal(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &expr else {
        return Ok(Transformed::no(expr));
    };
    if !matches!(
        op,
        Operator::Eq | Operator::NotEq | Operator::IsDistinctFrom | Operator::IsNotDistinctFrom
    ) {
        return Ok(Transformed::no(expr));
    }
    let is_boolean = |e: &Expr| {
        e.get_type(schema)
            .is_ok_and(|t| t == datafusion::arrow::datatypes::DataType::Boolean)
    };
    let (left, right) = match (as_boolean_text(left), as_boolean_text(right)) {
        (Some(value), None) if is_boolean(right) => (literal(value), (**right).clone()),
        (None, Some(value)) if is_boolean(left) => ((**left).clone(), literal(value)),
        _ => return Ok(Transformed::no(expr)),
    };
    Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
        Box::new(left),
        *op,
        Box::new(right),
    ))))
}

fn literal(value: bool) -> Expr {
    Expr::Literal(ScalarValue::Boolean(Some(value)), None)
}

/// A text literal spelling a boolean as PostgreSQL's `boolin` accepts it.
fn as_boolean_text(expr: &Expr) -> Option<bool> {
    let Expr::Literal(ScalarValue::Utf8(Some(text)), _) = expr else {
        return None;
    };
    match text.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "y" | "yes" | "on" | "1" => Some(true),
        "f" | "false" | "n" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}
