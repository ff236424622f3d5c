//! Tables lakegate adds to whatever the backend serves (the `audit` database): they are listed,
//! described and granted like the backend's own.

use std::sync::Arc;

use async_trait::async_trait;

use super::{CatalogBackend, CatalogError};
use crate::catalog::glue_model::{Database, Partition, Table};

#[derive(Debug)]
pub struct WithExtraTables {
    inner: Arc<dyn CatalogBackend>,
    database: Database,
    tables: Vec<Table>,
}

impl WithExtraTables {
    pub fn new(inner: Arc<dyn CatalogBackend>, database: Database, tables: Vec<Table>) -> Self {
        Self {
            inner,
            database,
            tables,
        }
    }
}

#[async_trait]
impl CatalogBackend for WithExtraTables {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn databases(&self) -> Result<Vec<Database>, CatalogError> {
        let mut databases = self.inner.databases().await?;
        if databases.iter().any(|d| d.name == self.database.name) {
            tracing::warn!(database = %self.database.name, "the catalog has a database of this name; lakegate's own tables replace its tables");
            databases.retain(|d| d.name != self.database.name);
        }
        databases.push(self.database.clone());
        Ok(databases)
    }

    async fn tables(&self, database: &str) -> Result<Vec<Table>, CatalogError> {
        match database == self.database.name {
            true => Ok(self.tables.clone()),
            false => self.inner.tables(database).await,
        }
    }

    async fn partitions(
        &self,
        database: &str,
        table: &str,
        expression: Option<&str>,
    ) -> Result<Vec<Partition>, CatalogError> {
        self.inner.partitions(database, table, expression).await
    }

    fn evaluates_expressions(&self) -> bool {
        self.inner.evaluates_expressions()
    }

    async fn connection(
        &self,
        name: &str,
    ) -> Result<Option<std::collections::HashMap<String, String>>, CatalogError> {
        self.inner.connection(name).await
    }

    /// Changes go to the backend; lakegate's own database is not changed through SQL.
    fn writer(&self) -> Option<&dyn super::CatalogWriter> {
        self.inner.writer()
    }
}
