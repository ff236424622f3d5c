//! Writes that carry rows: CREATE TABLE … AS (a new Delta table, or a temporary table in
//! memory), CREATE VIEW (its query planned to check it and to list its columns), INSERT … SELECT
//! (a Delta append) and DELETE (a Delta commit that replaces the version read by the rows not
//! deleted). Rows are read through the principal's policies like any query.

use std::sync::Arc;

use datafusion::arrow::array::{new_null_array, RecordBatch};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::sqlparser::ast::{Expr, ObjectName, Statement};
use futures::{StreamExt, TryStreamExt};
use pgwire::api::results::{Response, Tag};

use super::execute::PlannedQuery;
use super::stream::StatementGuard;
use super::write::{Notices, Relation};
use super::Session;
use crate::audit::StatementAudit;
use crate::catalog::glue_model::TableFormat;
use crate::catalog::TableEntry;
use crate::error::LakegateError;
use crate::policy::{Permission, TableAccess, WriteTarget};
use crate::scan::report::{PolicyRead, TableScan};
use crate::write::delta::{self, DeltaTarget, WriteMode};
use crate::write::schema::{cast_batch, storable_schema};
use crate::write::{entries, WriteError};

/// A physical plan ready to run once.
pub(super) struct ReadyPlan {
    physical: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
    task: Arc<datafusion::execution::TaskContext>,
}

impl ReadyPlan {
    pub(super) fn execute(self) -> datafusion::error::Result<SendableRecordBatchStream> {
        datafusion::physical_plan::execute_stream(self.physical, self.task)
    }
}

impl Session {
    /// Runs a planned query for a write: its reads go on record and the decision is durable
    /// before a row is read (D9).
    async fn rows_of(
        &self,
        planned: &PlannedQuery,
        audit: &mut StatementAudit,
    ) -> Result<SendableRecordBatchStream, LakegateError> {
        let (mut streams, reads) = self.physical_plans(&[planned]).await?;
        audit.set_reads(&reads.0, &reads.1);
        audit.decide().await?;
        Ok(streams.remove(0).execute()?)
    }

    /// Physical plans of the queries a write reads, with what they read.
    pub(super) async fn physical_plans(
        &self,
        planned: &[&PlannedQuery],
    ) -> Result<(Vec<ReadyPlan>, (Vec<TableScan>, Vec<PolicyRead>)), LakegateError> {
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

    /// Runs a write to its end unless the statement is canceled or times out first.
    async fn guarded<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, LakegateError>>,
    ) -> Result<T, LakegateError> {
        let guard = StatementGuard::new(self.start_statement(), self.statement_timeout_ms());
        tokio::select! {
            done = work => done,
            stopped = guard.stopped() => Err(stopped),
        }
    }

    pub(super) async fn create_table_as(
        &self,
        relation: Relation,
        query: &Statement,
        if_not_exists: bool,
        audit: &mut StatementAudit,
        notices: &mut Notices,
    ) -> Result<Response, LakegateError> {
        let exists = match &relation {
            Relation::Temp(name) => self.temp_tables.exists(name),
            Relation::Lake { schema, table } => {
                self.writable_schema(schema)?;
                self.require(Permission::CreateTable, WriteTarget::Database(schema))?;
                self.view
                    .load()
                    .access
                    .lake()
                    .table(schema, table)
                    .is_some()
            }
        };
        if exists {
            let name = relation.display();
            if !if_not_exists {
                return Err(WriteError::DuplicateTable(name).into());
            }
            notices.push(format!("relation \"{name}\" already exists, skipping"));
            return Ok(Response::Execution(Tag::new("CREATE TABLE AS")));
        }
        let planned = self.plan(query).await?;
        let schema = storable_schema(planned.plan.schema().as_arrow(), &planned.names);
        let rows = match relation {
            Relation::Temp(name) => {
                let work = self.create_temp(&name, &planned, schema, audit);
                self.guarded(work).await?
            }
            Relation::Lake { schema: db, table } => {
                audit.set_written(&format!("{db}.{table}"), "create", None);
                let work = self.create_delta((&db, &table), &planned, schema, audit);
                let rows = self.guarded(work).await?;
                audit.set_written(&format!("{db}.{table}"), "create", Some(rows));
                rows
            }
        };
        Ok(Response::Execution(
            Tag::new("SELECT").with_rows(rows as usize),
        ))
    }

    async fn create_temp(
        &self,
        name: &str,
        planned: &PlannedQuery,
        schema: SchemaRef,
        audit: &mut StatementAudit,
    ) -> Result<u64, LakegateError> {
        let rows = self.rows_of(planned, audit).await?;
        let batches: Vec<RecordBatch> = rows
            .map(|b| {
                let batch =
                    cast_batch(&b?, &schema).map_err(datafusion::error::DataFusionError::from)?;
                Ok::<_, LakegateError>(batch)
            })
            .try_collect()
            .await?;
        let count = batches.iter().map(|b| b.num_rows() as u64).sum();
        let table = MemTable::try_new(schema, vec![batches])?;
        self.temp_tables.add(name, Arc::new(table))?;
        Ok(count)
    }

    /// Writes the rows as a new Delta table in its own directory, then registers it; if the
    /// registration fails, the directory is deleted again.
    async fn create_delta(
        &self,
        (db, table): (&str, &str),
        planned: &PlannedQuery,
        schema: SchemaRef,
        audit: &mut StatementAudit,
    ) -> Result<u64, LakegateError> {
        let lake = Arc::clone(self.view.load().access.lake());
        let base = lake.database_location(db).unwrap_or_else(|| {
            entries::default_database_location(&self.gateway.create_location, db)
        });
        let location = entries::new_table_location(&base, table);
        let name = format!("{db}.{table}");
        let entry = entries::delta_table((db, table), &schema, &location, &self.principal.user)
            .map_err(WriteError::Unsupported)?;
        let target = self.delta_target(&name, &location, None)?;
        let rows = self.rows_of(planned, audit).await?;
        let rows = cast_stream(rows, Arc::clone(&schema), cast_batch);
        let written = delta::write(&target, schema, rows, WriteMode::Create).await?;
        if let Err(e) = lake.create_table(entry).await {
            if let Err(cleanup) = lake.delete_data(&location).await {
                tracing::warn!(table = %name, error = %cleanup, "files of a table that could not be registered were left behind");
            }
            return Err(e.into());
        }
        Ok(written)
    }

    fn delta_target(
        &self,
        name: &str,
        location: &str,
        read_version: Option<u64>,
    ) -> Result<DeltaTarget, WriteError> {
        let lake = Arc::clone(self.view.load().access.lake());
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

    pub(super) async fn create_view(
        &self,
        relation: Relation,
        query: &Statement,
        or_replace: bool,
        columns: &[String],
        audit: &mut StatementAudit,
    ) -> Result<Response, LakegateError> {
        let Relation::Lake { schema: db, table } = relation else {
            return Err(WriteError::Unsupported("temporary views are not supported".into()).into());
        };
        self.writable_schema(&db)?;
        self.require(Permission::CreateTable, WriteTarget::Database(&db))?;
        let existing = self.view.load().access.lake().table(&db, &table);
        if let Some(existing) = &existing {
            if !or_replace {
                return Err(WriteError::DuplicateTable(table).into());
            }
            if !existing.glue.is_view() {
                return Err(WriteError::WrongObjectType {
                    name: table,
                    expected: "view",
                }
                .into());
            }
            self.require(
                Permission::Alter,
                WriteTarget::Table {
                    database: &db,
                    table: &table,
                },
            )?;
        }
        let planned = self.plan(query).await?;
        let names =
            match columns.is_empty() {
                true => planned.names.clone(),
                false if columns.len() == planned.names.len() => columns.to_vec(),
                false => return Err(WriteError::ColumnCount(
                    "CREATE VIEW specifies a different number of column names than the query gives"
                        .into(),
                )
                .into()),
            };
        let schema = storable_schema(planned.plan.schema().as_arrow(), &names);
        let sql = view_sql(query, columns);
        let entry = entries::view((&db, &table), &schema, &sql, &self.principal.user)
            .map_err(WriteError::Unsupported)?;
        audit.set_written(&format!("{db}.{table}"), "create view", None);
        audit.decide().await?;
        let lake = Arc::clone(self.view.load().access.lake());
        match existing {
            Some(_) => lake.replace_table(entry).await?,
            None => lake.create_table(entry).await?,
        }
        Ok(Response::Execution(Tag::new("CREATE VIEW")))
    }

    /// A Delta table the principal may write with `permission`.
    fn delta_table_for(
        &self,
        target: &ObjectName,
        permission: Permission,
    ) -> Result<Arc<TableEntry>, WriteError> {
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
            permission,
            WriteTarget::Table {
                database: &db,
                table: &table,
            },
        )?;
        if entry.glue.format() != Some(TableFormat::Delta) {
            return Err(WriteError::Unsupported(format!(
                "{} is not a Delta table; only Delta tables can be written",
                entry.qualified_name()
            )));
        }
        Ok(entry)
    }

    pub(super) async fn insert(
        &self,
        target: &ObjectName,
        columns: &[String],
        query: &Statement,
        audit: &mut StatementAudit,
    ) -> Result<Response, LakegateError> {
        let entry = self.delta_table_for(target, Permission::Insert)?;
        let name = entry.qualified_name();
        let table_schema = self.delta_schema(&entry).await?;
        let planned = self.plan(query).await?;
        let positions = insert_positions(&entry, &table_schema, columns, planned.names.len())?;
        audit.set_written(&name, "insert", None);
        let location = entry
            .glue
            .storage_descriptor
            .location
            .clone()
            .unwrap_or_default();
        let work = async {
            let rows = self.rows_of(&planned, audit).await?;
            let read_version = self.read_version(&entry).await;
            let target = self.delta_target(&name, &location, read_version)?;
            let rows = cast_stream(rows, Arc::clone(&table_schema), move |b, s| {
                place_columns(b, s, &positions)
            });
            Ok::<_, LakegateError>(
                delta::write(&target, table_schema, rows, WriteMode::Append).await?,
            )
        };
        let written = self.guarded(work).await?;
        self.view.load().access.lake().forget_snapshot(&entry).await;
        audit.set_written(&name, "insert", Some(written));
        Ok(Response::Execution(
            Tag::new("INSERT").with_oid(0).with_rows(written as usize),
        ))
    }

    /// DELETE: the rows the predicate selects are read first (a filter, so subqueries such as
    /// dbt's `IN (select … from tmp)` plan as joins), then the table is read again and written
    /// back without them, matched as whole rows (a multiset difference, so duplicate rows are
    /// deleted as many times as they match), in one commit on the version read.
    pub(super) async fn delete(
        &self,
        target: &ObjectName,
        alias: Option<String>,
        predicate: Option<Box<Expr>>,
        audit: &mut StatementAudit,
    ) -> Result<Response, LakegateError> {
        let entry = self.delta_table_for(target, Permission::Delete)?;
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
        let location = entry
            .glue
            .storage_descriptor
            .location
            .clone()
            .unwrap_or_default();
        let work = async {
            let (mut plans, reads) = self.physical_plans(&[&matching, &all]).await?;
            super::deletes::same_version(&reads.0, &name)?;
            audit.set_reads(&reads.0, &reads.1);
            audit.decide().await?;
            let every_row = plans.remove(1).execute()?;
            let deleted = super::deletes::RowCounts::collect(plans.remove(0).execute()?).await?;
            let read_version = self.read_version(&entry).await;
            let target = self.delta_target(&name, &location, read_version)?;
            let count = deleted.total();
            let kept = deleted.remove_from(every_row, Arc::clone(&table_schema));
            if count > 0 {
                delta::write(&target, table_schema, kept, WriteMode::Replace).await?;
            }
            Ok::<_, LakegateError>(count)
        };
        let deleted = self.guarded(work).await?;
        self.view.load().access.lake().forget_snapshot(&entry).await;
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

    /// The table's schema as its Delta log has it (what appended rows must match).
    async fn delta_schema(&self, entry: &TableEntry) -> Result<SchemaRef, LakegateError> {
        let lake = Arc::clone(self.view.load().access.lake());
        let provider = lake
            .provider(&entry.glue.database_name, &entry.glue.name)
            .await?
            .ok_or_else(|| WriteError::UndefinedTable(entry.glue.name.clone()))?;
        Ok(provider.schema())
    }

    /// The Delta version the statement's scan read (the version its commit builds on).
    async fn read_version(&self, entry: &TableEntry) -> Option<u64> {
        let lake = Arc::clone(self.view.load().access.lake());
        let provider = lake
            .provider(&entry.glue.database_name, &entry.glue.name)
            .await
            .ok()??;
        let provider: &dyn std::any::Any = provider.as_ref();
        provider
            .downcast_ref::<crate::scan::delta::DeltaSnapshotTable>()
            .map(|t| t.version())
    }
}

/// Where each table column's value comes from in the query's columns (`None`: NULL).
fn insert_positions(
    entry: &TableEntry,
    table: &Schema,
    columns: &[String],
    query_width: usize,
) -> Result<Vec<Option<usize>>, WriteError> {
    let named: Vec<String> = match columns.is_empty() {
        true => table.fields().iter().map(|f| f.name().clone()).collect(),
        false => columns.to_vec(),
    };
    for column in &named {
        if table.index_of(column).is_err() {
            return Err(WriteError::UndefinedColumn {
                table: entry.glue.name.clone(),
                column: column.clone(),
            });
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

/// A query batch laid out as the table's row: each column cast into place, NULL where the
/// INSERT names no value.
fn place_columns(
    batch: &RecordBatch,
    schema: &SchemaRef,
    positions: &[Option<usize>],
) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    let columns = positions
        .iter()
        .zip(schema.fields())
        .map(|(position, field)| match position {
            Some(i) => datafusion::arrow::compute::cast(batch.column(*i), field.data_type()),
            None => Ok(new_null_array(field.data_type(), batch.num_rows())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(Arc::clone(schema), columns)
}

/// Maps every batch of a stream into `schema`.
fn cast_stream(
    rows: SendableRecordBatchStream,
    schema: SchemaRef,
    map: impl Fn(&RecordBatch, &SchemaRef) -> Result<RecordBatch, datafusion::arrow::error::ArrowError>
        + Send
        + 'static,
) -> SendableRecordBatchStream {
    let target = Arc::clone(&schema);
    let mapped = rows.map(move |batch| Ok(map(&batch?, &target)?));
    Box::pin(RecordBatchStreamAdapter::new(schema, mapped))
}

/// The text stored for a view: its query, with the column names it was given.
fn view_sql(query: &Statement, columns: &[String]) -> String {
    match columns.is_empty() {
        true => query.to_string(),
        false => {
            let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
            format!("SELECT * FROM ({query}) AS v ({})", quoted.join(", "))
        }
    }
}
