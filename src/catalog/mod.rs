//! The catalog: which databases (schemas) and tables exist, what their columns are, and how to
//! read them. Metadata questions (listing, column types, comments) are answered from catalog
//! entries alone; a table's files or Delta log are opened only when a query reads it.

pub mod fixtures;
pub mod glue_expression;
pub mod glue_model;
pub mod glue_types;
pub mod projection;
mod provider;
mod tables;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::error::{DataFusionError, Result};
use tokio::sync::OnceCell;

use self::fixtures::FixtureCatalog;
use self::glue_model::Table;
pub use self::provider::LakeCatalogProvider;

/// The name clients connect to (`dbname=lake`) and DataFusion's catalog name.
pub const DATABASE_NAME: &str = "lake";

/// Schemas that always exist, as in PostgreSQL: the default search path points at `public`.
pub const PUBLIC_SCHEMA: &str = "public";

/// A table as the catalog describes it, with its Arrow schema resolved from the Glue types.
#[derive(Debug)]
pub struct TableEntry {
    pub glue: Table,
    /// Data columns, then partition keys (the order clients see).
    pub schema: SchemaRef,
    /// Column comments by column name.
    pub column_comments: HashMap<String, String>,
    provider: OnceCell<Arc<dyn TableProvider>>,
}

/// The shared catalog of one gateway: metadata plus lazily opened table providers.
#[derive(Debug)]
pub struct LakeCatalog {
    lake_root: PathBuf,
    listing_ttl: std::time::Duration,
    schemas: Vec<String>,
    tables: HashMap<(String, String), Arc<TableEntry>>,
    partitions: BTreeMap<(String, String), Vec<glue_model::Partition>>,
}

impl LakeCatalog {
    /// Builds the catalog from fixtures. A column type that cannot be read is an error naming
    /// the table and column, so a bad catalog fails at start rather than at query time.
    pub fn from_fixtures(fixtures: FixtureCatalog, lake_root: PathBuf) -> Result<Self, String> {
        let mut schemas: Vec<String> = fixtures.databases.iter().map(|d| d.name.clone()).collect();
        schemas.push(PUBLIC_SCHEMA.to_owned());
        schemas.sort();
        schemas.dedup();
        let mut partitions = fixtures.partitions;
        let mut tables = HashMap::new();
        for (key, table) in fixtures.tables {
            // Projected partitions are computed once, here, instead of being listed.
            let projected = projection::projected_partitions(&table)
                .map_err(|e| format!("table {}.{}: {e}", key.0, key.1))?;
            if let Some(projected) = projected {
                partitions.insert(key.clone(), projected);
            }
            tables.insert(key, Arc::new(table_entry(table)?));
        }
        Ok(Self {
            lake_root,
            listing_ttl: std::time::Duration::from_secs(30),
            schemas,
            tables,
            partitions,
        })
    }

    /// How long file listings of partitions are reused (0: list on every query).
    pub fn with_listing_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.listing_ttl = ttl;
        self
    }

    pub fn schema_names(&self) -> &[String] {
        &self.schemas
    }

    /// Tables of one schema, sorted.
    pub fn table_names(&self, schema: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .tables
            .keys()
            .filter(|(s, _)| s == schema)
            .map(|(_, t)| t.clone())
            .collect();
        names.sort();
        names
    }

    pub fn table(&self, schema: &str, table: &str) -> Option<Arc<TableEntry>> {
        self.tables
            .get(&(schema.to_owned(), table.to_owned()))
            .cloned()
    }

    /// The provider that reads a table, opened on first use and shared by all sessions.
    pub async fn provider(
        &self,
        schema: &str,
        table: &str,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(entry) = self.table(schema, table) else {
            return Ok(None);
        };
        let partitions = self
            .partitions
            .get(&(schema.to_owned(), table.to_owned()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let provider = entry
            .provider
            .get_or_try_init(|| tables::open(&entry, partitions, &self.lake_root, self.listing_ttl))
            .await?;
        Ok(Some(Arc::clone(provider)))
    }
}

fn table_entry(glue: Table) -> Result<TableEntry, String> {
    let name = format!("{}.{}", glue.database_name, glue.name);
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
                "table {name}, column {}: cannot read type {:?}: {e}",
                column.name, column.type_name
            )
        })?;
        fields.push(Field::new(&column.name, ty, true));
        if let Some(comment) = &column.comment {
            column_comments.insert(column.name.clone(), comment.clone());
        }
    }
    if glue.format().is_none() {
        return Err(format!(
            "table {name}: cannot tell its format from the catalog entry"
        ));
    }
    let schema = Arc::new(Schema::new(fields));
    Ok(TableEntry {
        glue,
        schema,
        column_comments,
        provider: OnceCell::new(),
    })
}

/// A catalog-level error about a table (its location, format or files).
pub(crate) fn table_error(entry: &TableEntry, message: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!(
        "table {}.{}: {message}",
        entry.glue.database_name, entry.glue.name
    ))
}
