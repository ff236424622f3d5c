//! Changes to the catalog made by statements (CREATE SCHEMA, CTAS, views, rename, drop). Each
//! goes to the backend's writer and then reloads the snapshot at once, so the next statement
//! on this gateway sees it; other gateways see it when their cache expires, as with any change
//! made in Glue.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use super::backend::{CatalogError, CatalogWriter};
use super::glue_model::{Database, Table};
use super::{LakeCatalog, TableEntry};
use crate::scan::stores::ResolvedLocation;

impl LakeCatalog {
    fn writer(&self) -> Result<&dyn CatalogWriter, CatalogError> {
        self.backend.writer().ok_or_else(|| {
            CatalogError::ReadOnly(format!("the {} catalog is read-only", self.backend.kind()))
        })
    }

    pub async fn create_database(&self, database: Database) -> Result<(), CatalogError> {
        self.writer()?.create_database(database).await?;
        self.reload().await
    }

    pub async fn create_table(&self, table: Table) -> Result<(), CatalogError> {
        self.writer()?.create_table(table).await?;
        self.reload().await
    }

    pub async fn replace_table(&self, table: Table) -> Result<(), CatalogError> {
        self.writer()?.replace_table(table).await?;
        self.reload().await
    }

    pub async fn rename_table(
        &self,
        schema: &str,
        from: &str,
        to: &str,
    ) -> Result<(), CatalogError> {
        self.writer()?.rename_table(schema, from, to).await?;
        self.reload().await
    }

    pub async fn rename_tables(
        &self,
        schema: &str,
        renames: &[(String, String)],
    ) -> Result<(), CatalogError> {
        self.writer()?.rename_tables(schema, renames).await?;
        self.reload().await
    }

    pub async fn delete_table(&self, schema: &str, name: &str) -> Result<(), CatalogError> {
        self.writer()?.delete_table(schema, name).await?;
        self.reload().await
    }

    /// Reads the catalog again now (after a change made here).
    pub async fn reload(&self) -> Result<(), CatalogError> {
        let _refreshing = self.refresh.lock().await;
        let current = self.snapshot();
        self.load_now(&current).await
    }

    /// A location in the lake's stores.
    pub fn resolve(&self, location: &str) -> Result<ResolvedLocation, String> {
        self.open.stores.resolve(location)
    }

    pub fn object_store(
        &self,
        location: &ResolvedLocation,
    ) -> datafusion::error::Result<Arc<dyn object_store::ObjectStore>> {
        self.open.stores.store(location)
    }

    /// Forgets the opened snapshot of a Delta table, so the next read sees the version just
    /// written.
    pub async fn forget_snapshot(&self, entry: &TableEntry) {
        if let Ok(location) = entry.location() {
            self.delta.invalidate(location).await;
        }
    }

    /// Deletes every object under a location (the data of a dropped table lakegate wrote).
    pub async fn delete_data(&self, location: &str) -> Result<(), String> {
        let resolved = self.resolve(location)?;
        let store = self.object_store(&resolved).map_err(|e| e.to_string())?;
        let paths = store
            .list(Some(&resolved.prefix))
            .map_ok(|meta| meta.location)
            .boxed();
        store
            .delete_stream(paths)
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| e.to_string())?;
        if let Some(dir) = resolved.url.to_file_path().ok().filter(|d| d.exists()) {
            // Local stores leave the emptied directories behind.
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(())
    }
}
