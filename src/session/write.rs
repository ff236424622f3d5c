//! Write statements in a session: names resolved as PostgreSQL resolves them, grants checked
//! before anything is written (42501), the decision record made durable before the statement
//! acts (D9), then the catalog change or the Delta commit. Data writes are in
//! [`super::write_data`].

use datafusion::sql::sqlparser::ast::ObjectName;
use pgwire::api::results::{Response, Tag};

use super::Session;
use crate::audit::StatementAudit;
use crate::catalog::backend::CatalogError;
use crate::catalog::glue_model::Database;
use crate::catalog::{TableEntry, DATABASE_NAME, PUBLIC_SCHEMA};
use crate::error::LakegateError;
use crate::policy::{Permission, WriteTarget};
use crate::write::entries;
use crate::write::temp::TEMP_SCHEMA;
use crate::write::{RelationKind, WriteCommand, WriteError};

/// A relation a write names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Relation {
    Lake { schema: String, table: String },
    Temp(String),
}

impl Relation {
    pub(super) fn display(&self) -> String {
        match self {
            Relation::Lake { schema, table } => format!("{schema}.{table}"),
            Relation::Temp(name) => name.clone(),
        }
    }
}

/// What a write statement answers besides its tag: notices (IF EXISTS skips).
pub(super) type Notices = Vec<String>;

impl Session {
    /// Runs a write statement; notices for the client are appended to `notices`.
    pub(super) async fn write(
        &self,
        command: WriteCommand,
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
                query,
                temporary,
                if_not_exists,
            } => {
                let relation = self.relation(&target, temporary)?;
                self.create_table_as(relation, &query, if_not_exists, audit, notices)
                    .await
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
            } => self.rename(&target, &to, if_exists, audit, notices).await,
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
            [catalog, ..] if parts.len() == 3 => {
                return Err(WriteError::Unsupported(format!(
                    "cross-database references are not implemented: {catalog}"
                )))
            }
            _ => {
                return Err(WriteError::Unsupported(format!(
                    "improper relation name {name}"
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
    pub(super) fn visible_entry(
        &self,
        schema: &str,
        table: &str,
    ) -> Option<std::sync::Arc<TableEntry>> {
        let access = &self.view.load().access;
        access
            .table(schema, table)
            .map(|t| std::sync::Arc::clone(t.entry()))
    }

    pub(super) fn require(
        &self,
        permission: Permission,
        target: WriteTarget<'_>,
    ) -> Result<(), WriteError> {
        let access = std::sync::Arc::clone(&self.view.load().access);
        if access.may(permission, target) {
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
        if schema == crate::audit::lake::AUDIT_DATABASE
            || schema == crate::pgcatalog::PG_CATALOG_SCHEMA
        {
            return Err(WriteError::PermissionDenied(format!("schema {schema}")));
        }
        let access = &self.view.load().access;
        match access.lake().schema_names().iter().any(|s| s == schema) {
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
        let lake = std::sync::Arc::clone(self.view.load().access.lake());
        let visible = self
            .view
            .load()
            .access
            .schema_names()
            .iter()
            .any(|s| s == name);
        if !visible {
            self.require(Permission::CreateDatabase, WriteTarget::Database(name))?;
        }
        if lake.schema_names().iter().any(|s| s == name) {
            if !if_not_exists {
                return Err(WriteError::DuplicateSchema(name.to_owned()).into());
            }
            notices.push(format!("schema \"{name}\" already exists, skipping"));
            audit.decide().await?;
            return Ok(Response::Execution(Tag::new("CREATE SCHEMA")));
        }
        audit.decide().await?;
        let database = Database {
            name: name.to_owned(),
            location_uri: Some(entries::default_database_location(
                &self.gateway.create_location,
                name,
            )),
            ..Database::default()
        };
        match lake.create_database(database).await {
            Ok(()) => {}
            // Created by another session since the check above.
            Err(CatalogError::AlreadyExists { .. }) if if_not_exists => {
                notices.push(format!("schema \"{name}\" already exists, skipping"))
            }
            Err(CatalogError::AlreadyExists { .. }) => {
                return Err(WriteError::DuplicateSchema(name.to_owned()).into())
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Response::Execution(Tag::new("CREATE SCHEMA")))
    }

    async fn rename(
        &self,
        target: &ObjectName,
        to: &str,
        if_exists: bool,
        audit: &mut StatementAudit,
        notices: &mut Notices,
    ) -> Result<Response, LakegateError> {
        let (schema, table) = match self.relation(target, false)? {
            Relation::Temp(from) => {
                audit.decide().await?;
                return match self.temp_tables.rename(&from, to)? {
                    true => Ok(Response::Execution(Tag::new("ALTER TABLE"))),
                    false => Err(WriteError::UndefinedTable(from).into()),
                };
            }
            Relation::Lake { schema, table } => (schema, table),
        };
        if self.visible_entry(&schema, &table).is_none() {
            if if_exists {
                notices.push(format!("relation \"{table}\" does not exist, skipping"));
                return Ok(Response::Execution(Tag::new("ALTER TABLE")));
            }
            return Err(WriteError::UndefinedTable(table).into());
        }
        self.require(
            Permission::Alter,
            WriteTarget::Table {
                database: &schema,
                table: &table,
            },
        )?;
        if self.view.load().access.lake().table(&schema, to).is_some() {
            return Err(WriteError::DuplicateTable(to.to_owned()).into());
        }
        audit.set_written(&format!("{schema}.{table}"), "rename", None);
        audit.decide().await?;
        let lake = std::sync::Arc::clone(self.view.load().access.lake());
        lake.rename_table(&schema, &table, to).await?;
        Ok(Response::Execution(Tag::new("ALTER TABLE")))
    }

    async fn drop_relations(
        &self,
        kind: RelationKind,
        names: &[ObjectName],
        if_exists: bool,
        audit: &mut StatementAudit,
        notices: &mut Notices,
    ) -> Result<Response, LakegateError> {
        let mut targets = Vec::new();
        for name in names {
            match self.relation(name, false)? {
                Relation::Temp(table) if kind == RelationKind::Table => targets.push((None, table)),
                Relation::Temp(table) => {
                    return Err(WriteError::WrongObjectType {
                        name: table,
                        expected: "view",
                    }
                    .into())
                }
                Relation::Lake { schema, table } => {
                    let Some(entry) = self.visible_entry(&schema, &table) else {
                        if !if_exists {
                            return Err(WriteError::UndefinedTable(table).into());
                        }
                        let noun = kind.noun();
                        notices.push(format!("{noun} \"{table}\" does not exist, skipping"));
                        continue;
                    };
                    let is_view = entry.glue.is_view();
                    if is_view != (kind == RelationKind::View) {
                        let expected = kind.noun();
                        return Err(WriteError::WrongObjectType {
                            name: table,
                            expected,
                        }
                        .into());
                    }
                    self.require(
                        Permission::Drop,
                        WriteTarget::Table {
                            database: &schema,
                            table: &table,
                        },
                    )?;
                    targets.push((Some(entry), table));
                }
            }
        }
        for (entry, _) in &targets {
            if let Some(entry) = entry {
                audit.set_written(&entry.qualified_name(), "drop", None);
            }
        }
        audit.decide().await?;
        for (entry, table) in targets {
            match entry {
                None => {
                    if !self.temp_tables.remove(&table) && !if_exists {
                        return Err(WriteError::UndefinedTable(table).into());
                    }
                }
                Some(entry) => self.drop_entry(&entry).await?,
            }
        }
        let tag = match kind {
            RelationKind::Table => "DROP TABLE",
            RelationKind::View => "DROP VIEW",
        };
        Ok(Response::Execution(Tag::new(tag)))
    }

    /// Removes a table from the catalog, then deletes the data lakegate wrote for it (data of
    /// tables registered from elsewhere stays, as with Athena's external tables).
    async fn drop_entry(&self, entry: &TableEntry) -> Result<(), LakegateError> {
        let lake = std::sync::Arc::clone(self.view.load().access.lake());
        lake.delete_table(&entry.glue.database_name, &entry.glue.name)
            .await?;
        if entry.glue.is_managed() {
            if let Some(location) = &entry.glue.storage_descriptor.location {
                if let Err(e) = lake.delete_data(location).await {
                    tracing::warn!(table = %entry.qualified_name(), error = %e, "the dropped table's files could not all be deleted");
                }
            }
        }
        Ok(())
    }
}
