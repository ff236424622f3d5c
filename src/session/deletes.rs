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
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
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
    match crate::statement::parse(&sql)?.pop() {
        Some(Command::Query(statement)) => Ok(*statement),
        _ => Err(LakegateError::Internal(
            "a DELETE scan did not parse as a query".into(),
        )),
    }
}

/// Both scans of a DELETE must have read the same Delta version of the table.
pub fn same_version(scans: &[TableScan], table: &str) -> Result<(), LakegateError> {
    let mut versions: Vec<Option<i64>> = scans
        .iter()
        .filter(|s| s.table == table)
        .map(|s| s.delta_version)
        .collect();
    versions.dedup();
    match versions.len() {
        0 | 1 => Ok(()),
        _ => Err(crate::write::WriteError::Unsupported(format!(
            "table {table} changed while the DELETE read it; run it again"
        ))
        .into()),
    }
}

/// How many times each row occurs.
pub struct RowCounts {
    converter: RowConverter,
    counts: HashMap<Box<[u8]>, u64>,
    total: u64,
}

impl RowCounts {
    pub async fn collect(rows: SendableRecordBatchStream) -> Result<Self, LakegateError> {
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
        };
        let batches: Vec<RecordBatch> = rows.try_collect().await?;
        for batch in batches {
            let converted = counts
                .converter
                .convert_columns(batch.columns())
                .map_err(DataFusionError::from)?;
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
