//! CREATE TABLE … AS (a new Delta table, or a temporary table in the session's memory) and
//! CREATE [OR REPLACE] VIEW (its query planned to check it and to list its columns).

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::execution::memory_pool::MemoryConsumer;
use datafusion::sql::sqlparser::ast::Statement;
use futures::TryStreamExt;
use pgwire::api::results::{Response, Tag};

use super::execute::PlannedQuery;
use super::write::{Notices, Relation};
use super::write_plan::cast_stream;
use super::Session;
use crate::audit::StatementAudit;
use crate::error::LakegateError;
use crate::policy::{Permission, WriteTarget};
use crate::write::delta::{self, WriteMode};
use crate::write::schema::{cast_batch, storable_schema};
use crate::write::{entries, WriteError};

/// A CREATE TABLE … AS, resolved.
pub(super) struct Ctas {
    pub relation: Relation,
    /// Column names given after the table name (the query's names otherwise).
    pub columns: Vec<String>,
    pub if_not_exists: bool,
}

impl Session {
    pub(super) async fn create_table_as(
        &self,
        create: Ctas,
        query: &Statement,
        audit: &mut StatementAudit,
        notices: &mut Notices,
    ) -> Result<Response, LakegateError> {
        let (exists, name) = match &create.relation {
            Relation::Temp(name) => (self.temp_tables.exists(name), name.clone()),
            Relation::Lake { schema, table } => {
                self.writable_schema(schema)?;
                self.require(&[Permission::CreateTable], WriteTarget::Database(schema))?;
                (self.lake().table(schema, table).is_some(), table.clone())
            }
        };
        if exists && create.if_not_exists {
            notices.push(format!("relation \"{name}\" already exists, skipping"));
            return Ok(Response::Execution(Tag::new("CREATE TABLE AS")));
        }
        if exists {
            return Err(WriteError::DuplicateTable(name).into());
        }
        let planned = self.plan(query).await?;
        let names = column_names(&create.columns, &planned.names, "CREATE TABLE AS")?;
        let schema = storable_schema(planned.plan.schema().as_arrow(), &names);
        let rows = match create.relation {
            Relation::Temp(name) => self.create_temp(&name, &planned, schema, audit).await?,
            Relation::Lake { schema: db, table } => {
                let qualified = format!("{db}.{table}");
                audit.set_written(&qualified, "create", None);
                let rows = self
                    .create_delta((&db, &table), &planned, schema, audit)
                    .await?;
                audit.set_written(&qualified, "create", Some(rows));
                rows
            }
        };
        Ok(Response::Execution(
            Tag::new("SELECT").with_rows(rows as usize),
        ))
    }

    /// The rows in the session's memory, accounted in the gateway's memory pool (53200 when
    /// they do not fit) for as long as the table lives.
    async fn create_temp(
        &self,
        name: &str,
        planned: &PlannedQuery,
        schema: SchemaRef,
        audit: &mut StatementAudit,
    ) -> Result<u64, LakegateError> {
        let pool = &self.gateway.runtime.memory_pool;
        let reservation = MemoryConsumer::new(format!("temporary table {name}")).register(pool);
        let work = async {
            let rows = self.rows_of(planned, audit).await?;
            let batches: Vec<RecordBatch> = cast_stream(rows, Arc::clone(&schema), cast_batch)
                .and_then(|batch| {
                    let grown = reservation.try_grow(batch.get_array_memory_size());
                    async move { grown.map(|()| batch) }
                })
                .try_collect()
                .await?;
            Ok::<_, LakegateError>(batches)
        };
        let batches = self.guarded(work).await?;
        let count = batches.iter().map(|b| b.num_rows() as u64).sum();
        let table = MemTable::try_new(schema, vec![batches])?;
        self.temp_tables.add(name, Arc::new(table), reservation)?;
        Ok(count)
    }

    /// Writes the rows as a new Delta table in its own directory, then registers it. Whatever
    /// stops it before the registration (an error, cancel, timeout) deletes the directory, so
    /// nothing half-made stays; once registered, the table exists even if the client is gone.
    async fn create_delta(
        &self,
        (db, table): (&str, &str),
        planned: &PlannedQuery,
        schema: SchemaRef,
        audit: &mut StatementAudit,
    ) -> Result<u64, LakegateError> {
        let lake = self.lake();
        let base = lake.database_location(db).unwrap_or_else(|| {
            entries::default_database_location(&self.gateway.create_location, db)
        });
        let location = entries::new_table_location(&base, table);
        let entry = entries::delta_table((db, table), &schema, &location, &self.principal.user)
            .map_err(WriteError::Unsupported)?;
        let name = format!("{db}.{table}");
        let work = async {
            let target = self.delta_target(&name, &location, None)?;
            let rows = self.rows_of(planned, audit).await?;
            let rows = cast_stream(rows, Arc::clone(&schema), cast_batch);
            Ok::<_, LakegateError>(delta::write(&target, schema, rows, WriteMode::Create).await?)
        };
        let written = self.guarded(work).await;
        let registered = match written {
            Ok(rows) => lake
                .create_table(entry)
                .await
                .map(|()| rows)
                .map_err(Into::into),
            Err(e) => Err(e),
        };
        if registered.is_err() {
            if let Err(cleanup) = lake.delete_data(&location).await {
                tracing::warn!(table = %name, error = %cleanup, "files of a table that was not created were left behind");
            }
        }
        registered
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
        self.require(&[Permission::CreateTable], WriteTarget::Database(&db))?;
        let existing = self.lake().table(&db, &table);
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
                &[Permission::Alter],
                WriteTarget::Table {
                    database: &db,
                    table: &table,
                },
            )?;
        }
        // A stored view must mean the same to every reader: a session's temporary table would
        // be another table (or none) in the next session.
        if self.temp_tables.referenced_by(query) {
            return Err(
                WriteError::Unsupported("a view cannot read a temporary table".into()).into(),
            );
        }
        let planned = self.plan(query).await?;
        let names = column_names(columns, &planned.names, "CREATE VIEW")?;
        let schema = storable_schema(planned.plan.schema().as_arrow(), &names);
        let sql = view_sql(query, columns);
        let entry = entries::view((&db, &table), &schema, &sql, &self.principal.user)
            .map_err(WriteError::Unsupported)?;
        audit.set_written(&format!("{db}.{table}"), "create view", None);
        audit.decide().await?;
        match existing {
            Some(_) => self.lake().replace_table(entry).await?,
            None => self.lake().create_table(entry).await?,
        }
        Ok(Response::Execution(Tag::new("CREATE VIEW")))
    }
}

/// The new relation's column names: those given, or the query's; no name twice (42701).
fn column_names(given: &[String], query: &[String], what: &str) -> Result<Vec<String>, WriteError> {
    let names = match given.len() {
        0 => query.to_vec(),
        n if n == query.len() => given.to_vec(),
        _ => {
            return Err(WriteError::ColumnCount(format!(
                "{what} specifies a different number of column names than its query gives"
            )))
        }
    };
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(WriteError::DuplicateColumn(name.clone()));
        }
    }
    Ok(names)
}

/// The text stored for a view: its query, with the column names it was given.
fn view_sql(query: &Statement, columns: &[String]) -> String {
    if columns.is_empty() {
        return query.to_string();
    }
    let quoted: Vec<String> = columns
        .iter()
        .map(|c| crate::write::parse::quote(c))
        .collect();
    format!("SELECT * FROM ({query}) AS v ({})", quoted.join(", "))
}
