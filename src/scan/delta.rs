//! Delta tables, read through deltalake's scan provider (log replay, partition and statistics
//! skipping, deletion vectors).

use std::path::Path;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use deltalake::delta_datafusion::{DeltaScanConfig, DeltaScanNext};

/// Opens the latest version of the Delta table in `dir`.
///
/// deltalake by default returns strings as `Utf8View` and wraps partition values in
/// dictionaries; both are turned off so that the columns have the plain types the catalog
/// reports (and that every PostgreSQL encoder handles).
pub async fn open(dir: &Path) -> Result<Arc<dyn TableProvider>, String> {
    let dir =
        std::fs::canonicalize(dir).map_err(|e| format!("cannot open the Delta table: {e}"))?;
    let url =
        url::Url::from_directory_path(&dir).map_err(|()| "invalid Delta table path".to_owned())?;
    let table = deltalake::open_table(url)
        .await
        .map_err(|e| e.to_string())?;
    let snapshot = table
        .snapshot()
        .map_err(|e| e.to_string())?
        .snapshot()
        .clone();
    let config = DeltaScanConfig {
        wrap_partition_values: false,
        schema_force_view_types: false,
        ..DeltaScanConfig::new()
    };
    let scan = DeltaScanNext::new(snapshot, config).map_err(|e| e.to_string())?;
    Ok(Arc::new(scan))
}
