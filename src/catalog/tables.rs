//! From a catalog entry to the provider that reads the table: Delta tables through deltalake,
//! Parquet/CSV/JSON through [`PartitionedTable`] with the catalog's (or projected) partitions.

use std::sync::Arc;

use datafusion::arrow::datatypes::{FieldRef, Schema};
use datafusion::catalog::TableProvider;

use super::backend::CatalogError;
use super::glue_model::TableFormat;
use super::injected::InjectedPartitions;
use super::partitions::{CatalogPartitions, PartitionFetcher, ProjectedPartitions, TableKeys};
use super::TableEntry;
use crate::scan::delta::OpenFault;
use crate::scan::listing::ListingCache;
use crate::scan::partitioned::{
    FileKind, PartitionLocation, PartitionSource, PartitionedTable, SingleLocation,
};
use crate::scan::stores::ObjectStores;

/// What opening a table needs from the catalog.
#[derive(Debug, Clone)]
pub(super) struct OpenContext {
    pub stores: Arc<ObjectStores>,
    pub fetcher: PartitionFetcher,
    pub listings: Arc<ListingCache>,
    pub federation: Arc<crate::federation::Federation>,
}

/// Opens a Delta table's latest snapshot.
pub(super) async fn open_delta(
    entry: &TableEntry,
    stores: &ObjectStores,
) -> Result<Arc<dyn TableProvider>, CatalogError> {
    let location = entry.resolve_location(stores)?;
    let table = crate::scan::delta::open(entry.qualified_name(), stores, &location)
        .await
        .map_err(|e| {
            let table = entry.qualified_name();
            let detail = e.detail;
            match e.fault {
                OpenFault::Missing => CatalogError::Missing {
                    table,
                    problem: "no Delta log at its location".to_owned(),
                    detail,
                },
                OpenFault::Corrupt => CatalogError::Corrupt {
                    table,
                    problem: "its Delta log is corrupt".to_owned(),
                    detail,
                },
                OpenFault::Unreadable => CatalogError::Unreadable {
                    table,
                    problem: "its Delta log cannot be read".to_owned(),
                    detail,
                },
            }
        })?;
    Ok(Arc::new(table))
}

/// Opens a Parquet, CSV or JSON table.
pub(super) fn open_files(
    entry: &TableEntry,
    context: &OpenContext,
) -> Result<Arc<dyn TableProvider>, CatalogError> {
    let kind = match entry.glue.format() {
        Some(TableFormat::Parquet) => FileKind::Parquet,
        Some(TableFormat::Json) => FileKind::Json,
        Some(TableFormat::Csv) => csv_kind(entry),
        Some(TableFormat::Delta | TableFormat::Remote) | None => {
            return Err(entry.bad("unknown file format".into()))
        }
    };
    let key_count = entry.glue.partition_keys.len();
    let data_count = entry.schema.fields().len() - key_count;
    let file_schema = Arc::new(Schema::new(entry.schema.fields()[..data_count].to_vec()));
    let key_fields: Vec<FieldRef> = entry.schema.fields()[data_count..].to_vec();
    let source = partition_source(entry, context, key_fields.clone())?;
    // Fresh-read tables gain files at any moment: their listings are never reused.
    let listings = match is_fresh_read(entry) {
        true => Arc::new(ListingCache::new(std::time::Duration::ZERO)),
        false => Arc::clone(&context.listings),
    };
    Ok(Arc::new(PartitionedTable::new(
        entry.qualified_name(),
        file_schema,
        key_fields,
        kind,
        source,
        listings,
    )))
}

/// Tables lakegate writes itself while serving (the audit tables).
pub(super) fn is_fresh_read(entry: &TableEntry) -> bool {
    entry
        .glue
        .parameters
        .contains_key(crate::audit::lake::AUDIT_TABLE_PARAMETER)
}

fn partition_source(
    entry: &TableEntry,
    context: &OpenContext,
    fields: Vec<FieldRef>,
) -> Result<Arc<dyn PartitionSource>, CatalogError> {
    if fields.is_empty() {
        let location = entry.resolve_location(&context.stores)?;
        return Ok(Arc::new(SingleLocation(Arc::new(vec![
            PartitionLocation {
                store: location.store,
                prefix: location.prefix,
                values: Vec::new(),
            },
        ]))));
    }
    let keys = TableKeys {
        database: entry.glue.database_name.clone(),
        table: entry.glue.name.clone(),
        fields,
    };
    let injected = super::projection::injected_keys(&entry.glue);
    if !injected.is_empty() {
        return Ok(Arc::new(InjectedPartitions {
            table: entry.glue.clone(),
            keys,
            injected,
            stores: Arc::clone(&context.stores),
        }));
    }
    // Projected partitions are computed once per table version instead of being fetched.
    match super::projection::projected_partitions(&entry.glue).map_err(|e| entry.bad(e))? {
        Some(projected) => {
            let locations = keys.locations(&context.stores, &projected)?;
            Ok(Arc::new(ProjectedPartitions(Arc::new(locations))))
        }
        None => Ok(Arc::new(CatalogPartitions {
            fetcher: context.fetcher.clone(),
            keys,
        })),
    }
}

/// CSV options from the SerDe: delimiter (`field.delim` / `separatorChar`), quote
/// (`quoteChar`), and whether a header line is skipped (`skip.header.line.count`).
fn csv_kind(entry: &TableEntry) -> FileKind {
    let first_byte = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| entry.glue.serde_param(k))
            .and_then(|d| d.bytes().next())
    };
    let skip = entry
        .glue
        .serde_param("skip.header.line.count")
        .unwrap_or("0");
    FileKind::Csv {
        delimiter: first_byte(&["field.delim", "separatorChar"]).unwrap_or(b','),
        quote: first_byte(&["quoteChar"]).unwrap_or(b'"'),
        has_header: skip.trim() != "0",
    }
}
