//! What every write that reads a query shares: planning its reads, the decision record before
//! a row is read (D9), cancel and timeout around the reading and writing, the Delta target,
//! and batches mapped into the table's schema.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::ExecutionPlan;
use futures::StreamExt;

use super::execute::PlannedQuery;
use super::stream::StatementGuard;
use super::Session;
use crate::audit::StatementAudit;
use crate::error::LakegateError;
use crate::scan::report::{PolicyRead, TableScan};
use crate::write::delta::DeltaTarget;
use crate::write::WriteError;

/// A physical plan ready to run once.
pub(super) struct ReadyPlan {
    physical: Arc<dyn ExecutionPlan>,
    task: Arc<TaskContext>,
}

impl ReadyPlan {
    pub(super) fn execute(self) -> datafusion::error::Result<SendableRecordBatchStream> {
        datafusion::physical_plan::execute_stream(self.physical, self.task)
    }
}

/// What the queries of one write read: the scans and the policies they went through.
pub(super) type Reads = (Vec<TableScan>, Vec<PolicyRead>);

impl Session {
    /// Runs a planned query for a write: its reads go on record and the decision is durable
    /// before a row is read (D9).
    pub(super) async fn rows_of(
        &self,
        planned: &PlannedQuery,
        audit: &mut StatementAudit,
    ) -> Result<SendableRecordBatchStream, LakegateError> {
        let (mut plans, (scans, reads)) = self.physical_plans(&[planned]).await?;
        audit.set_reads(&scans, &reads);
        audit.decide().await?;
        Ok(plans.remove(0).execute()?)
    }

    /// Physical plans of the queries a write reads, with what they read.
    pub(super) async fn physical_plans(
        &self,
        planned: &[&PlannedQuery],
    ) -> Result<(Vec<ReadyPlan>, Reads), LakegateError> {
        let report = crate::scan::report::start(self.ctx.state_ref().write().config_mut());
        let mut plans = Vec::new();
        for query in planned {
            let frame = self.ctx.execute_logical_plan(query.plan.clone()).await?;
            let task = Arc::new(frame.task_ctx());
            let physical = frame.create_physical_plan().await?;
            plans.push(ReadyPlan { physical, task });
        }
        Ok((plans, (report.scans(), report.policy_reads())))
    }

    /// Runs a write's reading and writing unless the statement is canceled or times out first.
    pub(super) async fn guarded<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, LakegateError>>,
    ) -> Result<T, LakegateError> {
        let guard = StatementGuard::new(self.start_statement(), self.statement_timeout_ms());
        let _running = self.admitted(&guard).await?;
        tokio::select! {
            done = work => done,
            stopped = guard.stopped() => Err(stopped),
        }
    }

    pub(super) fn delta_target(
        &self,
        name: &str,
        location: &str,
        read_version: Option<u64>,
    ) -> Result<DeltaTarget, WriteError> {
        let lake = self.lake();
        let resolved = lake
            .resolve(location)
            .map_err(|e| WriteError::storage(name, e))?;
        let store = lake
            .object_store(&resolved)
            .map_err(|e| WriteError::storage(name, e))?;
        Ok(DeltaTarget {
            table: name.to_owned(),
            location: resolved,
            store,
            read_version,
        })
    }
}

/// Maps every batch of a stream into `schema`.
pub(super) fn cast_stream(
    rows: SendableRecordBatchStream,
    schema: SchemaRef,
    map: impl Fn(&RecordBatch, &SchemaRef) -> Result<RecordBatch, ArrowError> + Send + 'static,
) -> SendableRecordBatchStream {
    let target = Arc::clone(&schema);
    let mapped = rows.map(move |batch| Ok(map(&batch?, &target)?));
    Box::pin(RecordBatchStreamAdapter::new(schema, mapped))
}
