//! Physical plans of repeated statements, kept per session.
//!
//! Optimizing and planning a statement physically costs more than running a small one (about
//! 30% of the gateway's CPU under prepared `SELECT 1`; benches/README, C), and a prepared
//! statement or a repeated query asks for the same plan again. A session keeps the plans it
//! made, keyed by the bound logical plan, so no principal ever reuses another's secured plan.
//!
//! A plan is reused only while it is still the plan a fresh planning would make:
//! - the policy load, the catalog, this gateway's writes and the default schema are as they
//!   were (`Stamp`), and the statement was itself planned under the policy load and catalog
//!   in force (the caller checks: a plan secured by a revoked policy is never kept);
//! - a plan that reads files is at most the shortest catalog or listing cache TTL old, so a
//!   file or partition added outside the gateway is seen as late as the caches allow;
//! - its logical plan calls only immutable functions (`now()` is folded into the plan);
//! - every node of its physical plan is one whose state a reset clears (`reusable_nodes`).
//!   Joins, sorts and aggregates are not: they hand dynamic filters to the scans below them,
//!   which a reset does not reconnect (DataFusion's `reset_plan_states` documents this).
//!   Neither are memory tables (pg_catalog, temporary tables: their rows are in the plan) nor
//!   Delta and federated scans, which keep state of their own.
//! - it has run fewer than `MAX_RUNS` times.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::source_as_provider;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, LogicalPlan, TableScan, Volatility};
use datafusion::physical_plan::execution_plan::reset_plan_states;
use datafusion::physical_plan::ExecutionPlan;

use crate::policy::barrier::SecureScanExec;
use crate::policy::secure::SecureTable;
use crate::scan::report::ScanReport;

/// Plans kept per session; a session that runs more distinct statements starts over.
const MAX_PLANS: usize = 64;

/// Runs of one kept plan before it is made again: a file scan's metrics are shared by all
/// reset copies and grow with each run (a few dozen entries per file opened).
const MAX_RUNS: u32 = 1000;

/// Nodes that hold no state across executions, or whose state `reset_state` clears.
const REUSABLE_NODES: &[&str] = &[
    "ProjectionExec",
    "FilterExec",
    "CoalesceBatchesExec",
    "CoalescePartitionsExec",
    "RepartitionExec",
    "GlobalLimitExec",
    "LocalLimitExec",
    "PlaceholderRowExec",
    "EmptyExec",
    "CooperativeExec",
];

/// What a physical plan was made under. The default schema is here because the plan (the
/// key) keeps table names as written: `orders` under another `search_path` is another table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stamp {
    pub policy_epoch: u64,
    pub catalog_version: u64,
    pub data_version: u64,
    pub default_schema: String,
}

#[cfg(test)]
impl Stamp {
    pub const EXAMPLE: Stamp = Stamp {
        policy_epoch: 1,
        catalog_version: 2,
        data_version: 3,
        default_schema: String::new(),
    };

    /// This stamp with each of its fields changed in turn.
    pub fn each_field_changed(&self) -> [Stamp; 4] {
        let changed = |change: fn(&mut Stamp)| {
            let mut stamp = self.clone();
            change(&mut stamp);
            stamp
        };
        [
            changed(|s| s.policy_epoch += 1),
            changed(|s| s.catalog_version += 1),
            changed(|s| s.data_version += 1),
            changed(|s| s.default_schema.push_str("_other")),
        ]
    }
}

/// A statement's physical plan and what planning it recorded (scans, policy reads).
#[derive(Debug, Clone)]
pub(super) struct PhysicalQuery {
    pub plan: Arc<dyn ExecutionPlan>,
    pub report: Arc<ScanReport>,
}

#[derive(Debug)]
struct CachedPlan {
    query: PhysicalQuery,
    stamp: Stamp,
    planned_at: Instant,
    reads_files: bool,
    runs: u32,
}

#[derive(Debug, Default)]
pub(super) struct PlanCache {
    plans: Mutex<HashMap<LogicalPlan, CachedPlan>>,
}

impl PlanCache {
    /// The kept plan for `logical`, reset for one more execution, if it is still valid.
    /// `max_file_age` bounds how long a plan that reads files is reused.
    pub fn get(
        &self,
        logical: &LogicalPlan,
        stamp: &Stamp,
        max_file_age: Duration,
    ) -> Option<Result<PhysicalQuery>> {
        let mut plans = self.plans.lock().expect("plan cache");
        let cached = plans.get_mut(logical)?;
        let fresh = !cached.reads_files || cached.planned_at.elapsed() < max_file_age;
        cached.runs += 1;
        if cached.stamp != *stamp || !fresh || cached.runs > MAX_RUNS {
            plans.remove(logical);
            return None;
        }
        let query = cached.query.clone();
        drop(plans);
        Some(reset_plan_states(query.plan).map(|plan| PhysicalQuery {
            plan,
            report: query.report,
        }))
    }

    /// Keeps a plan just made, if it can be run again (see the module's comment). The plan
    /// runs as it is the first time; each later use runs a reset copy.
    pub fn put(
        &self,
        logical: &LogicalPlan,
        query: &PhysicalQuery,
        stamp: Stamp,
        max_file_age: Duration,
    ) {
        if query.report.uncacheable() || !only_immutable_functions(logical) {
            return;
        }
        if !reusable_nodes(&query.plan) {
            return;
        }
        // Even a plan with no scan left may hold what files said (a count from statistics).
        let reads_files = reads_tables(logical);
        if reads_files && max_file_age.is_zero() {
            return;
        }
        let mut plans = self.plans.lock().expect("plan cache");
        if plans.len() >= MAX_PLANS {
            plans.clear();
        }
        let cached = CachedPlan {
            query: query.clone(),
            stamp,
            planned_at: Instant::now(),
            reads_files,
            runs: 1,
        };
        plans.insert(logical.clone(), cached);
    }
}

/// Whether every function the plan calls gives the same answer for the same arguments:
/// stable ones (`now()`, `current_setting`) may be folded into the plan as constants. The
/// plans of views read are checked too (a scan shows only the view's name).
pub(super) fn only_immutable_functions(plan: &LogicalPlan) -> bool {
    let mut immutable = true;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if let Some(view) = view_plan(scan) {
                immutable &= only_immutable_functions(&view);
            }
        }
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                immutable &= match e {
                    Expr::ScalarFunction(f) => {
                        f.func.signature().volatility == Volatility::Immutable
                    }
                    Expr::ScalarVariable(..) => false,
                    _ => true,
                };
                Ok(continue_while(immutable))
            })
        })
    });
    immutable
}

/// The query of a view a scan reads, also when the view is read under a policy: the policy
/// wrapper hides it from `TableSource::get_logical_plan`.
fn view_plan(scan: &TableScan) -> Option<LogicalPlan> {
    if let Some(view) = scan.source.get_logical_plan() {
        return Some(view.into_owned());
    }
    let provider = source_as_provider(&scan.source).ok()?;
    let secure = provider.downcast_ref::<SecureTable>()?;
    secure
        .inner()
        .get_logical_plan()
        .map(|view| view.into_owned())
}

/// Whether the plan reads any table (its answer then depends on the files' state).
pub(super) fn reads_tables(plan: &LogicalPlan) -> bool {
    let mut reads = false;
    let _ = plan.apply_with_subqueries(|node| {
        reads |= matches!(node, LogicalPlan::TableScan(_));
        Ok(continue_while(!reads))
    });
    reads
}

/// A tree walk's answer: go on while `going`, else stop.
pub(super) fn continue_while(going: bool) -> TreeNodeRecursion {
    match going {
        true => TreeNodeRecursion::Continue,
        false => TreeNodeRecursion::Stop,
    }
}

/// Whether every node can run again after a reset. The raw scan under a policy barrier is
/// checked too (the barrier shows itself as a leaf).
fn reusable_nodes(plan: &Arc<dyn ExecutionPlan>) -> bool {
    if let Some(barrier) = plan.downcast_ref::<SecureScanExec>() {
        return reusable_nodes(barrier.raw_scan());
    }
    if let Some(source) = plan.downcast_ref::<DataSourceExec>() {
        return source
            .data_source()
            .downcast_ref::<FileScanConfig>()
            .is_some();
    }
    REUSABLE_NODES.contains(&plan.name()) && plan.children().into_iter().all(reusable_nodes)
}

#[cfg(test)]
#[path = "plan_cache_tests.rs"]
mod tests;
