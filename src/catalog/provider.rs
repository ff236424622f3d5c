//! The catalog as one session sees it: catalog `lake`, one schema per Glue database the
//! principal may see, plus `public` (empty, the default search path) and `pg_catalog` (client
//! metadata). Tables are wrapped in their policy ([`SecureTable`]); what does not exist for the
//! principal is absent, so it resolves like a misspelled name (D2, D10).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::TableType;

use super::PUBLIC_SCHEMA;
use crate::policy::secure::SecureTable;
use crate::policy::TableAccess;
use crate::session::view::ViewHandle;
use crate::write::temp::TEMP_SCHEMA;

/// Plans a stored view's SQL as the session's principal (invoker rights, D8).
#[async_trait]
pub trait ViewExpander: std::fmt::Debug + Send + Sync {
    async fn expand(
        &self,
        table: &str,
        sql: &str,
        columns: datafusion::arrow::datatypes::SchemaRef,
    ) -> Result<Arc<dyn TableProvider>>;
}

/// Catalog `lake` for one session.
#[derive(Debug)]
pub struct LakeCatalogProvider {
    view: ViewHandle,
    /// The session's temporary tables.
    temp: Arc<MemorySchemaProvider>,
    expander: Arc<dyn ViewExpander>,
}

impl LakeCatalogProvider {
    pub fn new(
        view: ViewHandle,
        temp: Arc<MemorySchemaProvider>,
        expander: Arc<dyn ViewExpander>,
    ) -> Self {
        Self {
            view,
            temp,
            expander,
        }
    }
}

impl CatalogProvider for LakeCatalogProvider {
    fn schema_names(&self) -> Vec<String> {
        let mut names = self.view.load().access.schema_names();
        names.push(crate::pgcatalog::PG_CATALOG_SCHEMA.to_owned());
        if !self.temp.table_names().is_empty() {
            names.push(TEMP_SCHEMA.to_owned());
        }
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let view = self.view.load();
        if name == crate::pgcatalog::PG_CATALOG_SCHEMA {
            return Some(view.pg_catalog.schema());
        }
        if name == TEMP_SCHEMA {
            return Some(Arc::clone(&self.temp) as Arc<dyn SchemaProvider>);
        }
        view.access
            .schema_names()
            .iter()
            .any(|s| s == name)
            .then(|| {
                Arc::new(LakeSchemaProvider {
                    view: Arc::clone(&self.view),
                    schema: name.to_owned(),
                    expander: Arc::clone(&self.expander),
                }) as Arc<dyn SchemaProvider>
            })
    }
}

/// One Glue database.
#[derive(Debug)]
struct LakeSchemaProvider {
    view: ViewHandle,
    schema: String,
    expander: Arc<dyn ViewExpander>,
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
        self.view.load().access.table_names(&self.schema)
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let access = Arc::clone(&self.view.load().access);
        let table = access.table(&self.schema, name);
        // A table the catalog lists but cannot read has no columns to decide on: superusers
        // get the catalog's error for it, everyone else sees no such table.
        if table.is_none() && !access.is_unrestricted() {
            return Ok(None);
        }
        let raw = match table.as_ref().map(|t| Arc::clone(t.entry())) {
            Some(entry) if entry.glue.is_view() => {
                let sql = entry.glue.view_original_text.clone().unwrap_or_default();
                let columns = Arc::clone(&entry.schema);
                self.expander
                    .expand(&entry.qualified_name(), &sql, columns)
                    .await?
            }
            _ => match access.lake().provider(&self.schema, name).await? {
                Some(raw) => raw,
                None => return Ok(None),
            },
        };
        Ok(Some(match table {
            Some(TableAccess::Restricted(_, policy)) => Arc::new(SecureTable::new(raw, policy)?),
            _ => raw,
        }))
    }

    /// Answered from the catalog entry, without opening the table.
    async fn table_type(&self, name: &str) -> Result<Option<TableType>> {
        let access = Arc::clone(&self.view.load().access);
        Ok(access
            .table(&self.schema, name)
            .map(|t| match t.entry().glue.is_view() {
                true => TableType::View,
                false => TableType::Base,
            }))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.view.load().access.table(&self.schema, name).is_some()
    }
}
