//! The policy barrier (D7) as an execution plan node.
//!
//! A [`SecureScanExec`] wraps the plan that reads a table under a policy (raw scan, row filter,
//! masks) and shows itself to the physical optimizer as a leaf: no rule can push a user's
//! filter, limit, dynamic join filter or projection into it, and it reports no statistics, so
//! `count(*)` is never answered from the raw table's statistics. EXPLAIN shows the node's name,
//! table and columns only: the policy's expressions, the hidden columns it reads and the files
//! stay out of sight (D10), and EXPLAIN ANALYZE has no inner metrics (the pre-filter row count).

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
    SendableRecordBatchStream,
};
use futures::TryStreamExt;

use crate::error::LakegateError;

#[derive(Debug)]
pub struct SecureScanExec {
    table: String,
    inner: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl SecureScanExec {
    pub fn new(table: String, inner: Arc<dyn ExecutionPlan>) -> Self {
        // Fresh properties: the inner plan's equivalences could carry the row filter's constants.
        let properties = PlanProperties::new(
            EquivalenceProperties::new(inner.schema()),
            Partitioning::UnknownPartitioning(inner.output_partitioning().partition_count()),
            inner.pipeline_behavior(),
            inner.boundedness(),
        );
        Self {
            table,
            inner,
            properties: Arc::new(properties),
        }
    }
}

impl DisplayAs for SecureScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let columns: Vec<&str> = self
            .properties
            .eq_properties
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        write!(
            f,
            "SecureScanExec: table={}, columns=[{}]",
            self.table,
            columns.join(", ")
        )
    }
}

impl ExecutionPlan for SecureScanExec {
    fn name(&self) -> &str {
        "SecureScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    /// A leaf: the inner plan is built whole by [`super::secure::SecureTable`].
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let stream = self.inner.execute(partition, context)?;
        let schema = stream.schema();
        let table = self.table.clone();
        let guarded = stream.map_err(move |e| policy_failure(&table, e));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, guarded)))
    }
}

/// Errors while reading raw rows could carry values the principal may not see (a mask or row
/// filter failing on a hidden value), so only storage errors pass; anything else becomes a
/// generic error whose detail goes to the log.
fn policy_failure(table: &str, error: DataFusionError) -> DataFusionError {
    use DataFusionError as E;
    match error.find_root() {
        E::ObjectStore(_) | E::IoError(_) | E::ParquetError(_) | E::ResourcesExhausted(_) => error,
        E::External(inner)
            if inner.is::<crate::catalog::backend::CatalogError>()
                || inner.is::<LakegateError>() =>
        {
            error
        }
        _ => {
            tracing::warn!(table, detail = %error, "reading through an access policy failed");
            let problem = LakegateError::PolicyNotEnforceable {
                table: table.to_owned(),
            };
            E::External(Box::new(problem))
        }
    }
}
