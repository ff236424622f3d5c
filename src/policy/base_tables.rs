//! The tables a plan reads, seen through the wrappers the catalog puts around them: a policy
//! (`SecureTable`) and a view (`ViewTable`, whose own query is read in turn, subqueries too).

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::{source_as_provider, ViewTable};
use datafusion::logical_expr::LogicalPlan;

use super::secure::SecureTable;

/// Whether `is` holds for every base table the plan reads (a scan whose provider cannot be
/// seen counts as one for which it does not).
pub fn every_base_table(plan: &LogicalPlan, is: &dyn Fn(&Arc<dyn TableProvider>) -> bool) -> bool {
    let mut every = true;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            every &= source_as_provider(&scan.source).is_ok_and(|p| base_table_is(&p, is));
        }
        Ok(match every {
            true => TreeNodeRecursion::Continue,
            false => TreeNodeRecursion::Stop,
        })
    });
    every
}

/// Whether `is` holds for any base table the plan reads.
pub fn any_base_table(plan: &LogicalPlan, is: &dyn Fn(&Arc<dyn TableProvider>) -> bool) -> bool {
    !every_base_table(plan, &|provider| !is(provider))
}

fn base_table_is(
    provider: &Arc<dyn TableProvider>,
    is: &dyn Fn(&Arc<dyn TableProvider>) -> bool,
) -> bool {
    if let Some(secure) = provider.downcast_ref::<SecureTable>() {
        return base_table_is(secure.inner(), is);
    }
    if let Some(view) = provider.downcast_ref::<ViewTable>() {
        return every_base_table(view.logical_plan(), is);
    }
    is(provider)
}
