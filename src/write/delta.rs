//! Query results → Delta commits. A result stream is written as Parquet files and then
//! committed in one Delta log entry: until the commit, readers see the previous version; a
//! write that fails or is killed half-way leaves only unreferenced files behind, never a
//! half-written version.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::datasource::provider_as_source;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use futures::StreamExt;
use object_store::ObjectStore;

use super::WriteError;
use crate::scan::stores::ResolvedLocation;

/// How a write meets the table's previous version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// A new table; fails if one is already at the location.
    Create,
    /// New rows added to the version read.
    Append,
    /// The version read replaced by the rows written (DELETE keeps the rows it does not delete).
    Replace,
}

/// Where a Delta table is (or will be) and what messages call it.
pub struct DeltaTarget {
    pub table: String,
    pub location: ResolvedLocation,
    pub store: Arc<dyn ObjectStore>,
    /// The version the statement read, for appends and replaces: the commit is made on top of
    /// it, so a concurrent commit in between is a conflict rather than lost rows.
    pub read_version: Option<u64>,
}

/// Writes `rows` (already in `schema`, the table's storable schema) as one Delta commit and
/// returns how many rows it wrote.
pub async fn write(
    target: &DeltaTarget,
    schema: SchemaRef,
    rows: SendableRecordBatchStream,
    mode: WriteMode,
) -> Result<u64, WriteError> {
    let fail = |e: DeltaTableError| WriteError::storage(&target.table, e);
    let table = open(target).await.map_err(fail)?;
    let written = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&written);
    // deltalake turns the input's errors into text; the original is kept to be reported as
    // the query's error (division by zero stays 22012, not a storage failure).
    let failure: Arc<Mutex<Option<DataFusionError>>> = Arc::default();
    let failed = Arc::clone(&failure);
    let counted = rows.map(move |batch| match batch {
        Ok(batch) => {
            counter.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
            Ok(batch)
        }
        Err(e) => {
            failed.lock().expect("write failure").get_or_insert(e);
            Err(DataFusionError::Execution(
                "the rows to write could not be computed".into(),
            ))
        }
    });
    let stream = Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&schema), counted));
    let source = StreamingTable::try_new(
        Arc::clone(&schema),
        vec![Arc::new(OneShot::new(schema, stream))],
    )
    .map_err(|e| WriteError::storage(&target.table, e))?;
    let plan = LogicalPlanBuilder::scan("input", provider_as_source(Arc::new(source)), None)
        .and_then(|b| b.build())
        .map_err(|e| WriteError::storage(&target.table, e))?;
    let save_mode = match mode {
        WriteMode::Create => SaveMode::ErrorIfExists,
        WriteMode::Append => SaveMode::Append,
        WriteMode::Replace => SaveMode::Overwrite,
    };
    table
        .write(std::iter::empty::<datafusion::arrow::array::RecordBatch>())
        .with_input_plan(plan)
        .with_save_mode(save_mode)
        .with_table_name(&target.table)
        .await
        .map_err(|e| match failure.lock().expect("write failure").take() {
            Some(query) => WriteError::Query(query),
            None if is_conflict(&e) => WriteError::Conflict(target.table.clone()),
            None => WriteError::storage(&target.table, e),
        })?;
    Ok(written.load(Ordering::Relaxed))
}

/// Whether a concurrent commit won (deltalake retried and found a conflicting change).
fn is_conflict(error: &DeltaTableError) -> bool {
    match error {
        DeltaTableError::VersionAlreadyExists(_) => true,
        DeltaTableError::Transaction { source } => {
            matches!(
                source,
                deltalake::kernel::transaction::TransactionError::CommitConflict(_)
                    | deltalake::kernel::transaction::TransactionError::VersionAlreadyExists(_)
            )
        }
        _ => false,
    }
}

/// The table at the target's location: at the version read, or uninitialized for a create.
async fn open(target: &DeltaTarget) -> Result<DeltaTable, DeltaTableError> {
    let url = target.location.url.clone();
    // deltalake opens local tables only in a directory that exists (object stores have none).
    if let Ok(dir) = url.to_file_path() {
        std::fs::create_dir_all(&dir).map_err(|e| {
            DeltaTableError::Generic(format!("cannot create {}: {e}", dir.display()))
        })?;
    }
    let mut table = DeltaTableBuilder::from_url(url.clone())?
        .with_storage_backend(Arc::clone(&target.store), url)
        .build()?;
    let loaded = match target.read_version {
        Some(version) => table.load_version(version).await,
        None => table.load().await,
    };
    match loaded {
        Ok(()) | Err(DeltaTableError::NotATable(_)) => Ok(table),
        Err(e) => Err(e),
    }
}

/// A stream that can be executed once: the statement's result, planned and run by the
/// session (policies, audit, cancel), handed to deltalake's writer as its input.
struct OneShot {
    schema: SchemaRef,
    stream: Mutex<Option<SendableRecordBatchStream>>,
}

impl OneShot {
    fn new(schema: SchemaRef, stream: SendableRecordBatchStream) -> Self {
        Self {
            schema,
            stream: Mutex::new(Some(stream)),
        }
    }
}

impl std::fmt::Debug for OneShot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneShot").finish_non_exhaustive()
    }
}

impl PartitionStream for OneShot {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        match self.stream.lock().expect("one-shot stream").take() {
            Some(stream) => stream,
            None => {
                let error = datafusion::error::DataFusionError::Internal(
                    "the rows to write were already read".into(),
                );
                let schema = Arc::clone(&self.schema);
                Box::pin(RecordBatchStreamAdapter::new(
                    schema,
                    futures::stream::once(async move { Err(error) }),
                ))
            }
        }
    }
}
