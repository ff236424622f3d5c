//! The fixtures backend: the catalog as Glue API JSON files (`catalog-fixtures/`).
//!
//! Layout: `databases.json` (GetDatabases), `tables/<db>.json` (GetTables) and
//! `partitions/<db>/<table>.json` (GetPartitions). The demo catalog is compiled into the binary,
//! so `lakegate serve` works from any directory.

use std::collections::BTreeMap;
use std::path::Path;

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

impl FixtureCatalog {
    /// The demo lake's catalog.
    pub fn embedded() -> Result<Self, String> {
        Self::load(|path| {
            Ok(EMBEDDED
                .iter()
                .find(|(name, _)| *name == path)
                .map(|(_, text)| (*text).to_owned()))
        })
    }

    /// A catalog from a directory laid out like `catalog-fixtures/`.
    pub fn from_dir(dir: &Path) -> Result<Self, String> {
        Self::load(|path| {
            let file = dir.join(path);
            match std::fs::read_to_string(&file) {
                Ok(text) => Ok(Some(text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(format!("cannot read {}: {e}", file.display())),
            }
        })
    }

    fn load(read: impl Fn(&str) -> Result<Option<String>, String>) -> Result<Self, String> {
        let databases: GetDatabasesOutput =
            parse(&read, "databases.json")?.ok_or("the catalog has no databases.json")?;
        let mut catalog = FixtureCatalog::default();
        for db in &databases.database_list {
            let tables: GetTablesOutput =
                parse(&read, &format!("tables/{}.json", db.name))?.unwrap_or_default();
            for mut table in tables.table_list {
                table.database_name = db.name.clone();
                let key = (db.name.clone(), table.name.clone());
                if !table.partition_keys.is_empty() {
                    let file = format!("partitions/{}/{}.json", db.name, table.name);
                    let parts: GetPartitionsOutput = parse(&read, &file)?.unwrap_or_default();
                    catalog.partitions.insert(key.clone(), parts.partitions);
                }
                catalog.tables.insert(key, table);
            }
        }
        catalog.databases = databases.database_list;
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
    read: &impl Fn(&str) -> Result<Option<String>, String>,
    path: &str,
) -> Result<Option<T>, String> {
    match read(path)? {
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
