//! The fixtures backend: the catalog as Glue API JSON files (`catalog-fixtures/`).
//!
//! Layout: `databases.json` (GetDatabases), `tables/<db>.json` (GetTables) and
//! `partitions/<db>/<table>.json` (GetPartitions). The demo catalog is compiled into the binary,
//! so `lakegate serve` works from any directory.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::glue_model::{
    Database, GetDatabasesOutput, GetPartitionsOutput, GetTablesOutput, Partition, Table,
};

/// Every database, table and partition of a fixtures catalog, read once.
#[derive(Debug, Clone, Default)]
pub struct FixtureCatalog {
    pub databases: Vec<Database>,
    /// Tables by (database, table).
    pub tables: BTreeMap<(String, String), Table>,
    /// Partitions by (database, table), for tables that have partition keys.
    pub partitions: BTreeMap<(String, String), Vec<Partition>>,
}

/// The demo catalog's files, embedded at build time.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "databases.json",
        include_str!("../../catalog-fixtures/databases.json"),
    ),
    (
        "tables/sales.json",
        include_str!("../../catalog-fixtures/tables/sales.json"),
    ),
    (
        "tables/web.json",
        include_str!("../../catalog-fixtures/tables/web.json"),
    ),
    (
        "tables/raw.json",
        include_str!("../../catalog-fixtures/tables/raw.json"),
    ),
    (
        "partitions/sales/orders.json",
        include_str!("../../catalog-fixtures/partitions/sales/orders.json"),
    ),
    (
        "partitions/raw/orders_csv.json",
        include_str!("../../catalog-fixtures/partitions/raw/orders_csv.json"),
    ),
];

/// Where fixture files are read from: the binary (the demo catalog) or a directory.
#[derive(Debug, Clone)]
pub enum FixtureFiles {
    Embedded,
    Dir(PathBuf),
}

impl FixtureFiles {
    /// A file's text, `None` when it does not exist.
    fn read(&self, path: &str) -> Result<Option<String>, String> {
        match self {
            FixtureFiles::Embedded => Ok(EMBEDDED
                .iter()
                .find(|(name, _)| *name == path)
                .map(|(_, text)| (*text).to_owned())),
            FixtureFiles::Dir(dir) => {
                let file = dir.join(path);
                match std::fs::read_to_string(&file) {
                    Ok(text) => Ok(Some(text)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(format!("cannot read {}: {e}", file.display())),
                }
            }
        }
    }

    pub fn databases(&self) -> Result<Vec<Database>, String> {
        let databases: GetDatabasesOutput =
            parse(self, "databases.json")?.ok_or("the catalog has no databases.json")?;
        Ok(databases.database_list)
    }

    /// The tables of one database, with `database_name` filled in.
    pub fn tables(&self, database: &str) -> Result<Vec<Table>, String> {
        let tables: GetTablesOutput =
            parse(self, &format!("tables/{database}.json"))?.unwrap_or_default();
        Ok(tables
            .table_list
            .into_iter()
            .map(|mut t| {
                t.database_name = database.to_owned();
                t
            })
            .collect())
    }

    pub fn partitions(&self, database: &str, table: &str) -> Result<Vec<Partition>, String> {
        let file = format!("partitions/{database}/{table}.json");
        let parts: GetPartitionsOutput = parse(self, &file)?.unwrap_or_default();
        Ok(parts.partitions)
    }
}

impl FixtureCatalog {
    /// The demo lake's catalog.
    pub fn embedded() -> Result<Self, String> {
        Self::load(&FixtureFiles::Embedded)
    }

    /// Every database, table and partition of a fixtures catalog.
    pub fn load(files: &FixtureFiles) -> Result<Self, String> {
        let mut catalog = FixtureCatalog::default();
        for db in files.databases()? {
            for table in files.tables(&db.name)? {
                let key = (db.name.clone(), table.name.clone());
                if !table.partition_keys.is_empty() {
                    let partitions = files.partitions(&db.name, &table.name)?;
                    catalog.partitions.insert(key.clone(), partitions);
                }
                catalog.tables.insert(key, table);
            }
            catalog.databases.push(db);
        }
        Ok(catalog)
    }

    pub fn table(&self, database: &str, table: &str) -> Option<&Table> {
        self.tables.get(&(database.to_owned(), table.to_owned()))
    }

    pub fn table_partitions(&self, database: &str, table: &str) -> &[Partition] {
        self.partitions
            .get(&(database.to_owned(), table.to_owned()))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    files: &FixtureFiles,
    path: &str,
) -> Result<Option<T>, String> {
    match files.read(path)? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("catalog file {path} is not valid Glue JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::glue_model::TableFormat;

    #[test]
    fn embedded_demo_catalog_has_the_design_tables() {
        let catalog = FixtureCatalog::embedded().unwrap();
        let formats: Vec<_> = [
            ("sales", "orders"),
            ("sales", "customers"),
            ("web", "events"),
            ("raw", "orders_csv"),
            ("raw", "clicks_json"),
        ]
        .iter()
        .map(|(db, t)| catalog.table(db, t).unwrap().format().unwrap())
        .collect();
        use TableFormat::*;
        assert_eq!(formats, [Parquet, Delta, Delta, Csv, Json]);
        assert_eq!(catalog.table_partitions("sales", "orders").len(), 731 * 4);
    }
}
