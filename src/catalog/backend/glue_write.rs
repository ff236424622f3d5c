//! Catalog changes through the Glue API: CreateDatabase, CreateTable, UpdateTable, DeleteTable.
//!
//! Glue has no rename. A rename is CreateTable under the new name, then DeleteTable of the old
//! one; if the delete fails, the new entry is deleted again. Between the two calls both names
//! exist for a moment, so a reader may see the table twice but never not at all.

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

    async fn rename_table(&self, database: &str, from: &str, to: &str) -> Result<(), CatalogError> {
        let mut table = self
            .tables(database)
            .await?
            .into_iter()
            .find(|t| t.name == from)
            .ok_or_else(|| CatalogError::NotFound {
                name: from.to_owned(),
            })?;
        table.name = to.to_owned();
        self.create_table(table).await?;
        if let Err(e) = self.delete_table(database, from).await {
            // Undo the copy, so the rename either happened or did not.
            let _ = self.delete_table(database, to).await;
            return Err(e);
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
