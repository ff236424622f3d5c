//! The AWS Glue Data Catalog's data model, in the JSON shapes of its API responses
//! (GetDatabases, GetTables, GetPartitions). The fixtures backend reads these from disk.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetDatabasesOutput {
    pub database_list: Vec<Database>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Database {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub location_uri: Option<String>,
    #[serde(default)]
    pub parameters: HashMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTablesOutput {
    pub table_list: Vec<Table>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Table {
    pub name: String,
    #[serde(default)]
    pub database_name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub table_type: Option<String>,
    #[serde(default)]
    pub parameters: HashMap<String, String>,
    #[serde(default)]
    pub storage_descriptor: StorageDescriptor,
    #[serde(default)]
    pub partition_keys: Vec<Column>,
    /// Who created the table (Glue's `Owner`); creators get full access to what they made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// A view's SQL as its creator wrote it (tables have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_original_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_expanded_text: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StorageDescriptor {
    #[serde(default)]
    pub columns: Vec<Column>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub input_format: Option<String>,
    #[serde(default)]
    pub output_format: Option<String>,
    #[serde(default)]
    pub serde_info: Option<SerDeInfo>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SerDeInfo {
    #[serde(default)]
    pub serialization_library: Option<String>,
    #[serde(default)]
    pub parameters: HashMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Column {
    pub name: String,
    #[serde(rename = "Type")]
    pub type_name: String,
    #[serde(default)]
    pub comment: Option<String>,
    /// Column parameters; `lf_tag.*` keys are tags for tag-based grants.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub parameters: HashMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPartitionsOutput {
    pub partitions: Vec<Partition>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Partition {
    pub values: Vec<String>,
    #[serde(default)]
    pub storage_descriptor: StorageDescriptor,
}

/// How a table's files are read, decided from the catalog entry the way Athena decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Parquet,
    Csv,
    Json,
    Delta,
    /// A table of an operational database, read through a federated connection.
    Remote,
}

/// Glue's table type of a view.
pub const VIEW_TABLE_TYPE: &str = "VIRTUAL_VIEW";

/// A table parameter marking data that lakegate wrote and owns: dropping the table deletes it.
pub const MANAGED_PARAMETER: &str = "lakegate.managed";

/// A table parameter naming the principal who created the table or view through lakegate.
pub const CREATOR_PARAMETER: &str = "lakegate.created_by";

impl Table {
    /// Whether this entry is a view (its rows come from its SQL, not from files).
    pub fn is_view(&self) -> bool {
        self.table_type.as_deref() == Some(VIEW_TABLE_TYPE)
    }

    /// Who created the table through lakegate, if lakegate did.
    pub fn created_by(&self) -> Option<&str> {
        self.parameters.get(CREATOR_PARAMETER).map(String::as_str)
    }

    /// Whether lakegate wrote the table's data (so it also deletes it).
    pub fn is_managed(&self) -> bool {
        self.parameters.get(MANAGED_PARAMETER).map(String::as_str) == Some("true")
    }

    /// The federated connection a table of an operational database is read through (the
    /// parameter Glue's JDBC crawler writes).
    pub fn connection_name(&self) -> Option<&str> {
        self.parameters.get("connectionName").map(String::as_str)
    }

    /// Remote when the table names a connection; Delta when the table says so; otherwise from
    /// `classification`, then the SerDe / InputFormat.
    pub fn format(&self) -> Option<TableFormat> {
        if self.connection_name().is_some() {
            return Some(TableFormat::Remote);
        }
        let param = |k: &str| self.parameters.get(k).map(|v| v.to_ascii_lowercase());
        if param("table_type").as_deref() == Some("delta")
            || param("spark.sql.sources.provider").as_deref() == Some("delta")
        {
            return Some(TableFormat::Delta);
        }
        match param("classification").as_deref() {
            Some("parquet") => return Some(TableFormat::Parquet),
            Some("csv") => return Some(TableFormat::Csv),
            Some("json") => return Some(TableFormat::Json),
            _ => {}
        }
        let sd = &self.storage_descriptor;
        let serde_lib = sd
            .serde_info
            .as_ref()
            .and_then(|s| s.serialization_library.as_deref());
        let hints = [serde_lib, sd.input_format.as_deref()];
        let has = |needle: &str| {
            hints
                .iter()
                .flatten()
                .any(|h| h.to_ascii_lowercase().contains(needle))
        };
        if has("parquet") {
            Some(TableFormat::Parquet)
        } else if has("json") {
            Some(TableFormat::Json)
        } else if has("lazysimpleserde") || has("opencsvserde") || has("textinputformat") {
            Some(TableFormat::Csv)
        } else {
            None
        }
    }

    /// A SerDe (or table) parameter such as `field.delim` or `skip.header.line.count`.
    pub fn serde_param(&self, key: &str) -> Option<&str> {
        let sd = self.storage_descriptor.serde_info.as_ref();
        sd.and_then(|s| s.parameters.get(key))
            .or_else(|| self.parameters.get(key))
            .map(String::as_str)
    }
}
