//! Catalog changes through the Glue API: CreateDatabase, CreateTable, UpdateTable, DeleteTable.
//!
//! Glue has no rename and no multi-table transaction. Renames become creates (new names),
//! updates (names that get another table's definition, atomic per table) and deletes (names
//! that go), in that order: between the calls a reader may see a table under both names for a
//! moment, never under neither. A failure half-way leaves the names created so far; the error
//! says so and the next statement sees the catalog as it is.

use async_trait::async_trait;
use aws_sdk_glue::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_glue::types as glue;

use super::glue::GlueBackend;
use super::{CatalogBackend, CatalogError, CatalogWriter};
use crate::catalog::glue_model::{Column, Database, StorageDescriptor, Table};

fn refused(what: &str, name: &str, error: impl std::fmt::Display) -> CatalogError {
    CatalogError::Unavailable {
        backend: "Glue",
        summary: format!("{what} {name} was refused"),
        detail: error.to_string(),
    }
}

/// Glue's answer to a change, with the two refusals statements report as such.
fn change_error<E, R>(name: &str, error: SdkError<E, R>) -> CatalogError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error.code() {
        Some("AlreadyExistsException") => CatalogError::AlreadyExists {
            name: name.to_owned(),
        },
        Some("EntityNotFoundException") => CatalogError::NotFound {
            name: name.to_owned(),
        },
        _ => super::glue::unavailable(error),
    }
}

fn column_input(column: &Column) -> Result<glue::Column, CatalogError> {
    glue::Column::builder()
        .name(&column.name)
        .r#type(&column.type_name)
        .set_comment(column.comment.clone())
        // LF-Tags live here; a rename or replace that dropped them would drop tag policies.
        .set_parameters(Some(column.parameters.clone()))
        .build()
        .map_err(|e| refused("column", &column.name, e))
}

fn storage_input(sd: &StorageDescriptor) -> Result<glue::StorageDescriptor, CatalogError> {
    let columns = sd
        .columns
        .iter()
        .map(column_input)
        .collect::<Result<_, _>>()?;
    let serde_info = sd.serde_info.as_ref().map(|s| {
        glue::SerDeInfo::builder()
            .set_serialization_library(s.serialization_library.clone())
            .set_parameters(Some(s.parameters.clone()))
            .build()
    });
    Ok(glue::StorageDescriptor::builder()
        .set_columns(Some(columns))
        .set_location(sd.location.clone())
        .set_input_format(sd.input_format.clone())
        .set_output_format(sd.output_format.clone())
        .set_serde_info(serde_info)
        .build())
}

/// Glue keeps partitions apart from the table; a copy under a new name would have none.
fn refuse_partitioned(table: &Table) -> Result<(), CatalogError> {
    match table.partition_keys.is_empty() {
        true => Ok(()),
        false => Err(CatalogError::ReadOnly(format!(
            "{} is partitioned in Glue; renaming it would lose its partitions",
            table.name
        ))),
    }
}

fn table_input(table: &Table) -> Result<glue::TableInput, CatalogError> {
    let keys = table
        .partition_keys
        .iter()
        .map(column_input)
        .collect::<Result<_, _>>()?;
    glue::TableInput::builder()
        .name(&table.name)
        .set_description(table.description.clone())
        .set_table_type(table.table_type.clone())
        .set_owner(table.owner.clone())
        .set_parameters(Some(table.parameters.clone()))
        .storage_descriptor(storage_input(&table.storage_descriptor)?)
        .set_partition_keys(Some(keys))
        .set_view_original_text(table.view_original_text.clone())
        .set_view_expanded_text(table.view_expanded_text.clone())
        .build()
        .map_err(|e| refused("table", &table.name, e))
}

#[async_trait]
impl CatalogWriter for GlueBackend {
    async fn create_database(&self, database: Database) -> Result<(), CatalogError> {
        let input = glue::DatabaseInput::builder()
            .name(&database.name)
            .set_description(database.description.clone())
            .set_location_uri(database.location_uri.clone())
            .set_parameters(Some(database.parameters.clone()))
            .build()
            .map_err(|e| refused("database", &database.name, e))?;
        self.client()
            .create_database()
            .set_catalog_id(self.catalog_id())
            .database_input(input)
            .send()
            .await
            .map_err(|e| change_error(&database.name, e))?;
        Ok(())
    }

    async fn create_table(&self, table: Table) -> Result<(), CatalogError> {
        self.client()
            .create_table()
            .set_catalog_id(self.catalog_id())
            .database_name(&table.database_name)
            .table_input(table_input(&table)?)
            .send()
            .await
            .map_err(|e| change_error(&table.name, e))?;
        Ok(())
    }

    async fn replace_table(&self, table: Table) -> Result<(), CatalogError> {
        self.client()
            .update_table()
            .set_catalog_id(self.catalog_id())
            .database_name(&table.database_name)
            .table_input(table_input(&table)?)
            .send()
            .await
            .map_err(|e| change_error(&table.name, e))?;
        Ok(())
    }

    /// The renames as the changes they make to the final set of names: names that appear are
    /// created, names whose definition changes are updated in place (UpdateTable is atomic per
    /// table, so a swapped model never disappears), names that go are deleted — in that order.
    async fn rename_tables(
        &self,
        database: &str,
        renames: &[(String, String)],
    ) -> Result<(), CatalogError> {
        let before: Vec<Table> = self.tables(database).await?;
        let mut after = before.clone();
        for (from, to) in renames {
            if after.iter().any(|t| &t.name == to) {
                return Err(CatalogError::AlreadyExists { name: to.clone() });
            }
            let table = after
                .iter_mut()
                .find(|t| &t.name == from)
                .ok_or_else(|| CatalogError::NotFound { name: from.clone() })?;
            refuse_partitioned(table)?;
            table.name = to.clone();
        }
        let old = |name: &str| before.iter().find(|t| t.name == name);
        for table in &after {
            match old(&table.name) {
                None => self.create_table(table.clone()).await?,
                Some(previous) if previous != table => self.replace_table(table.clone()).await?,
                Some(_) => {}
            }
        }
        for gone in before
            .iter()
            .filter(|t| !after.iter().any(|a| a.name == t.name))
        {
            self.delete_table(database, &gone.name).await?;
        }
        Ok(())
    }

    async fn delete_table(&self, database: &str, name: &str) -> Result<(), CatalogError> {
        self.client()
            .delete_table()
            .set_catalog_id(self.catalog_id())
            .database_name(database)
            .name(name)
            .send()
            .await
            .map_err(|e| change_error(name, e))?;
        Ok(())
    }
}
