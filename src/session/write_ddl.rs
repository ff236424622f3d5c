//! ALTER … RENAME TO and DROP TABLE|VIEW: catalog changes only (a dropped table's data that
//! lakegate wrote is deleted after its entry is gone).

use datafusion::sql::sqlparser::ast::ObjectName;
use pgwire::api::results::{Response, Tag};

use super::write::{Notices, Relation};
use super::Session;
use crate::audit::StatementAudit;
use crate::catalog::TableEntry;
use crate::error::LakegateError;
use crate::policy::{Permission, WriteTarget};
use crate::write::{RelationKind, WriteError};

/// What DROP removes: a temporary table, or a lake table or view.
enum Dropped {
    Temp(String),
    Lake(std::sync::Arc<TableEntry>),
}

impl Session {
    /// ALTER … RENAME TO: at once, or held until the transaction's next statement
    /// (`renames.rs`), names resolved as the held renames leave them. A rename takes the name
    /// away and gives a new one, so it needs ALTER and DROP on the table and CREATE_TABLE in
    /// its schema (a DROP deny cannot be sidestepped by renaming first).
    pub(super) async fn rename(
        &self,
        (target, to, if_exists, in_transaction): (ObjectName, &str, bool, bool),
        audit: &mut StatementAudit,
        notices: &mut Notices,
    ) -> Result<Response, LakegateError> {
        let done = || Ok(Response::Execution(Tag::new("ALTER TABLE")));
        let (schema, table) = match self.relation(&target, false)? {
            Relation::Temp(from) => {
                audit.decide().await?;
                self.temp_tables.rename(&from, to)?;
                return done();
            }
            Relation::Lake { schema, table } => (schema, table),
        };
        let names = self.names_after_renames(&schema);
        let original = names
            .get(&table)
            .filter(|o| self.visible_entry(&schema, o).is_some());
        let Some(original) = original else {
            if if_exists {
                notices.push(format!("relation \"{table}\" does not exist, skipping"));
                return done();
            }
            return Err(WriteError::UndefinedTable(table).into());
        };
        let on_table = WriteTarget::Table {
            database: &schema,
            table: original,
        };
        self.require(&[Permission::Alter, Permission::Drop], on_table)?;
        self.require(&[Permission::CreateTable], WriteTarget::Database(&schema))?;
        if names.contains_key(to) {
            return Err(WriteError::DuplicateTable(to.to_owned()).into());
        }
        audit.set_written(
            &format!("{schema}.{table}"),
            &format!("rename to {to}"),
            None,
        );
        audit.decide().await?;
        match in_transaction {
            true => self.hold_rename(&schema, &table, to),
            false => self.lake().rename_table(&schema, &table, to).await?,
        }
        done()
    }

    /// DROP TABLE|VIEW: every name is checked (existence, kind, grant) before anything is
    /// dropped.
    pub(super) async fn drop_relations(
        &self,
        kind: RelationKind,
        names: &[ObjectName],
        if_exists: bool,
        audit: &mut StatementAudit,
        notices: &mut Notices,
    ) -> Result<Response, LakegateError> {
        let mut dropped = Vec::new();
        for name in names {
            match self.droppable(kind, name)? {
                Some(target) => dropped.push(target),
                None => {
                    let table = crate::write::parse::last_name(name)?;
                    if !if_exists {
                        return Err(WriteError::UndefinedTable(table).into());
                    }
                    notices.push(format!(
                        "{} \"{table}\" does not exist, skipping",
                        kind.noun()
                    ));
                }
            }
        }
        for target in &dropped {
            if let Dropped::Lake(entry) = target {
                audit.set_written(&entry.qualified_name(), "drop", None);
            }
        }
        audit.decide().await?;
        for target in dropped {
            match target {
                Dropped::Temp(table) => {
                    self.temp_tables.remove(&table);
                }
                Dropped::Lake(entry) => self.drop_entry(&entry).await?,
            }
        }
        let tag = match kind {
            RelationKind::Table => "DROP TABLE",
            RelationKind::View => "DROP VIEW",
        };
        Ok(Response::Execution(Tag::new(tag)))
    }

    /// What a DROP of `name` removes; `None` if it does not exist for the principal.
    fn droppable(
        &self,
        kind: RelationKind,
        name: &ObjectName,
    ) -> Result<Option<Dropped>, WriteError> {
        let (schema, table) = match self.relation(name, false)? {
            Relation::Temp(table) if !self.temp_tables.exists(&table) => return Ok(None),
            Relation::Temp(table) if kind == RelationKind::Table => {
                return Ok(Some(Dropped::Temp(table)))
            }
            Relation::Temp(name) => {
                return Err(WriteError::WrongObjectType {
                    name,
                    expected: "view",
                })
            }
            Relation::Lake { schema, table } => (schema, table),
        };
        let Some(entry) = self.visible_entry(&schema, &table) else {
            return Ok(None);
        };
        if entry.glue.is_view() != (kind == RelationKind::View) {
            return Err(WriteError::WrongObjectType {
                name: table,
                expected: kind.noun(),
            });
        }
        let target = WriteTarget::Table {
            database: &schema,
            table: &table,
        };
        self.require(&[Permission::Drop], target)?;
        Ok(Some(Dropped::Lake(entry)))
    }

    /// Removes a table from the catalog, then deletes the data lakegate wrote for it (data of
    /// tables registered from elsewhere stays, as with Athena's external tables).
    async fn drop_entry(&self, entry: &TableEntry) -> Result<(), LakegateError> {
        let lake = self.lake();
        lake.delete_table(&entry.glue.database_name, &entry.glue.name)
            .await?;
        let location = entry.glue.storage_descriptor.location.as_deref();
        if let (true, Some(location)) = (entry.glue.is_managed(), location) {
            if let Err(e) = lake.delete_data(location).await {
                tracing::warn!(table = %entry.qualified_name(), error = %e, "the dropped table's files could not all be deleted");
            }
        }
        Ok(())
    }
}
