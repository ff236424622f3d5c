//! The policy barrier (D7) as an execution plan node.
//!
//! A [`SecureScanExec`] wraps the plan that reads a table under a policy (raw scan, row filter,
//! masks) and shows itself to the physical optimizer as a leaf: no rule can push a user's
//! filter, limit, dynamic join filter or projection into it, and it reports no statistics, so
//! `count(*)` is never answered from the raw table's statistics. EXPLAIN shows the node's name,
//! table and columns only: the policy's expressions, the hidden columns it reads and the files
//! stay out of sight (D10), and EXPLAIN ANALYZE has no inner metrics (the pre-filter row count).
//!
//! The node applies the row filter and the masks itself, batch by batch: a batch the filter
//! keeps whole passes without a copy (DataFusion's FilterExec re-buffers every batch), which
//! keeps a policy that removes few rows nearly free.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::cast::as_boolean_array;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{
    reset_plan_states, ChildrenPropertiesMode, ReplaceChildrenOptions,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
    SendableRecordBatchStream,
};
use futures::TryStreamExt;

use crate::error::LakegateError;

/// What the barrier runs: the raw scan, the row filter over raw rows, and the output columns
/// (plain, masked or cell-filtered) computed from them.
#[derive(Debug, Clone)]
pub struct SecureScan {
    pub raw_scan: Arc<dyn ExecutionPlan>,
    pub predicate: Option<Arc<dyn PhysicalExpr>>,
    pub outputs: Vec<(Arc<dyn PhysicalExpr>, String)>,
}

#[derive(Debug)]
pub struct SecureScanExec {
    table: String,
    scan: SecureScan,
    properties: Arc<PlanProperties>,
}

impl SecureScanExec {
    pub fn try_new(table: String, scan: SecureScan) -> Result<Self> {
        let input = scan.raw_scan.schema();
        let fields = scan
            .outputs
            .iter()
            .map(|(expr, name)| Ok(Field::new(name, expr.data_type(&input)?, true)))
            .collect::<Result<Vec<_>>>()?;
        if let Some(predicate) = &scan.predicate {
            if predicate.data_type(&input)? != DataType::Boolean {
                return Err(DataFusionError::Plan("row filter is not boolean".into()));
            }
        }
        let schema = Arc::new(Schema::new(fields));
        // Fresh properties: the raw plan's equivalences could carry the row filter's constants.
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(
                scan.raw_scan.output_partitioning().partition_count(),
            ),
            scan.raw_scan.pipeline_behavior(),
            scan.raw_scan.boundedness(),
        );
        Ok(Self {
            table,
            scan,
            properties: Arc::new(properties),
        })
    }

    /// The plan that reads the table, for checks that must see through the barrier.
    pub fn raw_scan(&self) -> &Arc<dyn ExecutionPlan> {
        &self.scan.raw_scan
    }
}

impl SecureScan {
    /// Keeps the permitted rows of one raw batch and computes the columns the principal sees.
    fn apply(&self, batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
        let batch = match &self.predicate {
            None => batch,
            Some(predicate) => {
                let keep = predicate.evaluate(&batch)?.into_array(batch.num_rows())?;
                let keep = as_boolean_array(&keep)?;
                match keep.true_count() == batch.num_rows() {
                    true => batch,
                    false => filter_record_batch(&batch, keep)?,
                }
            }
        };
        let columns = self
            .outputs
            .iter()
            .map(|(expr, _)| expr.evaluate(&batch)?.into_array(batch.num_rows()))
            .collect::<Result<Vec<_>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(schema),
            columns,
            &options,
        )?)
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

    /// A leaf: the raw scan is built whole by [`super::secure::SecureTable`].
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

    /// The raw scan is hidden from tree walks, so its state (a file scan's shared work queue)
    /// is reset here, for a kept plan that runs again.
    fn reset_state(self: Arc<Self>) -> Result<Arc<dyn ExecutionPlan>> {
        let mut scan = self.scan.clone();
        scan.raw_scan = reset_plan_states(Arc::clone(&scan.raw_scan))?;
        Ok(Arc::new(Self {
            table: self.table.clone(),
            scan,
            properties: Arc::clone(&self.properties),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let raw = self.scan.raw_scan.execute(partition, context)?;
        let schema = self.schema();
        let (scan, table, output) = (self.scan.clone(), self.table.clone(), Arc::clone(&schema));
        let secured = raw
            .and_then(move |batch| futures::future::ready(scan.apply(batch, &output)))
            .try_filter(|batch| futures::future::ready(batch.num_rows() > 0))
            .map_err(move |e| policy_failure(&table, e));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, secured)))
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
