//! Catalog entries of what lakegate creates, in Glue's model: Delta tables as Athena and Glue
//! crawlers register them (`table_type=DELTA`, the table's directory as Location), views as
//! Glue stores them (TableType `VIRTUAL_VIEW`, the SQL in ViewOriginalText/ViewExpandedText).

use std::collections::HashMap;

use datafusion::arrow::datatypes::Schema;

use crate::catalog::glue_model::{
    Column, StorageDescriptor, Table, CREATOR_PARAMETER, MANAGED_PARAMETER, VIEW_TABLE_TYPE,
};

/// Where a new table's data goes: its own directory under the database's location, named
/// after the table plus a unique suffix, so a table renamed away never shares a directory
/// with a new table of its old name.
pub fn new_table_location(database_location: &str, table: &str) -> String {
    let unique = crate::session::query_id::new_id().replace('-', "");
    format!(
        "{}/{}_{}/",
        database_location.trim_end_matches('/'),
        path_safe(table),
        &unique[unique.len() - 12..]
    )
}

/// The default location of a database created by CREATE SCHEMA: the curated zone. Its
/// directory name is made path-safe; a unique suffix is not needed, as database names are
/// never reused while the database exists.
pub fn default_database_location(zone: &str, database: &str) -> String {
    format!("{}/{}/", zone.trim_end_matches('/'), path_safe(database))
}

/// A name as a directory name: letters, digits and `_` kept, anything else (`/`, `.`, quotes)
/// replaced, so a quoted SQL name such as `"../x"` cannot place data outside its parent.
fn path_safe(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    match safe.is_empty() {
        true => "_".to_owned(),
        false => safe,
    }
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
        (CREATOR_PARAMETER.to_owned(), owner.to_owned()),
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
        parameters: HashMap::from([(CREATOR_PARAMETER.to_owned(), owner.to_owned())]),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_leave_their_directory() {
        let location = new_table_location("curated/analytics", "../../etc/Passwd");
        assert!(
            location.starts_with("curated/analytics/______etc_passwd_"),
            "{location}"
        );
        assert_eq!(
            default_database_location("s3://b/curated/", "a/../b"),
            "s3://b/curated/a____b/"
        );
    }
}
