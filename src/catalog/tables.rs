//! From a catalog entry to the provider that reads the table: Delta tables through deltalake,
//! Parquet/CSV/JSON through [`PartitionedTable`] with the catalog's partitions.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::{FieldRef, Schema};
use datafusion::catalog::TableProvider;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::execution::object_store::ObjectStoreUrl;
use object_store::path::Path as ObjectPath;

use super::glue_model::{Partition, TableFormat};
use super::{table_error, TableEntry};
use crate::scan::listing::ListingCache;
use crate::scan::partitioned::{FileKind, PartitionLocation, PartitionedTable};

/// Opens the provider for one table.
pub(super) async fn open(
    entry: &TableEntry,
    partitions: &[Partition],
    lake_root: &Path,
    listing_ttl: std::time::Duration,
) -> Result<Arc<dyn TableProvider>> {
    let location = entry
        .glue
        .storage_descriptor
        .location
        .as_deref()
        .ok_or_else(|| table_error(entry, "the catalog entry has no Location"))?;
    let format = entry
        .glue
        .format()
        .ok_or_else(|| table_error(entry, "unknown format"))?;
    let kind = match format {
        TableFormat::Delta => {
            let dir = local_dir(entry, lake_root, location)?;
            return crate::scan::delta::open(&dir)
                .await
                .map_err(|e| table_error(entry, e));
        }
        TableFormat::Parquet => FileKind::Parquet,
        TableFormat::Json => FileKind::Json,
        TableFormat::Csv => csv_kind(entry),
    };
    let key_count = entry.glue.partition_keys.len();
    let data_count = entry.schema.fields().len() - key_count;
    let file_schema = Arc::new(Schema::new(entry.schema.fields()[..data_count].to_vec()));
    let key_fields: Vec<FieldRef> = entry.schema.fields()[data_count..].to_vec();
    let locations = if key_count == 0 {
        vec![partition_location(entry, lake_root, location, vec![])?]
    } else {
        partitions
            .iter()
            .map(|p| partition_values(entry, &key_fields, p, lake_root))
            .collect::<Result<Vec<_>>>()?
    };
    let listings = Arc::new(ListingCache::new(listing_ttl));
    Ok(Arc::new(PartitionedTable::new(
        file_schema,
        key_fields,
        kind,
        locations,
        listings,
    )))
}

fn csv_kind(entry: &TableEntry) -> FileKind {
    let delimiter = entry
        .glue
        .serde_param("field.delim")
        .and_then(|d| d.bytes().next())
        .unwrap_or(b',');
    let skip = entry
        .glue
        .serde_param("skip.header.line.count")
        .unwrap_or("0");
    FileKind::Csv {
        delimiter,
        has_header: skip.trim() != "0",
    }
}

fn partition_values(
    entry: &TableEntry,
    key_fields: &[FieldRef],
    partition: &Partition,
    lake_root: &Path,
) -> Result<PartitionLocation> {
    if partition.values.len() != key_fields.len() {
        return Err(table_error(
            entry,
            "a partition's values do not match the partition keys",
        ));
    }
    let values = key_fields
        .iter()
        .zip(&partition.values)
        .map(|(field, value)| {
            ScalarValue::try_from_string(value.clone(), field.data_type()).map_err(|_| {
                table_error(
                    entry,
                    format!(
                        "partition value {value:?} is not a valid {}",
                        field.data_type()
                    ),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let location = partition
        .storage_descriptor
        .location
        .as_deref()
        .ok_or_else(|| table_error(entry, "a partition has no Location"))?;
    partition_location(entry, lake_root, location, values)
}

fn partition_location(
    entry: &TableEntry,
    lake_root: &Path,
    location: &str,
    values: Vec<ScalarValue>,
) -> Result<PartitionLocation> {
    let dir = local_dir(entry, lake_root, location)?;
    let prefix = ObjectPath::from_absolute_path(&dir)
        .map_err(|e| table_error(entry, format!("invalid location: {e}")))?;
    Ok(PartitionLocation {
        store: ObjectStoreUrl::local_filesystem(),
        prefix,
        values,
    })
}

/// A location relative to the lake root. Object-store URLs arrive with the Glue backend.
fn local_dir(entry: &TableEntry, lake_root: &Path, location: &str) -> Result<std::path::PathBuf> {
    if location.contains("://") {
        return Err(table_error(
            entry,
            "locations with a URL scheme need the Glue/S3 backend",
        ));
    }
    let root = std::path::absolute(lake_root).map_err(|e| table_error(entry, e))?;
    Ok(root.join(location.trim_start_matches('/')))
}
