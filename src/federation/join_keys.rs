//! Join keys between a lake string and a remote string are compared as plain `Utf8`.
//!
//! Lake Parquet strings are read as `Utf8View` (`PartitionedTable::new`), remote strings as
//! `Utf8`, so type coercion compares `lake_key = CAST(remote_key AS Utf8View)`. Two things then
//! keep a join's keys from reaching the remote (`dynamic`): the remote's key is behind a cast,
//! and the hash join judges the build side's keys by their arrays' memory size, which for view
//! arrays counts the page buffers the views point into; three keys read from one page already
//! exceeded `hash_join_inlist_pushdown_max_size`, so the remote scan got a hash-table lookup it
//! cannot send and fetched every row. Comparing `CAST(lake_key AS Utf8) = remote_key` instead
//! gives a compact key array (its size is the keys') and a bare remote column. Runs after type
//! coercion; the join's output columns keep their types.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::{cast, Cast, Expr, ExprSchemable, Join, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;

use super::RemoteTable;
use crate::policy::base_tables::any_base_table;

#[derive(Debug, Default)]
pub struct RemoteJoinKeys;

impl AnalyzerRule for RemoteJoinKeys {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| match node {
            LogicalPlan::Join(join) => plain_keys(join),
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "remote_join_keys"
    }
}

fn plain_keys(mut join: Join) -> Result<Transformed<LogicalPlan>> {
    let (left_remote, right_remote) = (reads_remote(&join.left), reads_remote(&join.right));
    let mut changed = false;
    let (left_schema, right_schema) = (
        Arc::clone(join.left.schema()),
        Arc::clone(join.right.schema()),
    );
    for (left, right) in join.on.iter_mut() {
        // As (new left key, new right key).
        let rewritten = match (left_remote, right_remote) {
            (false, true) => plain_pair(left, &left_schema, right, &right_schema),
            (true, false) => plain_pair(right, &right_schema, left, &left_schema)
                .map(|(lake, remote)| (remote, lake)),
            _ => None,
        };
        if let Some((new_left, new_right)) = rewritten {
            (*left, *right) = (new_left, new_right);
            changed = true;
        }
    }
    let plan = LogicalPlan::Join(join);
    Ok(match changed {
        true => Transformed::yes(plan),
        false => Transformed::no(plan),
    })
}

/// `(lake_key: Utf8View, CAST(remote_key: Utf8 AS Utf8View))` → `(CAST(lake_key AS Utf8),
/// remote_key)`, as (lake side, remote side); anything else is left alone.
fn plain_pair(
    lake: &Expr,
    lake_schema: &DFSchema,
    remote: &Expr,
    remote_schema: &DFSchema,
) -> Option<(Expr, Expr)> {
    let Expr::Cast(Cast { expr, field }) = remote else {
        return None;
    };
    let is_view = |e: &Expr, schema| e.get_type(schema).ok() == Some(DataType::Utf8View);
    let from_plain = expr.get_type(remote_schema).ok() == Some(DataType::Utf8);
    (*field.data_type() == DataType::Utf8View && from_plain && is_view(lake, lake_schema))
        .then(|| (cast(lake.clone(), DataType::Utf8), expr.as_ref().clone()))
}

/// Whether a plan reads a federated table (also behind a policy or a view).
fn reads_remote(plan: &LogicalPlan) -> bool {
    any_base_table(plan, &|p| p.is::<RemoteTable>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::logical_expr::col;

    fn schema(name: &str, data_type: DataType) -> DFSchema {
        let fields = vec![Field::new(name, data_type, true)];
        DFSchema::try_from(Schema::new(fields)).unwrap()
    }

    #[test]
    fn a_view_key_against_a_cast_plain_key_becomes_two_plain_keys() {
        let (lake, remote) = (schema("l", DataType::Utf8View), schema("r", DataType::Utf8));
        let cast_remote = cast(col("r"), DataType::Utf8View);
        let (l, r) = plain_pair(&col("l"), &lake, &cast_remote, &remote).unwrap();
        assert_eq!(l, cast(col("l"), DataType::Utf8));
        assert_eq!(r, col("r"));
        // Not a string pair: left alone.
        let numbers = schema("r", DataType::Int64);
        assert!(plain_pair(&col("l"), &lake, &cast_remote, &numbers).is_none());
        assert!(plain_pair(&col("l"), &lake, &col("r"), &remote).is_none());
    }
}
