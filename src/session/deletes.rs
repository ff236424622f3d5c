//! DELETE as a multiset difference: the rows the predicate selects, taken away from the rows of
//! the table, compared as whole rows in Arrow's row format (NULLs compare equal to NULLs, as
//! the same row read twice must).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool, MemoryReservation};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::sqlparser::ast::{Expr, Statement};
use futures::{StreamExt, TryStreamExt};

use crate::catalog::TableEntry;
use crate::error::LakegateError;
use crate::scan::report::TableScan;
use crate::statement::Command;
use crate::write::schema::cast_batch;

/// `SELECT * FROM target [AS alias] [WHERE predicate]`.
pub fn rows_where(
    entry: &TableEntry,
    alias: Option<String>,
    predicate: Option<Box<Expr>>,
) -> Result<Statement, LakegateError> {
    let quote = crate::write::parse::quote;
    let table = format!(
        "{}.{}",
        quote(&entry.glue.database_name),
        quote(&entry.glue.name)
    );
    let alias = alias
        .map(|a| format!(" AS {}", quote(&a)))
        .unwrap_or_default();
    let filter = predicate.map(|p| format!(" WHERE {p}")).unwrap_or_default();
    let sql = format!("SELECT * FROM {table}{alias}{filter}");
    let mut commands = crate::statement::parse(&sql)?;
    match (commands.pop(), commands.is_empty()) {
        (Some(Command::Query(statement)), true) => Ok(*statement),
        _ => Err(crate::write::WriteError::Unsupported(
            "this DELETE condition is not supported".into(),
        )
        .into()),
    }
}

/// The Delta version both scans of a DELETE read of the table; the commit is made on it, so a
/// concurrent commit since is a conflict (40001), never rows silently lost.
pub fn version_read(scans: &[TableScan], table: &str) -> Result<Option<u64>, LakegateError> {
    let mut versions: Vec<Option<i64>> = scans
        .iter()
        .filter(|s| s.table == table)
        .map(|s| s.delta_version)
        .collect();
    versions.dedup();
    match versions.as_slice() {
        [] => Ok(None),
        [one] => Ok(one.and_then(|v| u64::try_from(v).ok())),
        _ => Err(crate::write::WriteError::Conflict(table.to_owned()).into()),
    }
}

/// How many times each row occurs; held in the gateway's memory pool (53200 beyond it).
pub struct RowCounts {
    converter: RowConverter,
    counts: HashMap<Box<[u8]>, u64>,
    total: u64,
    reservation: MemoryReservation,
}

impl RowCounts {
    pub async fn collect(
        mut rows: SendableRecordBatchStream,
        pool: &Arc<dyn MemoryPool>,
    ) -> Result<Self, LakegateError> {
        let fields = rows
            .schema()
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        let mut counts = Self {
            converter: RowConverter::new(fields).map_err(DataFusionError::from)?,
            counts: HashMap::new(),
            total: 0,
            reservation: MemoryConsumer::new("DELETE").register(pool),
        };
        while let Some(batch) = rows.try_next().await? {
            let converted = counts
                .converter
                .convert_columns(batch.columns())
                .map_err(DataFusionError::from)?;
            counts.reservation.try_grow(converted.size())?;
            for row in converted.iter() {
                *counts.counts.entry(row.as_ref().into()).or_default() += 1;
                counts.total += 1;
            }
        }
        Ok(counts)
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// `rows` without these rows, cast to `schema`.
    pub fn remove_from(
        mut self,
        rows: SendableRecordBatchStream,
        schema: SchemaRef,
    ) -> SendableRecordBatchStream {
        let target = Arc::clone(&schema);
        let kept = rows.map(move |batch| {
            let batch = batch?;
            let kept = self.keep(&batch).and_then(|b| cast_batch(&b, &target))?;
            Ok(kept)
        });
        Box::pin(RecordBatchStreamAdapter::new(schema, kept))
    }

    fn keep(&mut self, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
        let converted = self.converter.convert_columns(batch.columns())?;
        let mask: BooleanArray = converted
            .iter()
            .map(|row| match self.counts.get_mut(row.as_ref()) {
                Some(left) if *left > 0 => {
                    *left -= 1;
                    Some(false)
                }
                _ => Some(true),
            })
            .collect();
        filter_record_batch(batch, &mask)
    }
}
