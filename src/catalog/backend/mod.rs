//! Where catalog metadata comes from. Two backends answer the same three questions in the Glue
//! data model: the embedded or on-disk fixtures, and the AWS Glue Data Catalog API.

mod extra;
mod fixtures;
mod glue;
mod glue_write;
mod local;

use std::fmt::Debug;

use async_trait::async_trait;

use super::glue_model::{Database, Partition, Table};
pub use extra::WithExtraTables;
pub use fixtures::FixtureBackend;
pub use glue::{GlueBackend, GlueSettings};
pub use local::LocalCatalogStore;

/// A source of databases, tables and partitions.
#[async_trait]
pub trait CatalogBackend: Debug + Send + Sync {
    /// Names the backend in messages ("Glue", "fixtures").
    fn kind(&self) -> &'static str;

    async fn databases(&self) -> Result<Vec<Database>, CatalogError>;

    /// The tables of one database, with `database_name` filled in.
    async fn tables(&self, database: &str) -> Result<Vec<Table>, CatalogError>;

    /// The partitions of a table that match a GetPartitions `Expression` (all when `None`).
    /// A backend that cannot evaluate expressions returns all partitions; the scan re-checks
    /// every partition locally either way.
    async fn partitions(
        &self,
        database: &str,
        table: &str,
        expression: Option<&str>,
    ) -> Result<Vec<Partition>, CatalogError>;

    /// Whether `partitions` filters by the expression on the catalog's side.
    fn evaluates_expressions(&self) -> bool;

    /// A connection's properties (Glue's `ConnectionProperties`, passwords hidden), for
    /// federated tables; `None` when the catalog has no connection of that name.
    async fn connection(
        &self,
        _name: &str,
    ) -> Result<Option<std::collections::HashMap<String, String>>, CatalogError> {
        Ok(None)
    }

    /// Where databases and tables are created, renamed and dropped; `None` for a read-only
    /// catalog.
    fn writer(&self) -> Option<&dyn CatalogWriter> {
        None
    }
}

/// Changes to the catalog, each one atomic: a reader sees a table before or after it, never
/// half of it. Names are as stored (lower case, as Glue keeps them).
#[async_trait]
pub trait CatalogWriter: Debug + Send + Sync {
    async fn create_database(&self, database: Database) -> Result<(), CatalogError>;

    /// Fails with [`CatalogError::AlreadyExists`] when the name is taken.
    async fn create_table(&self, table: Table) -> Result<(), CatalogError>;

    /// Replaces an existing table's definition (CREATE OR REPLACE VIEW).
    async fn replace_table(&self, table: Table) -> Result<(), CatalogError>;

    /// One rename (as [`Self::rename_tables`] with one pair).
    async fn rename_table(&self, database: &str, from: &str, to: &str) -> Result<(), CatalogError> {
        let renames = [(from.to_owned(), to.to_owned())];
        self.rename_tables(database, &renames).await
    }

    /// Several renames in one database, applied in order as one change where the catalog can
    /// (dbt swaps a model for its new version with two renames in one transaction).
    async fn rename_tables(
        &self,
        database: &str,
        renames: &[(String, String)],
    ) -> Result<(), CatalogError>;

    async fn delete_table(&self, database: &str, name: &str) -> Result<(), CatalogError>;
}

/// Catalog failures, as clients see them.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CatalogError {
    /// The catalog did not answer, or answered with an error that is not about the request.
    /// `detail` goes to the log only (it may hold endpoints and account ids).
    #[error("the {backend} catalog is unavailable ({summary}); try again later")]
    Unavailable {
        backend: &'static str,
        summary: String,
        detail: String,
    },
    /// The catalog answered but an entry cannot be used (bad type, format or location).
    #[error("table {table}: {problem}")]
    BadTable { table: String, problem: String },
    /// A table's data cannot be read (storage refused, a file is corrupt).
    #[error("table {table} cannot be read: {problem}")]
    Unreadable {
        table: String,
        problem: String,
        detail: String,
    },
    /// A table's Delta log or data files are not where the catalog says.
    #[error("table {table} cannot be read: {problem}")]
    Missing {
        table: String,
        problem: String,
        detail: String,
    },
    /// A table's Delta log is there but cannot be made sense of (not JSON, actions missing).
    #[error("table {table} cannot be read: {problem}")]
    Corrupt {
        table: String,
        problem: String,
        detail: String,
    },
    /// A create found the name taken (another session won the race).
    #[error("relation \"{name}\" already exists")]
    AlreadyExists { name: String },
    /// A rename or drop did not find what it changes.
    #[error("relation \"{name}\" does not exist")]
    NotFound { name: String },
    /// This catalog cannot change the object (the embedded demo catalog's own tables).
    #[error("{0}")]
    ReadOnly(String),
}

impl CatalogError {
    /// The full story, for the log.
    pub fn log_detail(&self) -> &str {
        match self {
            CatalogError::Unavailable { detail, .. }
            | CatalogError::Unreadable { detail, .. }
            | CatalogError::Missing { detail, .. }
            | CatalogError::Corrupt { detail, .. } => detail,
            CatalogError::BadTable { problem, .. } => problem,
            CatalogError::AlreadyExists { name } | CatalogError::NotFound { name } => name,
            CatalogError::ReadOnly(message) => message,
        }
    }

    pub fn into_datafusion(self) -> datafusion::error::DataFusionError {
        datafusion::error::DataFusionError::External(Box::new(self))
    }
}
