//! Write statements in a session: names resolved as PostgreSQL resolves them, grants checked
//! before anything is written (42501), the decision record made durable before the statement
//! acts (D9), then the catalog change or the Delta commit. CREATE SCHEMA is here; renames and
//! drops in [`super::write_ddl`], CTAS and views in [`super::write_create`], INSERT and DELETE
//! in [`super::write_rows`].

use std::sync::Arc;

use datafusion::sql::sqlparser::ast::ObjectName;
use pgwire::api::results::{Response, Tag};

use super::Session;
use crate::audit::StatementAudit;
use crate::catalog::backend::CatalogError;
use crate::catalog::glue_model::Database;
use crate::catalog::{LakeCatalog, TableEntry, DATABASE_NAME, PUBLIC_SCHEMA};
use crate::error::LakegateError;
use crate::policy::{Permission, WriteTarget};
use crate::write::entries;
use crate::write::temp::TEMP_SCHEMA;
use crate::write::{WriteCommand, WriteError};

/// A relation a write names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Relation {
    Lake { schema: String, table: String },
    Temp(String),
}

/// What a write statement answers besides its tag: notices (IF EXISTS skips).
pub(super) type Notices = Vec<String>;

impl Session {
    /// Runs a write statement; notices for the client are appended to `notices`. Whatever
    /// its outcome, plans kept for reuse are made again afterwards (a failed write may still
    /// have changed something, and being sure costs only a replanning).
    pub(super) async fn write(
        &self,
        command: WriteCommand,
        in_transaction: bool,
        audit: &mut StatementAudit,
        notices: &mut Notices,
    ) -> Result<Response, LakegateError> {
        let result = self
            .write_command(command, in_transaction, audit, notices)
            .await;
        self.gateway.lake.note_data_written();
        result
    }

    async fn write_command(
        &self,
        command: WriteCommand,
        in_transaction: bool,
        audit: &mut StatementAudit,
        notices: &mut Notices,
    ) -> Result<Response, LakegateError> {
        match command {
            WriteCommand::CreateSchema {
                name,
                if_not_exists,
            } => {
                self.create_schema(&name, if_not_exists, audit, notices)
                    .await
            }
            WriteCommand::CreateTableAs {
                target,
                columns,
                query,
                temporary,
                if_not_exists,
            } => {
                let relation = self.relation(&target, temporary)?;
                let create = super::write_create::Ctas {
                    relation,
                    columns,
                    if_not_exists,
                };
                self.create_table_as(create, &query, audit, notices).await
            }
            WriteCommand::CreateView {
                target,
                query,
                or_replace,
                columns,
            } => {
                let relation = self.relation(&target, false)?;
                self.create_view(relation, &query, or_replace, &columns, audit)
                    .await
            }
            WriteCommand::Rename {
                target,
                to,
                if_exists,
            } => {
                let rename = (target, to.as_str(), if_exists, in_transaction);
                self.rename(rename, audit, notices).await
            }
            WriteCommand::Drop {
                kind,
                names,
                if_exists,
            } => {
                self.drop_relations(kind, &names, if_exists, audit, notices)
                    .await
            }
            WriteCommand::Insert {
                target,
                columns,
                query,
            } => self.insert(&target, &columns, &query, audit).await,
            WriteCommand::Delete {
                target,
                alias,
                predicate,
            } => self.delete(&target, alias, predicate, audit).await,
        }
    }

    /// The lake's catalog, as this session's view holds it.
    pub(super) fn lake(&self) -> Arc<LakeCatalog> {
        Arc::clone(self.view.load().access.lake())
    }

    /// Resolves a name: `pg_temp.t` and unqualified names of temporary tables are temporary;
    /// other unqualified names go to the first schema of the search path that exists.
    pub(super) fn relation(
        &self,
        name: &ObjectName,
        temporary: bool,
    ) -> Result<Relation, WriteError> {
        let parts = crate::write::parse::name_parts(name)?;
        let (schema, table) = match parts.as_slice() {
            [table] if temporary || self.temp_tables.exists(table) => {
                return Ok(Relation::Temp(table.clone()))
            }
            [table] => (self.default_schema(), table.clone()),
            [schema, table] => (schema.clone(), table.clone()),
            [catalog, schema, table] if catalog == DATABASE_NAME => (schema.clone(), table.clone()),
            _ => {
                return Err(WriteError::Unsupported(format!(
                    "cross-database references are not implemented: {name}"
                )))
            }
        };
        match (schema.as_str(), temporary) {
            (TEMP_SCHEMA, _) => Ok(Relation::Temp(table)),
            (_, true) => Err(WriteError::Unsupported(
                "temporary tables cannot be created in a lake schema".into(),
            )),
            _ => Ok(Relation::Lake { schema, table }),
        }
    }

    /// The catalog entry of a relation the principal can see.
    pub(super) fn visible_entry(&self, schema: &str, table: &str) -> Option<Arc<TableEntry>> {
        let access = Arc::clone(&self.view.load().access);
        access.table(schema, table).map(|t| Arc::clone(t.entry()))
    }

    /// Fails with 42501 unless the principal may act so on every target.
    pub(super) fn require(
        &self,
        permissions: &[Permission],
        target: WriteTarget<'_>,
    ) -> Result<(), WriteError> {
        let access = Arc::clone(&self.view.load().access);
        if permissions.iter().all(|p| access.may(*p, target)) {
            return Ok(());
        }
        Err(WriteError::PermissionDenied(match target {
            WriteTarget::Database(schema) => format!("schema {schema}"),
            WriteTarget::Table { database, table } => {
                match self
                    .visible_entry(database, table)
                    .map(|e| e.glue.is_view())
                {
                    Some(true) => format!("view {table}"),
                    _ => format!("table {table}"),
                }
            }
        }))
    }

    /// A schema statements may create tables in: one of the lake's databases other than
    /// lakegate's own.
    pub(super) fn writable_schema(&self, schema: &str) -> Result<(), WriteError> {
        if schema == PUBLIC_SCHEMA {
            return Err(WriteError::NoSchemaSelected);
        }
        if is_reserved(schema) {
            return Err(WriteError::PermissionDenied(format!("schema {schema}")));
        }
        match self.lake().schema_names().iter().any(|s| s == schema) {
            true => Ok(()),
            false => Err(WriteError::UndefinedSchema(schema.to_owned())),
        }
    }

    async fn create_schema(
        &self,
        name: &str,
        if_not_exists: bool,
        audit: &mut StatementAudit,
        notices: &mut Notices,
    ) -> Result<Response, LakegateError> {
        if is_reserved(name) || name == PUBLIC_SCHEMA {
            return Err(WriteError::ReservedName(name.to_owned()).into());
        }
        let lake = self.lake();
        let visible = self
            .view
            .load()
            .access
            .schema_names()
            .iter()
            .any(|s| s == name);
        if !visible {
            self.require(&[Permission::CreateDatabase], WriteTarget::Database(name))?;
        }
        let skip = |notices: &mut Notices| {
            notices.push(format!("schema \"{name}\" already exists, skipping"));
            Ok(Response::Execution(Tag::new("CREATE SCHEMA")))
        };
        if lake.schema_names().iter().any(|s| s == name) {
            if !if_not_exists {
                return Err(WriteError::DuplicateSchema(name.to_owned()).into());
            }
            audit.decide().await?;
            return skip(notices);
        }
        audit.decide().await?;
        let location = entries::default_database_location(&self.gateway.create_location, name);
        let database = Database {
            name: name.to_owned(),
            location_uri: Some(location),
            ..Database::default()
        };
        match lake.create_database(database).await {
            Ok(()) => Ok(Response::Execution(Tag::new("CREATE SCHEMA"))),
            // Created by another session since the check above.
            Err(CatalogError::AlreadyExists { .. }) if if_not_exists => skip(notices),
            Err(CatalogError::AlreadyExists { .. }) => {
                Err(WriteError::DuplicateSchema(name.to_owned()).into())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Schemas no statement may create or write: PostgreSQL's own and lakegate's audit tables.
fn is_reserved(schema: &str) -> bool {
    schema.starts_with("pg_")
        || schema == "information_schema"
        || schema == crate::audit::lake::AUDIT_DATABASE
}
