//! Catalog entries of what lakegate creates, in Glue's model: Delta tables as Athena and Glue
//! crawlers register them (`table_type=DELTA`, the table's directory as Location), views as
//! Glue stores them (TableType `VIRTUAL_VIEW`, the SQL in ViewOriginalText/ViewExpandedText).

use std::collections::HashMap;

use datafusion::arrow::datatypes::Schema;

use crate::catalog::glue_model::{
    Column, StorageDescriptor, Table, MANAGED_PARAMETER, VIEW_TABLE_TYPE,
};

/// Where a new table's data goes: its own directory under the database's location, named
/// after the table plus a unique suffix, so a table renamed away never shares a directory
/// with a new table of its old name.
pub fn new_table_location(database_location: &str, table: &str) -> String {
    let unique = crate::session::query_id::new_id().replace('-', "");
    format!(
        "{}/{table}_{}/",
        database_location.trim_end_matches('/'),
        &unique[unique.len() - 12..]
    )
}

/// The default location of a database created by CREATE SCHEMA: the curated zone.
pub fn default_database_location(zone: &str, database: &str) -> String {
    format!("{}/{database}/", zone.trim_end_matches('/'))
}

fn columns(schema: &Schema) -> Result<Vec<Column>, String> {
    schema
        .fields()
        .iter()
        .map(|f| {
            Ok(Column {
                name: f.name().clone(),
                type_name: super::schema::glue_type(f.data_type())
                    .map_err(|e| format!("column \"{}\": {e}", f.name()))?,
                ..Column::default()
            })
        })
        .collect()
}

/// A Delta table lakegate wrote at `location`.
pub fn delta_table(
    (database, name): (&str, &str),
    schema: &Schema,
    location: &str,
    owner: &str,
) -> Result<Table, String> {
    let parameters = HashMap::from([
        ("table_type".to_owned(), "DELTA".to_owned()),
        ("spark.sql.sources.provider".to_owned(), "delta".to_owned()),
        (MANAGED_PARAMETER.to_owned(), "true".to_owned()),
    ]);
    Ok(Table {
        name: name.to_owned(),
        database_name: database.to_owned(),
        table_type: Some("EXTERNAL_TABLE".to_owned()),
        parameters,
        storage_descriptor: StorageDescriptor {
            columns: columns(schema)?,
            location: Some(location.to_owned()),
            ..StorageDescriptor::default()
        },
        owner: Some(owner.to_owned()),
        ..Table::default()
    })
}

/// A view over `sql`, with the columns its query produces.
pub fn view(
    (database, name): (&str, &str),
    schema: &Schema,
    sql: &str,
    owner: &str,
) -> Result<Table, String> {
    Ok(Table {
        name: name.to_owned(),
        database_name: database.to_owned(),
        table_type: Some(VIEW_TABLE_TYPE.to_owned()),
        storage_descriptor: StorageDescriptor {
            columns: columns(schema)?,
            ..StorageDescriptor::default()
        },
        owner: Some(owner.to_owned()),
        view_original_text: Some(sql.to_owned()),
        view_expanded_text: Some(sql.to_owned()),
        ..Table::default()
    })
}
