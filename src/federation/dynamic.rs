//! A join's keys as a remote filter. When a federated table is the probe side of a hash join,
//! DataFusion hands its scan a dynamic filter that it completes once the build side is read:
//! the keys' bounds and, for up to `hash_join_inlist_pushdown_max_distinct_values` keys, an IN
//! list. The remote scan waits for it and adds what the remote can evaluate to its WHERE, so the
//! remote sends only rows that can join (for the orders of one day, their customers instead of
//! all customers).
//!
//! The filter only narrows what is fetched; the join still matches every row itself. So any
//! part the remote cannot evaluate (a hash-table lookup, a per-partition CASE) is left out,
//! which can only widen the filter, never change the answer.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::datatypes::Schema;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::utils::split_conjunction_owned;
use datafusion::logical_expr::{Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_expr::expressions::{
    BinaryExpr, CaseExpr, Column, DynamicFilterPhysicalExpr, InListExpr, IsNotNullExpr, IsNullExpr,
    Literal,
};
use datafusion::physical_expr::PhysicalExpr;

use super::connection::Engine;
use super::pushdown;

/// How long a remote scan waits for its build side before it runs without the filter. The
/// scan is only polled once the build side is read, so this bounds a wait that should not be.
const WAIT: Duration = Duration::from_secs(60);

/// Whether a filter a parent offers is a join's dynamic filter.
pub fn is_dynamic(filter: &Arc<dyn PhysicalExpr>) -> bool {
    filter.downcast_ref::<DynamicFilterPhysicalExpr>().is_some()
}

/// The completed filters as logical conjuncts that the remote evaluates.
pub async fn settle(
    filters: &[Arc<dyn PhysicalExpr>],
    schema: &Schema,
    engine: Engine,
) -> Vec<Expr> {
    let mut conjuncts = Vec::new();
    for filter in filters {
        let Some(dynamic) = filter.downcast_ref::<DynamicFilterPhysicalExpr>() else {
            continue;
        };
        if tokio::time::timeout(WAIT, dynamic.wait_complete())
            .await
            .is_err()
        {
            tracing::warn!(
                "a join's dynamic filter did not complete; the remote scan runs without it"
            );
            continue;
        }
        let Ok(current) = dynamic.current() else {
            continue;
        };
        conjuncts.extend(
            weaken(&current)
                .map(split_conjunction_owned)
                .unwrap_or_default(),
        );
    }
    conjuncts.retain(|c| {
        pushdown::support(c, schema, engine) != TableProviderFilterPushDown::Unsupported
    });
    conjuncts
}

/// The expression with every part that has no SQL form replaced by TRUE (`None`). Only AND
/// and OR are walked, so the result is implied by the original.
fn weaken(expr: &Arc<dyn PhysicalExpr>) -> Option<Expr> {
    if let Some(binary) = expr.downcast_ref::<BinaryExpr>() {
        let (left, right) = (weaken(binary.left()), weaken(binary.right()));
        return match binary.op() {
            Operator::And => match (left, right) {
                (Some(l), Some(r)) => Some(l.and(r)),
                (one, None) | (None, one) => one,
            },
            Operator::Or => Some(left?.or(right?)),
            op => comparison(binary.left(), *op, binary.right()),
        };
    }
    if let Some(case) = expr.downcast_ref::<CaseExpr>() {
        return any_branch(case);
    }
    if let Some(list) = expr.downcast_ref::<InListExpr>() {
        let values = list
            .list()
            .iter()
            .map(literal)
            .collect::<Option<Vec<_>>>()?;
        return (!list.negated()).then_some(column(list.expr())?.in_list(values, false));
    }
    if let Some(e) = expr.downcast_ref::<IsNullExpr>() {
        return Some(column(e.arg())?.is_null());
    }
    if let Some(e) = expr.downcast_ref::<IsNotNullExpr>() {
        return Some(column(e.arg())?.is_not_null());
    }
    None
}

/// A partitioned join routes each row to its partition's keys with a CASE; a row that passes
/// passes one branch, so the OR of the branches is implied by it (a FALSE branch adds nothing).
fn any_branch(case: &CaseExpr) -> Option<Expr> {
    let branches = case
        .when_then_expr()
        .iter()
        .map(|(_, then)| then)
        .chain(case.else_expr());
    let mut any: Option<Expr> = None;
    for branch in branches {
        let is_false = branch
            .downcast_ref::<Literal>()
            .is_some_and(|l| l.value() == &ScalarValue::Boolean(Some(false)));
        if is_false {
            continue;
        }
        let branch = weaken(branch)?;
        any = Some(match any {
            Some(so_far) => so_far.or(branch),
            None => branch,
        });
    }
    any
}

fn comparison(
    left: &Arc<dyn PhysicalExpr>,
    op: Operator,
    right: &Arc<dyn PhysicalExpr>,
) -> Option<Expr> {
    let comparable = matches!(
        op,
        Operator::Eq | Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq
    );
    comparable.then_some(())?;
    Some(Expr::BinaryExpr(datafusion::logical_expr::BinaryExpr::new(
        Box::new(column(left).or_else(|| literal(left))?),
        op,
        Box::new(column(right).or_else(|| literal(right))?),
    )))
}

fn column(expr: &Arc<dyn PhysicalExpr>) -> Option<Expr> {
    let column = expr.downcast_ref::<Column>()?;
    Some(Expr::Column(datafusion::common::Column::new_unqualified(
        column.name(),
    )))
}

fn literal(expr: &Arc<dyn PhysicalExpr>) -> Option<Expr> {
    let literal = expr.downcast_ref::<Literal>()?;
    Some(Expr::Literal(literal.value().clone(), None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field};
    use datafusion::physical_expr::expressions::{col, lit};

    #[test]
    fn bounds_and_lists_become_sql_and_lookups_are_dropped() {
        let schema = Schema::new(vec![Field::new("id", DataType::Int64, true)]);
        let id = col("id", &schema).unwrap();
        let bound = |op, v: i64| {
            Arc::new(BinaryExpr::new(
                Arc::clone(&id),
                op,
                lit(ScalarValue::Int64(Some(v))),
            )) as Arc<dyn PhysicalExpr>
        };
        let bounds = Arc::new(BinaryExpr::new(
            bound(Operator::GtEq, 3),
            Operator::And,
            bound(Operator::LtEq, 9),
        ));
        let list = Arc::new(
            InListExpr::try_new(Arc::clone(&id), vec![lit(3i64), lit(9i64)], false, &schema)
                .unwrap(),
        );
        let with_list: Arc<dyn PhysicalExpr> =
            Arc::new(BinaryExpr::new(bounds.clone(), Operator::And, list));
        let got = weaken(&with_list).unwrap().to_string();
        assert!(
            got.contains("id >= Int64(3)") && got.contains("IN ([Int64(3), Int64(9)])"),
            "{got}"
        );
        // An expression without a SQL form (here: a NOT) is replaced by TRUE inside an AND, and
        // makes a whole OR TRUE.
        let opaque: Arc<dyn PhysicalExpr> = Arc::new(
            datafusion::physical_expr::expressions::NotExpr::new(bound(Operator::Eq, 1)),
        );
        let and: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(
            bounds.clone(),
            Operator::And,
            Arc::clone(&opaque),
        ));
        assert_eq!(
            weaken(&and).unwrap().to_string(),
            weaken(&(bounds.clone() as Arc<dyn PhysicalExpr>))
                .unwrap()
                .to_string()
        );
        let or: Arc<dyn PhysicalExpr> =
            Arc::new(BinaryExpr::new(bounds.clone(), Operator::Or, opaque));
        assert!(weaken(&or).is_none());
        // A partitioned join's CASE over partitions becomes the OR of its branches.
        let routed: Arc<dyn PhysicalExpr> = Arc::new(
            CaseExpr::try_new(
                Some(Arc::clone(&id)),
                vec![(lit(1i64), bounds), (lit(2i64), lit(false))],
                Some(bound(Operator::Eq, 42)),
            )
            .unwrap(),
        );
        let got = weaken(&routed).unwrap().to_string();
        assert!(
            got.contains(" OR id = Int64(42)") && !got.contains("false"),
            "{got}"
        );
    }
}
