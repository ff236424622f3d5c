//! The scan node of a remote table: runs one SELECT on the remote and streams its rows, cast to
//! the catalog's types. It is a leaf that no optimizer rule rewrites (no filter, limit or sort
//! is spliced into its SQL text); what the remote evaluates was decided when the SQL was
//! generated from the logical plan.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::config::ConfigOptions;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{
    Boundedness, ChildrenPropertiesMode, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::filter_pushdown::{
    ChildPushdownResult, FilterPushdownPhase, FilterPushdownPropagation, PushedDown,
};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use futures::TryStreamExt;

use super::connection::Engine;
use super::source::{QueryFailure, RemoteSql};
use super::FederationError;

/// What one remote scan runs.
#[derive(Debug, Clone)]
pub struct RemoteScan {
    pub connection: String,
    pub engine: Engine,
    pub remote: Arc<dyn RemoteSql>,
    /// The SQL without join keys; with them it is made again when the scan starts.
    pub sql: String,
    /// The parts of the SQL: remote column indices, filters and limit.
    pub remote_projection: Vec<usize>,
    pub filters: Vec<Expr>,
    pub limit: Option<usize>,
    /// The table's catalog columns (what filters are checked against).
    pub table_schema: SchemaRef,
    /// Join keys handed down by hash joins ([`super::dynamic`]).
    pub dynamic: Vec<Arc<dyn PhysicalExpr>>,
    /// Off: nothing but the table is sent (`federation.pushdown = false`).
    pub pushdown: bool,
    /// The remote's columns the SQL selects, as the driver converts them.
    pub fetched_schema: SchemaRef,
    /// The catalog's columns the plan wants (none for a row count).
    pub output: SchemaRef,
    /// For each output column, its index among the fetched columns.
    pub pick: Vec<usize>,
    pub connect_timeout: Duration,
}

#[derive(Debug)]
pub struct RemoteScanExec {
    scan: RemoteScan,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl RemoteScanExec {
    pub fn new(scan: RemoteScan) -> Self {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&scan.output)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Self {
            scan,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl RemoteScan {
    /// The SQL to run: with the join keys once the joins have read their build sides.
    async fn final_sql(&self) -> Result<String> {
        if self.dynamic.is_empty() {
            return Ok(self.sql.clone());
        }
        let keys = super::dynamic::settle(&self.dynamic, &self.table_schema, self.engine).await;
        if keys.is_empty() {
            return Ok(self.sql.clone());
        }
        let filters: Vec<Expr> = self.filters.iter().cloned().chain(keys).collect();
        self.remote
            .sql(&self.remote_projection, &filters, self.limit)
    }

    async fn start(self) -> Result<SendableRecordBatchStream> {
        let sql = self.final_sql().await?;
        tracing::debug!(connection = %self.connection, %sql, "remote query");
        let seconds = self.connect_timeout.as_secs();
        let connection = self.connection.clone();
        let fetched = Arc::clone(&self.fetched_schema);
        let failure = |f: QueryFailure| match f {
            QueryFailure::TimedOut => FederationError::TimedOut {
                connection: connection.clone(),
                seconds,
            },
            QueryFailure::Connect(detail) => FederationError::Unreachable {
                connection: connection.clone(),
                reason: super::error::connect_reason(&detail),
                detail,
            },
            QueryFailure::Query(detail) => FederationError::RemoteFailed {
                connection: connection.clone(),
                detail,
            },
        };
        self.remote
            .query(sql, fetched, self.connect_timeout)
            .await
            .map_err(|f| failure(f).into_datafusion())
    }

    /// The remote's columns, in order, cast to the catalog's types; a value that does not fit
    /// is an error, never a NULL.
    fn conform(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let options = CastOptions {
            safe: false,
            ..Default::default()
        };
        let columns = self
            .output
            .fields()
            .iter()
            .zip(&self.pick)
            .map(|(field, i)| cast_with_options(batch.column(*i), field.data_type(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.output),
            columns,
            &options,
        )?)
    }
}

impl DisplayAs for RemoteScanExec {
    /// The connection and the columns; the SQL (with the user's and the policy's literals) is
    /// not shown, as EXPLAIN never shows policy expressions (D10).
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let columns: Vec<&str> = self
            .scan
            .output
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        write!(
            f,
            "RemoteScanExec: connection={}, columns=[{}]",
            self.scan.connection,
            columns.join(", ")
        )
    }
}

impl ExecutionPlan for RemoteScanExec {
    fn name(&self) -> &str {
        "RemoteScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    /// The join keys it holds: a hash join computes them only if a node below it shows them.
    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        for filter in &self.scan.dynamic {
            if f(filter)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    /// Keeps the join keys parents offer (as a narrower fetch) and answers "not pushed" for
    /// every filter, so each parent still applies its own.
    fn handle_child_pushdown_result(
        &self,
        phase: FilterPushdownPhase,
        child_pushdown_result: ChildPushdownResult,
        _config: &ConfigOptions,
    ) -> Result<FilterPushdownPropagation<Arc<dyn ExecutionPlan>>> {
        let offered = &child_pushdown_result.parent_filters;
        let answers = vec![PushedDown::No; offered.len()];
        let keys: Vec<_> = offered
            .iter()
            .map(|f| Arc::clone(&f.filter))
            .filter(|_| self.scan.pushdown && phase == FilterPushdownPhase::Post)
            .filter(super::dynamic::is_dynamic)
            .collect();
        let propagation = FilterPushdownPropagation::with_parent_pushdown_result(answers);
        if keys.is_empty() {
            return Ok(propagation);
        }
        let mut scan = self.scan.clone();
        scan.dynamic.extend(keys);
        Ok(propagation.with_updated_node(Arc::new(RemoteScanExec::new(scan))))
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

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "RemoteScanExec has one partition, not {partition}"
            )));
        }
        let (scan, conform) = (self.scan.clone(), self.scan.clone());
        let connection = self.scan.connection.clone();
        let output_rows = MetricBuilder::new(&self.metrics).output_rows(partition);
        let rows = futures::stream::once(scan.start())
            .try_flatten()
            .map_err(move |e| remote_failure(&connection, e))
            .and_then(move |batch| {
                let batch = conform.conform(batch);
                if let Ok(batch) = &batch {
                    output_rows.add(batch.num_rows());
                }
                futures::future::ready(batch)
            });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.scan.output),
            rows,
        )))
    }
}

/// Errors of the stream after it started come from the driver (the remote failed, or the
/// connection dropped). Their text can quote remote values, so it goes to the log only.
fn remote_failure(connection: &str, error: DataFusionError) -> DataFusionError {
    if let DataFusionError::External(inner) = &error {
        if inner.is::<crate::error::LakegateError>() {
            return error;
        }
    }
    FederationError::RemoteFailed {
        connection: connection.to_owned(),
        detail: error.to_string(),
    }
    .into_datafusion()
}
