//! The catalog as DataFusion sees it: catalog `lake`, one schema per Glue database, plus
//! `public` (empty, the default search path) and `pg_catalog` (client metadata).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::TableType;

use super::{LakeCatalog, PUBLIC_SCHEMA};

/// Catalog `lake` for one session.
#[derive(Debug)]
pub struct LakeCatalogProvider {
    lake: Arc<LakeCatalog>,
    pg_catalog: Arc<dyn SchemaProvider>,
}

impl LakeCatalogProvider {
    pub fn new(lake: Arc<LakeCatalog>, pg_catalog: Arc<dyn SchemaProvider>) -> Self {
        Self { lake, pg_catalog }
    }
}

impl CatalogProvider for LakeCatalogProvider {
    fn schema_names(&self) -> Vec<String> {
        let mut names = self.lake.schema_names().to_vec();
        names.push(crate::pgcatalog::PG_CATALOG_SCHEMA.to_owned());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == crate::pgcatalog::PG_CATALOG_SCHEMA {
            return Some(Arc::clone(&self.pg_catalog));
        }
        self.lake.schema_names().iter().any(|s| s == name).then(|| {
            Arc::new(LakeSchemaProvider {
                lake: Arc::clone(&self.lake),
                schema: name.to_owned(),
            }) as Arc<dyn SchemaProvider>
        })
    }
}

/// One Glue database.
#[derive(Debug)]
struct LakeSchemaProvider {
    lake: Arc<LakeCatalog>,
    schema: String,
}

#[async_trait]
impl SchemaProvider for LakeSchemaProvider {
    fn owner_name(&self) -> Option<&str> {
        Some(super::DATABASE_NAME)
    }

    fn table_names(&self) -> Vec<String> {
        if self.schema == PUBLIC_SCHEMA {
            return Vec::new();
        }
        self.lake.table_names(&self.schema)
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.lake.provider(&self.schema, name).await
    }

    /// Answered from the catalog entry, without opening the table.
    async fn table_type(&self, name: &str) -> Result<Option<TableType>> {
        Ok(self.lake.table(&self.schema, name).map(|_| TableType::Base))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.lake.table(&self.schema, name).is_some()
    }
}
