//! The fixtures backend: Glue API JSON from `catalog-fixtures/` (embedded) or a directory, read
//! on each call so that a table or partition added to the directory appears once the caches'
//! TTL has passed, as with Glue.

use async_trait::async_trait;

use super::{CatalogBackend, CatalogError};
use crate::catalog::fixtures::FixtureFiles;
use crate::catalog::glue_model::{Database, Partition, Table};

#[derive(Debug)]
pub struct FixtureBackend {
    files: FixtureFiles,
}

impl FixtureBackend {
    pub fn new(files: FixtureFiles) -> Self {
        Self { files }
    }
}

/// A fixture file that cannot be read or parsed is the catalog failing, as Glue's errors are.
fn unavailable(detail: String) -> CatalogError {
    CatalogError::Unavailable {
        backend: "fixtures",
        summary: "a catalog file cannot be read".to_owned(),
        detail,
    }
}

#[async_trait]
impl CatalogBackend for FixtureBackend {
    fn kind(&self) -> &'static str {
        "fixtures"
    }

    async fn databases(&self) -> Result<Vec<Database>, CatalogError> {
        self.files.databases().map_err(unavailable)
    }

    async fn tables(&self, database: &str) -> Result<Vec<Table>, CatalogError> {
        self.files.tables(database).map_err(unavailable)
    }

    async fn partitions(
        &self,
        database: &str,
        table: &str,
        _expression: Option<&str>,
    ) -> Result<Vec<Partition>, CatalogError> {
        self.files.partitions(database, table).map_err(unavailable)
    }

    fn evaluates_expressions(&self) -> bool {
        false
    }
}
