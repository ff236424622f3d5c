//! Result streaming (D12): record batches are encoded into rows as the client reads them, never
//! collected. The stream also carries the statement's cancel token and `statement_timeout`,
//! because DataFusion does its work while the stream is polled, long after planning returned.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use futures::{Stream, StreamExt};
use pgwire::api::results::FieldInfo;
use pgwire::error::PgWireResult;
use pgwire::messages::data::DataRow;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::encode::to_wire;
use super::timestamps::TextTimestamps;
use crate::audit::{PendingDecision, StatementAudit};
use crate::error::LakegateError;
use crate::server::statement_queue::Running;

/// What stops a statement early.
#[derive(Debug, Clone)]
pub struct StatementGuard {
    pub cancel: CancellationToken,
    pub deadline: Option<Instant>,
    /// The statement's slot among those running; held as long as its result streams (and
    /// shared by the guard's clones).
    pub running: Option<Arc<Running>>,
}

impl StatementGuard {
    pub fn new(cancel: CancellationToken, timeout_ms: u64) -> Self {
        let deadline = (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms));
        Self {
            cancel,
            deadline,
            running: None,
        }
    }

    /// Resolves when the statement must stop, with the error to report.
    pub(super) async fn stopped(&self) -> LakegateError {
        let timeout = async {
            match self.deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = self.cancel.cancelled() => LakegateError::Canceled,
            _ = timeout => LakegateError::StatementTimeout,
        }
    }
}

/// Record batches, cast to the wire schema, until the stream ends, fails or is stopped.
pub fn guarded_batches(
    stream: SendableRecordBatchStream,
    wire_schema: SchemaRef,
    guard: StatementGuard,
    text_timestamps: Option<TextTimestamps>,
) -> impl Stream<Item = Result<RecordBatch, LakegateError>> + Send {
    futures::stream::unfold(Some(stream), move |state| {
        let (guard, wire_schema) = (guard.clone(), Arc::clone(&wire_schema));
        let text_timestamps = text_timestamps.clone();
        async move {
            let mut stream = state?;
            let next = tokio::select! {
                biased;
                stop = guard.stopped() => return Some((Err(stop), None)),
                next = stream.next() => next?,
            };
            let batch = next
                .and_then(|batch| to_wire(batch, &wire_schema))
                .and_then(|batch| match &text_timestamps {
                    Some(text) => Ok(text.render(batch)?),
                    None => Ok(batch),
                });
            match batch {
                Ok(batch) => Some((Ok(batch), Some(stream))),
                Err(e) => Some((Err(LakegateError::Engine(e)), None)),
            }
        }
    })
}

/// Counts the rows a statement sends and writes its terminal record when the stream ends or
/// fails (dropped early, the record says so: see [`StatementAudit`]'s `Drop`). Nothing passes
/// before the statement's decision record is durable (D9): the first batch is computed, then
/// held until the sync is done.
pub fn audited(
    batches: impl Stream<Item = Result<RecordBatch, LakegateError>> + Send + 'static,
    audit: StatementAudit,
    decision: PendingDecision,
) -> impl Stream<Item = Result<RecordBatch, LakegateError>> + Send + 'static {
    let state = (Box::pin(batches), audit, Some(decision));
    futures::stream::unfold(Some(state), |state| async move {
        let (mut batches, mut audit, decision) = state?;
        audit.streaming();
        let next = batches.next().await;
        let next = match decision.map(PendingDecision::wait) {
            Some(wait) => match wait.await {
                Ok(()) => next,
                Err(unavailable) => Some(Err(unavailable)),
            },
            None => next,
        };
        match next {
            Some(Ok(batch)) => {
                audit.add_rows(batch.num_rows() as u64);
                Some((Ok(batch), Some((batches, audit, None))))
            }
            Some(Err(e)) => {
                let id = audit.query_id().to_owned();
                let error = crate::session::query_id::sync_scope(id, || e.to_client());
                audit.finish(Err(&error)).await;
                Some((Err(LakegateError::Reported(error)), None))
            }
            None => {
                audit.finish(Ok(())).await;
                None
            }
        }
    })
}

/// DataRows for pgwire, encoded batch by batch.
pub fn data_rows(
    batches: impl Stream<Item = Result<RecordBatch, LakegateError>> + Send + 'static,
    fields: Arc<Vec<FieldInfo>>,
) -> impl Stream<Item = PgWireResult<DataRow>> + Send + 'static {
    batches.flat_map(move |batch| {
        let rows: Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send + Sync> = match batch {
            Ok(batch) => Box::new(super::rows::data_rows(&batch, &fields).into_iter()),
            Err(e) => Box::new(std::iter::once(Err(e.into_pgwire()))),
        };
        futures::stream::iter(rows)
    })
}
