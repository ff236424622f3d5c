//! The writable catalog of the fixtures backend: databases and tables that lakegate creates
//! (CREATE SCHEMA, CTAS, CREATE VIEW) kept next to the lake in Glue's JSON shapes
//! (`<dir>/databases.json`, `<dir>/tables.json`), over a read-only backend whose own entries
//! cannot be changed.
//!
//! Every change rewrites the store file through a temporary file and a rename, so a change is
//! whole or absent after a crash: a rename is one replace of `tables.json`, never a create and a
//! delete that a crash could split. Changes are serialized within the process (a mutex) and
//! across gateways sharing the directory (a lock on `<dir>/.lock`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Mutex;

use super::{CatalogBackend, CatalogError, CatalogWriter};
use crate::catalog::glue_model::{Database, GetDatabasesOutput, GetTablesOutput, Partition, Table};

#[derive(Debug)]
pub struct LocalCatalogStore {
    inner: Arc<dyn CatalogBackend>,
    dir: PathBuf,
    /// Serializes read-modify-write cycles of the store files in this process.
    lock: Mutex<()>,
}

impl LocalCatalogStore {
    pub fn new(inner: Arc<dyn CatalogBackend>, dir: PathBuf) -> Self {
        Self {
            inner,
            dir,
            lock: Mutex::new(()),
        }
    }

    /// Holds the directory's lock file until dropped (another gateway may share the store).
    fn lock_dir(&self) -> Result<std::fs::File, CatalogError> {
        let fail =
            |e: std::io::Error| store_error(format!("cannot lock {}: {e}", self.dir.display()));
        std::fs::create_dir_all(&self.dir).map_err(fail)?;
        let file = std::fs::File::create(self.dir.join(".lock")).map_err(fail)?;
        file.lock().map_err(fail)?;
        Ok(file)
    }

    fn read_databases(&self) -> Result<Vec<Database>, CatalogError> {
        let file: Option<GetDatabasesOutput> = read_json(&self.dir.join("databases.json"))?;
        Ok(file.map(|f| f.database_list).unwrap_or_default())
    }

    fn read_tables(&self) -> Result<Vec<Table>, CatalogError> {
        let file: Option<GetTablesOutput> = read_json(&self.dir.join("tables.json"))?;
        Ok(file.map(|f| f.table_list).unwrap_or_default())
    }

    fn write_tables(&self, tables: Vec<Table>) -> Result<(), CatalogError> {
        let output = GetTablesOutput { table_list: tables };
        write_json(&self.dir, "tables.json", &output)
    }

    /// Whether the read-only backend defines this table (it cannot be changed here).
    async fn is_inner_table(&self, database: &str, name: &str) -> Result<bool, CatalogError> {
        let inner = self.inner.databases().await?;
        if !inner.iter().any(|d| d.name == database) {
            return Ok(false);
        }
        let tables = self.inner.tables(database).await?;
        Ok(tables.iter().any(|t| t.name == name))
    }

    async fn refuse_inner(&self, database: &str, name: &str) -> Result<(), CatalogError> {
        match self.is_inner_table(database, name).await? {
            true => Err(CatalogError::ReadOnly(format!(
                "{database}.{name} belongs to the read-only catalog files and cannot be changed"
            ))),
            false => Ok(()),
        }
    }
}

#[async_trait]
impl CatalogBackend for LocalCatalogStore {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn databases(&self) -> Result<Vec<Database>, CatalogError> {
        let mut databases = self.inner.databases().await?;
        for database in self.read_databases()? {
            if !databases.iter().any(|d| d.name == database.name) {
                databases.push(database);
            }
        }
        Ok(databases)
    }

    async fn tables(&self, database: &str) -> Result<Vec<Table>, CatalogError> {
        let mut tables = match self
            .inner
            .databases()
            .await?
            .iter()
            .any(|d| d.name == database)
        {
            true => self.inner.tables(database).await?,
            false => Vec::new(),
        };
        let own = self.read_tables()?;
        tables.extend(own.into_iter().filter(|t| t.database_name == database));
        Ok(tables)
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

    fn writer(&self) -> Option<&dyn CatalogWriter> {
        Some(self)
    }
}

#[async_trait]
impl CatalogWriter for LocalCatalogStore {
    async fn create_database(&self, database: Database) -> Result<(), CatalogError> {
        let _guard = self.lock.lock().await;
        let _locked = self.lock_dir()?;
        if self
            .databases()
            .await?
            .iter()
            .any(|d| d.name == database.name)
        {
            return Err(CatalogError::AlreadyExists {
                name: database.name,
            });
        }
        let mut databases = self.read_databases()?;
        databases.push(database);
        let output = GetDatabasesOutput {
            database_list: databases,
        };
        write_json(&self.dir, "databases.json", &output)
    }

    async fn create_table(&self, table: Table) -> Result<(), CatalogError> {
        let _guard = self.lock.lock().await;
        let _locked = self.lock_dir()?;
        let (database, name) = (table.database_name.clone(), table.name.clone());
        if self.tables(&database).await?.iter().any(|t| t.name == name) {
            return Err(CatalogError::AlreadyExists { name });
        }
        let mut tables = self.read_tables()?;
        tables.push(table);
        self.write_tables(tables)
    }

    async fn replace_table(&self, table: Table) -> Result<(), CatalogError> {
        let _guard = self.lock.lock().await;
        let _locked = self.lock_dir()?;
        self.refuse_inner(&table.database_name, &table.name).await?;
        let mut tables = self.read_tables()?;
        let slot = tables
            .iter_mut()
            .find(|t| t.database_name == table.database_name && t.name == table.name)
            .ok_or_else(|| CatalogError::NotFound {
                name: table.name.clone(),
            })?;
        *slot = table;
        self.write_tables(tables)
    }

    async fn rename_tables(
        &self,
        database: &str,
        renames: &[(String, String)],
    ) -> Result<(), CatalogError> {
        let _guard = self.lock.lock().await;
        let _locked = self.lock_dir()?;
        let mut names: Vec<String> = self
            .tables(database)
            .await?
            .into_iter()
            .map(|t| t.name)
            .collect();
        let mut tables = self.read_tables()?;
        for (from, to) in renames {
            self.refuse_inner(database, from).await?;
            if names.contains(to) {
                return Err(CatalogError::AlreadyExists { name: to.clone() });
            }
            let table = tables
                .iter_mut()
                .find(|t| t.database_name == database && &t.name == from)
                .ok_or_else(|| CatalogError::NotFound { name: from.clone() })?;
            table.name = to.clone();
            names.retain(|n| n != from);
            names.push(to.clone());
        }
        // One replace of the store file: all the renames, or none after a crash.
        self.write_tables(tables)
    }

    async fn delete_table(&self, database: &str, name: &str) -> Result<(), CatalogError> {
        let _guard = self.lock.lock().await;
        let _locked = self.lock_dir()?;
        self.refuse_inner(database, name).await?;
        let mut tables = self.read_tables()?;
        let before = tables.len();
        tables.retain(|t| !(t.database_name == database && t.name == name));
        if tables.len() == before {
            return Err(CatalogError::NotFound {
                name: name.to_owned(),
            });
        }
        self.write_tables(tables)
    }
}

fn store_error(detail: String) -> CatalogError {
    CatalogError::Unavailable {
        backend: "local",
        summary: "the catalog store cannot be read or written".to_owned(),
        detail,
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, CatalogError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| store_error(format!("{} is not valid Glue JSON: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(store_error(format!("cannot read {}: {e}", path.display()))),
    }
}

/// Replaces `dir/name` whole: written and synced under a temporary name, then renamed over it,
/// and the directory synced so the rename itself survives a crash.
fn write_json<T: serde::Serialize>(dir: &Path, name: &str, value: &T) -> Result<(), CatalogError> {
    use std::io::Write;
    let fail =
        |e: std::io::Error| store_error(format!("cannot write {}: {e}", dir.join(name).display()));
    std::fs::create_dir_all(dir).map_err(fail)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let temporary = dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| store_error(e.to_string()))?;
    let mut file = std::fs::File::create(&temporary).map_err(fail)?;
    file.write_all(&bytes).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&temporary, dir.join(name)).map_err(fail)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(fail)
}
