//! Delta tables, read through deltalake's scan provider (log replay, partition values and file
//! statistics for skipping, deletion vectors). One opened snapshot serves all sessions until the
//! catalog's cache lets it expire; then the log is read again and a new version is picked up.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use deltalake::delta_datafusion::{DeltaScanConfig, DeltaScanNext};
use deltalake::DeltaTableBuilder;

use super::report::{self, files_in_plan, TableScan};
use super::stores::{ObjectStores, ResolvedLocation};

/// One version of a Delta table.
#[derive(Debug)]
pub struct DeltaSnapshotTable {
    name: String,
    version: u64,
    files_total: usize,
    scan: DeltaScanNext,
}

/// Opens the latest version of the Delta table at `location`, with the store registered for it
/// (so the log is read through the same client, endpoint and credentials as the data files).
///
/// deltalake by default returns strings as `Utf8View` and wraps partition values in
/// dictionaries; both are turned off so that the columns have the plain types the catalog
/// reports (and that every PostgreSQL encoder handles).
pub async fn open(
    name: String,
    stores: &ObjectStores,
    location: &ResolvedLocation,
) -> Result<DeltaSnapshotTable, String> {
    // Registered stores are rooted at the bucket (or `/`), as deltalake expects of a backend.
    let root = stores.store(location).map_err(|e| e.to_string())?;
    let table = DeltaTableBuilder::from_url(location.url.clone())
        .map_err(|e| e.to_string())?
        .with_storage_backend(root, location.url.clone())
        .load()
        .await
        .map_err(|e| e.to_string())?;
    let state = table.snapshot().map_err(|e| e.to_string())?;
    let config = DeltaScanConfig {
        wrap_partition_values: false,
        schema_force_view_types: false,
        ..DeltaScanConfig::new()
    };
    let scan = DeltaScanNext::new(state.snapshot().clone(), config).map_err(|e| e.to_string())?;
    Ok(DeltaSnapshotTable {
        name,
        version: state.version(),
        files_total: state.log_data().num_files(),
        scan,
    })
}

impl DeltaSnapshotTable {
    /// The Delta version this snapshot is of.
    pub fn version(&self) -> u64 {
        self.version
    }
}

#[async_trait]
impl TableProvider for DeltaSnapshotTable {
    fn schema(&self) -> SchemaRef {
        self.scan.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.scan.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self.scan.scan(state, projection, filters, limit).await?;
        let (files, bytes) = files_in_plan(&plan);
        report::record(
            state,
            TableScan {
                table: self.name.clone(),
                delta_version: i64::try_from(self.version).ok(),
                columns: report::projected_names(&self.schema(), projection),
                partitions: None,
                files,
                files_total: Some(self.files_total),
                bytes,
                remote: None,
            },
        );
        Ok(plan)
    }
}
