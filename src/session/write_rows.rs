//! Writes that carry rows into existing Delta tables: INSERT … SELECT (an append) and DELETE
//! (a commit that replaces the version read by the rows not deleted).

use std::sync::Arc;

use datafusion::arrow::array::{new_null_array, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::sql::sqlparser::ast::{Expr, ObjectName, Statement};
use pgwire::api::results::{Response, Tag};

use super::write::Relation;
use super::write_plan::cast_stream;
use super::Session;
use crate::audit::StatementAudit;
use crate::catalog::glue_model::TableFormat;
use crate::catalog::TableEntry;
use crate::error::LakegateError;
use crate::policy::{Permission, TableAccess, WriteTarget};
use crate::write::delta::{self, WriteMode};
use crate::write::schema::cast_column;
use crate::write::WriteError;

impl Session {
    /// A Delta table the principal may write with `permission`, with its location.
    fn delta_table_for(
        &self,
        target: &ObjectName,
        permission: Permission,
    ) -> Result<(Arc<TableEntry>, String), WriteError> {
        let (db, table) = match self.relation(target, false)? {
            Relation::Lake { schema, table } => (schema, table),
            Relation::Temp(name) => {
                return Err(WriteError::Unsupported(format!(
                    "writing into temporary table {name} is not supported"
                )))
            }
        };
        let entry = self
            .visible_entry(&db, &table)
            .ok_or_else(|| WriteError::UndefinedTable(table.clone()))?;
        self.require(
            &[permission],
            WriteTarget::Table {
                database: &db,
                table: &table,
            },
        )?;
        let location = entry
            .glue
            .storage_descriptor
            .location
            .clone()
            .unwrap_or_default();
        if entry.glue.format() != Some(TableFormat::Delta) || location.is_empty() {
            return Err(WriteError::Unsupported(format!(
                "{} is not a Delta table; only Delta tables can be written",
                entry.qualified_name()
            )));
        }
        Ok((entry, location))
    }

    /// INSERT: the query's columns placed into the columns the principal sees (a hidden column
    /// cannot be named, D2, and is left NULL), appended in one commit.
    pub(super) async fn insert(
        &self,
        target: &ObjectName,
        columns: &[String],
        query: &Statement,
        audit: &mut StatementAudit,
    ) -> Result<Response, LakegateError> {
        let (entry, location) = self.delta_table_for(target, Permission::Insert)?;
        let name = entry.qualified_name();
        let table_schema = self.delta_schema(&entry).await?;
        let visible = self.visible_columns(&entry);
        let planned = self.plan(query).await?;
        let positions = insert_positions(
            &entry,
            &table_schema,
            (&visible, columns),
            planned.names.len(),
        )?;
        audit.set_written(&name, "insert", None);
        let work = async {
            let rows = self.rows_of(&planned, audit).await?;
            let target = self.delta_target(&name, &location, None)?;
            let placed = move |b: &RecordBatch, s: &SchemaRef| place_columns(b, s, &positions);
            let rows = cast_stream(rows, Arc::clone(&table_schema), placed);
            let written = delta::write(&target, table_schema, rows, WriteMode::Append).await?;
            Ok::<_, LakegateError>(written)
        };
        let written = self.guarded(work).await;
        self.lake().forget_snapshot(&entry).await;
        let written = written?;
        audit.set_written(&name, "insert", Some(written));
        Ok(Response::Execution(
            Tag::new("INSERT").with_oid(0).with_rows(written as usize),
        ))
    }

    /// DELETE: the rows the predicate selects are read first (a filter, so subqueries such as
    /// dbt's `IN (select … from tmp)` plan as joins), then the table is read again and written
    /// back without them, matched as whole rows (`deletes.rs`), in one commit on the version
    /// both scans read.
    pub(super) async fn delete(
        &self,
        target: &ObjectName,
        alias: Option<String>,
        predicate: Option<Box<Expr>>,
        audit: &mut StatementAudit,
    ) -> Result<Response, LakegateError> {
        let (entry, location) = self.delta_table_for(target, Permission::Delete)?;
        let name = entry.qualified_name();
        self.require_whole_table(&entry)?;
        let table_schema = self.delta_schema(&entry).await?;
        let matching = self
            .plan(&super::deletes::rows_where(&entry, alias, predicate)?)
            .await?;
        let all = self
            .plan(&super::deletes::rows_where(&entry, None, None)?)
            .await?;
        audit.set_written(&name, "delete", None);
        let pool = Arc::clone(&self.gateway.runtime.memory_pool);
        let work = async {
            let (mut plans, (scans, reads)) = self.physical_plans(&[&matching, &all]).await?;
            let read_version = super::deletes::version_read(&scans, &name)?;
            audit.set_reads(&scans, &reads);
            audit.decide().await?;
            let every_row = plans.remove(1).execute()?;
            let matched = plans.remove(0).execute()?;
            let deleted = super::deletes::RowCounts::collect(matched, &pool).await?;
            let count = deleted.total();
            if count > 0 {
                let target = self.delta_target(&name, &location, read_version)?;
                let kept = deleted.remove_from(every_row, Arc::clone(&table_schema));
                delta::write(&target, table_schema, kept, WriteMode::Replace).await?;
            }
            Ok::<_, LakegateError>(count)
        };
        let deleted = self.guarded(work).await;
        self.lake().forget_snapshot(&entry).await;
        let deleted = deleted?;
        audit.set_written(&name, "delete", Some(deleted));
        Ok(Response::Execution(
            Tag::new("DELETE").with_rows(deleted as usize),
        ))
    }

    /// DELETE rewrites the table from what the principal reads of it, so they must read all of
    /// it: no hidden column, row filter or mask may shape what is kept.
    fn require_whole_table(&self, entry: &TableEntry) -> Result<(), WriteError> {
        let access = Arc::clone(&self.view.load().access);
        let whole = match access.table(&entry.glue.database_name, &entry.glue.name) {
            Some(TableAccess::Full(_)) => true,
            Some(TableAccess::Restricted(_, policy)) => {
                policy.row_filter.is_none()
                    && policy.columns.len() == entry.schema.fields().len()
                    && policy
                        .columns
                        .iter()
                        .all(|c| c.readable && c.mask.is_none() && c.condition.is_none())
            }
            None => false,
        };
        match whole {
            true => Ok(()),
            false => Err(WriteError::PermissionDenied(format!(
                "table {}: DELETE needs read access to all of its rows and columns",
                entry.glue.name
            ))),
        }
    }

    /// The columns of a table that exist for the principal.
    fn visible_columns(&self, entry: &TableEntry) -> Vec<String> {
        let access = Arc::clone(&self.view.load().access);
        access
            .table(&entry.glue.database_name, &entry.glue.name)
            .map(|t| {
                t.schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The table's schema as its Delta log has it (what appended rows must match).
    async fn delta_schema(&self, entry: &TableEntry) -> Result<SchemaRef, LakegateError> {
        let provider = self
            .lake()
            .provider(&entry.glue.database_name, &entry.glue.name)
            .await?
            .ok_or_else(|| WriteError::UndefinedTable(entry.glue.name.clone()))?;
        Ok(provider.schema())
    }
}

/// Where each table column's value comes from in the query's columns (`None`: NULL). Columns
/// are named among the visible ones; without a list, the visible columns in table order.
fn insert_positions(
    entry: &TableEntry,
    table: &SchemaRef,
    (visible, columns): (&[String], &[String]),
    query_width: usize,
) -> Result<Vec<Option<usize>>, WriteError> {
    let named: Vec<String> = match columns.is_empty() {
        true => visible.to_vec(),
        false => columns.to_vec(),
    };
    for (i, column) in named.iter().enumerate() {
        if !visible.contains(column) || table.index_of(column).is_err() {
            let (table, column) = (entry.glue.name.clone(), column.clone());
            return Err(WriteError::UndefinedColumn { table, column });
        }
        if named[..i].contains(column) {
            return Err(WriteError::DuplicateColumn(column.clone()));
        }
    }
    if query_width > named.len() {
        return Err(WriteError::ColumnCount(
            "INSERT has more expressions than target columns".into(),
        ));
    }
    if query_width < named.len() && !columns.is_empty() {
        return Err(WriteError::ColumnCount(
            "INSERT has more target columns than expressions".into(),
        ));
    }
    Ok(table
        .fields()
        .iter()
        .map(|f| named.iter().take(query_width).position(|n| n == f.name()))
        .collect())
}

/// A query batch laid out as the table's row: each column cast into place (a value that does
/// not fit fails, as in PostgreSQL), NULL where the INSERT names no value.
fn place_columns(
    batch: &RecordBatch,
    schema: &SchemaRef,
    positions: &[Option<usize>],
) -> Result<RecordBatch, ArrowError> {
    let columns = positions
        .iter()
        .zip(schema.fields())
        .map(|(position, field)| match position {
            Some(i) => cast_column(batch.column(*i), field.data_type()),
            None => Ok(new_null_array(field.data_type(), batch.num_rows())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(Arc::clone(schema), columns)
}
