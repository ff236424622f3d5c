//! An aggregate that a statement computes more than once is computed once.
//!
//! DataFusion inlines a CTE (and a view) at every reference, so TPC-H Q15's `revenue`, read by
//! the query and by its `max(total_revenue)` subquery, aggregates `lineitem` twice. PostgreSQL
//! (since 12) and DuckDB compute a CTE referenced more than once a single time. lakegate's
//! planner does the same for identical aggregates in the optimized plan: each occurrence
//! becomes a [`SharedSubquery`] node with one id per statement, and physically ([`exec`]) the
//! first occurrence executed computes the rows into memory, which every occurrence then reads.
//!
//! This runs after the logical optimizer, on the plan about to be planned physically: no
//! later rule can push a filter (one without columns, say) into one occurrence and not the
//! others. Two occurrences are the same when their plans compare equal and their scans read
//! the same resolved tables (a scan's equality ignores its source, and two calls of a table
//! function with different arguments share a name).
//!
//! Not shared: aggregates without aggregate functions (DISTINCT, whose result can be as large
//! as its input), plans with volatile functions (`random()` is drawn per reference, as
//! PostgreSQL does for a derived table) or outer references, plans that read no table, and
//! statements with a recursive CTE (whose terms run again after a reset).

mod exec;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::common::{DFSchemaRef, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::{
    Expr, Extension, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};

pub use exec::SharedSubqueryExec;

/// One occurrence of an aggregate computed more than once; all occurrences share `id`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Hash)]
pub struct SharedSubquery {
    pub id: u64,
    pub input: LogicalPlan,
}

impl UserDefinedLogicalNodeCore for SharedSubquery {
    fn name(&self) -> &str {
        "SharedSubquery"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SharedSubquery: id={}", self.id)
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        Ok(Self {
            id: self.id,
            input: inputs.swap_remove(0),
        })
    }
}

/// DataFusion's physical planner, run on the plan with repeated aggregates shared, and with
/// [`SharedSubquery`] nodes planned as [`SharedSubqueryExec`]s. One extension planner per
/// statement holds its shared results.
#[derive(Debug, Default)]
pub struct LakeQueryPlanner;

#[async_trait]
impl QueryPlanner for LakeQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let shared = share_repeated_aggregates(logical_plan.clone())?;
        let planner = Arc::new(exec::SharedSubqueryPlanner::default());
        DefaultPhysicalPlanner::with_extension_planners(vec![planner])
            .create_physical_plan(&shared, session)
            .await
    }
}

/// What makes two occurrences the same: the plan, and the tables its scans resolved to.
#[derive(PartialEq, Eq, Hash)]
struct Occurrence {
    plan: LogicalPlan,
    sources: Vec<usize>,
}

/// Ids are unique within the process, so two statements' nodes never compare equal.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Wraps every occurrence of an aggregate computed at least twice in a [`SharedSubquery`].
pub fn share_repeated_aggregates(plan: LogicalPlan) -> Result<LogicalPlan> {
    let ids: HashMap<Occurrence, u64> = repeated_aggregates(&plan)?
        .into_iter()
        .map(|occurrence| (occurrence, NEXT_ID.fetch_add(1, Ordering::Relaxed)))
        .collect();
    if ids.is_empty() {
        return Ok(plan);
    }
    let shared = plan.transform_down_with_subqueries(|node| {
        let Some(&id) = occurrence(&node).and_then(|o| ids.get(&o)) else {
            return Ok(Transformed::no(node));
        };
        let node = LogicalPlan::Extension(Extension {
            node: Arc::new(SharedSubquery { id, input: node }),
        });
        Ok(Transformed::new(node, true, TreeNodeRecursion::Jump))
    })?;
    Ok(shared.data)
}

/// Aggregates worth sharing that would be wrapped at least twice. An aggregate repeated only
/// inside another repeated one is computed with it, so candidates are counted again as the
/// wrapping will meet them, until every one left is met twice. Candidates only shrink: one
/// dropped together with its container is not reconsidered (a missed sharing, never a wrong
/// one).
fn repeated_aggregates(plan: &LogicalPlan) -> Result<Vec<Occurrence>> {
    let mut candidates: Vec<Occurrence> = Vec::new();
    for (occurrence, count) in count_occurrences(plan, |_| false)? {
        if count > 1 && worth_sharing(&occurrence.plan)? {
            candidates.push(occurrence);
        }
    }
    // Most statements repeat no aggregate: they stop here, after one walk of the plan.
    if candidates.is_empty() || is_recursive(plan)? {
        return Ok(Vec::new());
    }
    loop {
        let wrapped = count_occurrences(plan, |o| candidates.contains(o))?;
        let before = candidates.len();
        candidates.retain(|o| wrapped.get(o).is_some_and(|&count| count > 1));
        if candidates.len() == before {
            return Ok(candidates);
        }
    }
}

fn is_recursive(plan: &LogicalPlan) -> Result<bool> {
    let mut recursive = false;
    plan.apply_with_subqueries(|node| {
        recursive |= matches!(node, LogicalPlan::RecursiveQuery(_));
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(recursive)
}

/// How often each aggregate occurs, not looking inside those that `stop_at` (wrapped ones).
fn count_occurrences(
    plan: &LogicalPlan,
    stop_at: impl Fn(&Occurrence) -> bool,
) -> Result<HashMap<Occurrence, usize>> {
    let mut counts: HashMap<Occurrence, usize> = HashMap::new();
    plan.apply_with_subqueries(|node| {
        let Some(occurrence) = occurrence(node) else {
            return Ok(TreeNodeRecursion::Continue);
        };
        let stop = stop_at(&occurrence);
        *counts.entry(occurrence).or_default() += 1;
        Ok(match stop {
            true => TreeNodeRecursion::Jump,
            false => TreeNodeRecursion::Continue,
        })
    })?;
    Ok(counts)
}

/// An aggregate with at least one aggregate function, with the tables it reads.
fn occurrence(node: &LogicalPlan) -> Option<Occurrence> {
    let LogicalPlan::Aggregate(aggregate) = node else {
        return None;
    };
    if aggregate.aggr_expr.is_empty() {
        return None;
    }
    let mut sources = Vec::new();
    let _ = node.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            sources.push(Arc::as_ptr(&scan.source) as *const () as usize);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    Some(Occurrence {
        plan: node.clone(),
        sources,
    })
}

/// It reads a table, and calls no volatile function and refers to no outer query.
fn worth_sharing(plan: &LogicalPlan) -> Result<bool> {
    let mut reads = false;
    let mut unsafe_to_share = false;
    plan.apply_with_subqueries(|node| {
        reads |= matches!(node, LogicalPlan::TableScan(_));
        unsafe_to_share |= node.contains_outer_reference();
        node.apply_expressions(|expr| {
            unsafe_to_share |= expr.is_volatile();
            Ok(TreeNodeRecursion::Continue)
        })?;
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(reads && !unsafe_to_share)
}

/// For the extension planner: the node's id, if it is a [`SharedSubquery`].
fn shared_id(node: &dyn UserDefinedLogicalNode) -> Option<u64> {
    node.as_any()
        .downcast_ref::<SharedSubquery>()
        .map(|shared| shared.id)
}

#[cfg(test)]
mod tests;
