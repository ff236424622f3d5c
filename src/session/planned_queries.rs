//! Planned queries of repeated statements, kept per session.
//!
//! After the parsed texts and the physical plans were kept, a repeated simple query still
//! copied the session state and planned the statement logically each time (about 15% of the
//! gateway's CPU under simple `SELECT 1`; benches/README, C). A session keeps what `plan` made
//! of a statement (its logical plan and result description), keyed by the statement as the
//! session rewrote it (temporary tables qualified), under the same `Stamp` as physical plans.
//!
//! A logical plan holds the table providers it resolved, so it is kept only when a new
//! planning would resolve the same ones:
//! - every table it reads is a lake table (Parquet, CSV or JSON files, or a Delta snapshot),
//!   possibly behind the principal's policy, or a view over such tables. The catalog gives
//!   these again while its version (in the stamp) holds, and a Delta snapshot until its cache
//!   expires: a plan that reads tables is reused for at most the shorter cache TTL, as
//!   physical plans are. Not kept: pg_catalog and information_schema (their rows are built
//!   when planned), temporary tables (a dropped and re-created one is a new table under the
//!   same name), the audit tables (refreshed when read) and federated tables;
//! - it calls only immutable functions;
//! - it is a query: PREPARE, EXECUTE and DEALLOCATE run through DataFusion's own state, and
//!   EXPLAIN is rare enough to plan each time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::Statement;

use super::execute::PlannedQuery;
use super::plan_cache::{only_immutable_functions, reads_tables, Stamp};
use crate::policy::base_tables::every_base_table;
use crate::scan::delta::DeltaSnapshotTable;
use crate::scan::partitioned::PartitionedTable;

/// Statements kept per session; a session that plans more distinct ones starts over.
const MAX_STATEMENTS: usize = 32;

/// Longer statements (as SQL text) are planned each time: they are rarely repeated, and a
/// kept one holds its syntax tree and plan.
const MAX_STATEMENT_BYTES: usize = 4096;

#[derive(Debug)]
struct KeptQuery {
    planned: PlannedQuery,
    stamp: Stamp,
    planned_at: Instant,
    reads_tables: bool,
}

#[derive(Debug, Default)]
pub(super) struct PlannedQueries {
    queries: Mutex<HashMap<Statement, KeptQuery>>,
}

impl PlannedQueries {
    /// What `statement` was planned to, if that is still what planning it now would give.
    /// `max_table_age` bounds how long a plan that reads tables is reused.
    pub fn get(
        &self,
        statement: &Statement,
        stamp: &Stamp,
        max_table_age: Duration,
    ) -> Option<PlannedQuery> {
        let mut queries = self.queries.lock().expect("planned queries");
        let kept = queries.get(statement)?;
        let fresh = !kept.reads_tables || kept.planned_at.elapsed() < max_table_age;
        if kept.stamp != *stamp || !fresh {
            queries.remove(statement);
            return None;
        }
        Some(kept.planned.clone())
    }

    /// Keeps what `statement` was just planned to under `stamp`, if it can be reused (see the
    /// module's comment). The caller checks that it was planned under the stamp's policy and
    /// catalog.
    pub fn put(
        &self,
        statement: &Statement,
        planned: &PlannedQuery,
        stamp: Stamp,
        max_table_age: Duration,
    ) {
        let plan = &planned.plan;
        if !is_query(plan) || !only_immutable_functions(plan) || !only_lake_tables(plan) {
            return;
        }
        let reads_tables = reads_tables(plan);
        if reads_tables && max_table_age.is_zero() {
            return;
        }
        if statement.to_string().len() > MAX_STATEMENT_BYTES {
            return;
        }
        let mut queries = self.queries.lock().expect("planned queries");
        if queries.len() >= MAX_STATEMENTS {
            queries.clear();
        }
        let kept = KeptQuery {
            planned: planned.clone(),
            stamp,
            planned_at: Instant::now(),
            reads_tables,
        };
        queries.insert(statement.clone(), kept);
    }
}

fn is_query(plan: &LogicalPlan) -> bool {
    !matches!(
        plan,
        LogicalPlan::Statement(_)
            | LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::DescribeTable(_)
    )
}

/// Whether every table the plan reads is one the catalog would give again (see the module's
/// comment).
fn only_lake_tables(plan: &LogicalPlan) -> bool {
    every_base_table(plan, &|p| {
        p.is::<PartitionedTable>() || p.is::<DeltaSnapshotTable>()
    })
}

#[cfg(test)]
#[path = "planned_queries_tests.rs"]
mod tests;
