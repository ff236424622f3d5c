//! One snapshot of the catalog's databases and tables, loaded from the backend and replaced as a
//! whole when it expires.
//!
//! Databases and tables are kept as one snapshot rather than per-key cache entries because
//! DataFusion asks for schema and table names synchronously (`SchemaProvider::table_names`,
//! `table_exist`) and pg_catalog lists everything at once; partitions and Delta snapshots,
//! which are large and fetched per table, live in moka caches instead.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::datatypes::{Field, Schema};
use futures::{StreamExt, TryStreamExt};

use super::backend::{CatalogBackend, CatalogError};
use super::glue_model::Table;
use super::{glue_types, TableEntry, PUBLIC_SCHEMA};

/// GetTables calls in flight at once while loading.
const LOAD_CONCURRENCY: usize = 8;

#[derive(Debug)]
pub(super) struct Metadata {
    pub schemas: Vec<String>,
    pub tables: HashMap<(String, String), Arc<TableEntry>>,
    /// Tables that exist but cannot be read, with the reason (shown when they are queried).
    pub broken: HashMap<(String, String), String>,
    /// Each database's parameters (tags for tag-based grants live there).
    pub database_parameters: HashMap<String, HashMap<String, String>>,
    /// Each database's `LocationUri`: where tables created in it are written.
    pub database_locations: HashMap<String, Option<String>>,
    pub loaded: Instant,
}

impl Metadata {
    /// Loads every database and table. Entries that did not change keep their opened providers.
    pub async fn load(
        backend: &dyn CatalogBackend,
        previous: Option<&Metadata>,
    ) -> Result<Self, CatalogError> {
        let databases = backend.databases().await?;
        let names: Vec<String> = databases.iter().map(|d| d.name.clone()).collect();
        let tables: Vec<Vec<Table>> = futures::stream::iter(names)
            .map(|name| async move { backend.tables(&name).await })
            .buffered(LOAD_CONCURRENCY)
            .try_collect()
            .await?;
        let mut metadata = Metadata {
            schemas: databases.iter().map(|d| d.name.clone()).collect(),
            tables: HashMap::new(),
            broken: HashMap::new(),
            database_parameters: databases
                .iter()
                .map(|d| (d.name.clone(), d.parameters.clone()))
                .collect(),
            database_locations: databases
                .iter()
                .map(|d| (d.name.clone(), d.location_uri.clone()))
                .collect(),
            loaded: Instant::now(),
        };
        metadata.schemas.push(PUBLIC_SCHEMA.to_owned());
        metadata.schemas.sort();
        metadata.schemas.dedup();
        for table in tables.into_iter().flatten() {
            metadata.add(table, previous);
        }
        Ok(metadata)
    }

    /// Whether anything a decision could depend on changed: tables (unchanged entries are reused,
    /// so a new `Arc` means a changed definition), unreadable tables, database parameters.
    pub fn differs_from(&self, other: &Metadata) -> bool {
        let same_entries = self.tables.len() == other.tables.len()
            && self.tables.iter().all(|(key, entry)| {
                other
                    .tables
                    .get(key)
                    .is_some_and(|old| Arc::ptr_eq(old, entry))
            });
        !same_entries
            || self.broken != other.broken
            || self.database_parameters != other.database_parameters
            || self.schemas != other.schemas
    }

    fn add(&mut self, table: Table, previous: Option<&Metadata>) {
        let key = (table.database_name.clone(), table.name.clone());
        if let Some(old) = previous.and_then(|p| p.tables.get(&key)) {
            if old.glue == table {
                self.tables.insert(key, Arc::clone(old));
                return;
            }
        }
        match table_entry(table) {
            Ok(entry) => {
                self.tables.insert(key, Arc::new(entry));
            }
            Err(problem) => {
                tracing::warn!(table = %format!("{}.{}", key.0, key.1), %problem, "catalog table cannot be read");
                self.broken.insert(key, problem);
            }
        }
    }
}

/// Resolves a table's Arrow schema from its Glue column types. A type that cannot be read is an
/// error naming the column.
fn table_entry(glue: Table) -> Result<TableEntry, String> {
    let columns = glue
        .storage_descriptor
        .columns
        .iter()
        .chain(&glue.partition_keys);
    let mut fields = Vec::new();
    let mut column_comments = HashMap::new();
    for column in columns {
        let ty = glue_types::parse_glue_type(&column.type_name).map_err(|e| {
            format!(
                "column {}: cannot read type {:?}: {e}",
                column.name, column.type_name
            )
        })?;
        fields.push(Field::new(&column.name, ty, true));
        if let Some(comment) = &column.comment {
            column_comments.insert(column.name.clone(), comment.clone());
        }
    }
    if glue.format().is_none() && !glue.is_view() {
        return Err("cannot tell its format from the catalog entry".to_owned());
    }
    Ok(TableEntry {
        glue,
        schema: Arc::new(Schema::new(fields)),
        column_comments,
        provider: tokio::sync::OnceCell::new(),
    })
}
