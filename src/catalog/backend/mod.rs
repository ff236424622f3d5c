//! Where catalog metadata comes from. Two backends answer the same three questions in the Glue
//! data model: the embedded or on-disk fixtures, and the AWS Glue Data Catalog API.

mod extra;
mod fixtures;
mod glue;

use std::fmt::Debug;

use async_trait::async_trait;

use super::glue_model::{Database, Partition, Table};
pub use extra::WithExtraTables;
pub use fixtures::FixtureBackend;
pub use glue::{GlueBackend, GlueSettings};

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
}

impl CatalogError {
    /// The full story, for the log.
    pub fn log_detail(&self) -> &str {
        match self {
            CatalogError::Unavailable { detail, .. }
            | CatalogError::Unreadable { detail, .. }
            | CatalogError::Missing { detail, .. } => detail,
            CatalogError::BadTable { problem, .. } => problem,
        }
    }

    pub fn into_datafusion(self) -> datafusion::error::DataFusionError {
        datafusion::error::DataFusionError::External(Box::new(self))
    }
}
