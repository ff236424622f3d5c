//! Parquet, CSV and JSON tables whose partitions come from the catalog, not from listing the
//! bucket: partition values are typed from the catalog, a predicate on partition keys selects
//! partitions before any storage call, and only the selected partitions' locations are listed.
//! Locations may be anywhere (Glue allows partitions outside the table's prefix).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch};
use datafusion::arrow::datatypes::{FieldRef, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{project_schema, DFSchema, Result, ScalarValue};
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::helpers::expr_applicable_for_cols;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::transform_schema_to_view;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_datasource::compute_all_files_statistics;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;

use super::listing::ListingCache;
use super::report::{self, PartitionCounts, TableScan};
use crate::catalog::backend::CatalogError;

/// How the files of a table are decoded.
#[derive(Debug, Clone)]
pub enum FileKind {
    Parquet,
    Csv {
        delimiter: u8,
        quote: u8,
        has_header: bool,
    },
    Json,
}

/// One partition (or, for an unpartitioned table, the table itself): where its files are and
/// the typed values of the partition keys.
#[derive(Debug, Clone)]
pub struct PartitionLocation {
    pub store: ObjectStoreUrl,
    pub prefix: ObjectPath,
    pub values: Vec<ScalarValue>,
}

/// The partitions a scan may read, as the catalog returned them for its partition filters.
#[derive(Debug, Clone)]
pub struct Candidates {
    /// A superset of the matching partitions; the scan re-checks each one.
    pub partitions: Arc<Vec<PartitionLocation>>,
    /// All partitions of the table, when known without fetching them all.
    pub total: Option<usize>,
}

/// Where a table's partitions come from: the catalog (filtered by a GetPartitions expression),
/// Athena partition projection, or a single location for an unpartitioned table.
#[async_trait]
pub trait PartitionSource: std::fmt::Debug + Send + Sync {
    /// Candidate partitions for `filters`, each of which uses only partition keys.
    async fn candidates(&self, filters: &[Expr]) -> Result<Candidates>;
}

/// An unpartitioned table: one location.
#[derive(Debug)]
pub struct SingleLocation(pub Arc<Vec<PartitionLocation>>);

#[async_trait]
impl PartitionSource for SingleLocation {
    async fn candidates(&self, _filters: &[Expr]) -> Result<Candidates> {
        Ok(Candidates {
            partitions: Arc::clone(&self.0),
            total: None,
        })
    }
}

/// A table read from files under catalog-provided partition locations.
#[derive(Debug)]
pub struct PartitionedTable {
    /// `database.table`, for the scan report.
    name: String,
    file_schema: SchemaRef,
    partition_fields: Vec<FieldRef>,
    table_schema: SchemaRef,
    kind: FileKind,
    source: Arc<dyn PartitionSource>,
    listings: Arc<ListingCache>,
}

/// Listing calls in flight at once for one scan.
const LIST_CONCURRENCY: usize = 32;

impl PartitionedTable {
    pub fn new(
        name: String,
        file_schema: SchemaRef,
        partition_fields: Vec<FieldRef>,
        kind: FileKind,
        source: Arc<dyn PartitionSource>,
        listings: Arc<ListingCache>,
    ) -> Self {
        // Parquet strings and binaries are read as views, DataFusion's default: a view decodes
        // without copying each value into one buffer and compares by its inline prefix. TPC-H
        // through the gateway ran 1–3 % faster, Q1, Q12 and Q16 7–21 % (`benches/README.md`).
        // CSV, JSON and Delta keep plain types (no gain measured for Delta). The wire encoders,
        // masks, views and writes take either; joins with remote tables compare plain strings
        // (`federation::RemoteJoinKeys` says why).
        let file_schema = match kind {
            FileKind::Parquet => Arc::new(transform_schema_to_view(&file_schema)),
            FileKind::Csv { .. } | FileKind::Json => file_schema,
        };
        let fields = file_schema
            .fields()
            .iter()
            .cloned()
            .chain(partition_fields.iter().cloned());
        let table_schema = Arc::new(Schema::new(fields.collect::<Vec<_>>()));
        Self {
            name,
            file_schema,
            partition_fields,
            table_schema,
            kind,
            source,
            listings,
        }
    }

    fn partition_names(&self) -> Vec<&str> {
        self.partition_fields
            .iter()
            .map(|f| f.name().as_str())
            .collect()
    }

    /// The filters that use partition keys only.
    fn partition_filters(&self, filters: &[Expr]) -> Vec<Expr> {
        let names = self.partition_names();
        filters
            .iter()
            .filter(|e| !names.is_empty() && expr_applicable_for_cols(&names, e))
            .cloned()
            .collect()
    }

    /// The candidates whose values satisfy every partition filter.
    fn select_partitions<'a>(
        &self,
        state: &dyn Session,
        candidates: &'a [PartitionLocation],
        partition_filters: Vec<Expr>,
    ) -> Result<Vec<&'a PartitionLocation>> {
        let Some(predicate) = conjunction(partition_filters) else {
            return Ok(candidates.iter().collect());
        };
        // Evaluate the predicate once over a batch with one row per partition.
        let schema = Arc::new(Schema::new(self.partition_fields.clone()));
        let columns = (0..self.partition_fields.len())
            .map(|i| ScalarValue::iter_to_array(candidates.iter().map(|p| p.values[i].clone())))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
        let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
        let physical = state.create_physical_expr(predicate, &df_schema)?;
        let result = physical.evaluate(&batch)?.into_array(batch.num_rows())?;
        let keep = result
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| {
                datafusion::error::DataFusionError::Internal(
                    "partition predicate is not boolean".into(),
                )
            })?;
        Ok(candidates
            .iter()
            .enumerate()
            .filter(|(i, _)| keep.is_valid(*i) && keep.value(*i))
            .map(|(_, p)| p)
            .collect())
    }

    fn format(&self, state: &dyn Session) -> Arc<dyn FileFormat> {
        match &self.kind {
            FileKind::Parquet => Arc::new(
                ParquetFormat::default().with_options(state.table_options().parquet.clone()),
            ),
            FileKind::Csv {
                delimiter,
                quote,
                has_header,
            } => Arc::new(
                CsvFormat::default()
                    .with_has_header(*has_header)
                    .with_delimiter(*delimiter)
                    .with_quote(*quote),
            ),
            FileKind::Json => Arc::new(JsonFormat::default()),
        }
    }
}

#[async_trait]
impl TableProvider for PartitionedTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.table_schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Filters on partition keys alone are applied exactly by partition selection.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        let names = self.partition_names();
        Ok(filters
            .iter()
            .map(
                |e| match !names.is_empty() && expr_applicable_for_cols(&names, e) {
                    true => TableProviderFilterPushDown::Exact,
                    false => TableProviderFilterPushDown::Inexact,
                },
            )
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let partition_filters = self.partition_filters(filters);
        let candidates = self.source.candidates(&partition_filters).await?;
        let selected = self.select_partitions(state, &candidates.partitions, partition_filters)?;
        let matched = selected.len();
        let files = self.list_files(state, selected).await?;
        report::record(
            state,
            TableScan {
                table: self.name.clone(),
                delta_version: None,
                columns: report::projected_names(&self.table_schema, projection),
                partitions: (!self.partition_fields.is_empty()).then_some(PartitionCounts {
                    matched,
                    fetched: candidates.partitions.len(),
                    total: candidates.total,
                }),
                files: files.len(),
                files_total: None,
                bytes: files.iter().map(|f| f.object_meta.size).sum(),
                remote: None,
            },
        );
        let Some(store) = candidates.partitions.first().map(|p| p.store.clone()) else {
            return self.empty(projection);
        };
        if files.is_empty() {
            return self.empty(projection);
        }
        let format = self.format(state);
        let table_schema = TableSchema::builder(Arc::clone(&self.file_schema))
            .with_table_partition_cols(self.partition_fields.clone())
            .build();
        let source = format.file_source(table_schema);
        let files = self.with_statistics(state, &store, &format, files).await?;
        let groups = FileGroup::new(files).split_files(state.config().target_partitions());
        let (groups, statistics) = compute_all_files_statistics(
            groups,
            Arc::clone(&self.table_schema),
            state.config().collect_statistics(),
            false,
        )?;
        let config = FileScanConfigBuilder::new(store, source)
            .with_file_groups(groups)
            .with_statistics(statistics)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        format.create_physical_plan(state, config).await
    }
}

impl PartitionedTable {
    /// The data files of the selected partitions, listed concurrently (and cached).
    async fn list_files(
        &self,
        state: &dyn Session,
        selected: Vec<&PartitionLocation>,
    ) -> Result<Vec<PartitionedFile>> {
        // Owned partitions: a stream of borrowed ones trips a higher-ranked lifetime check in
        // the async trait method that awaits it.
        let owned: Vec<PartitionLocation> = selected.into_iter().cloned().collect();
        let listed: Vec<Vec<PartitionedFile>> = futures::stream::iter(owned)
            .map(|p| async move {
                let files = self.listings.files(state, &p).await?;
                Ok::<_, datafusion::error::DataFusionError>(
                    files
                        .iter()
                        .map(|m| {
                            PartitionedFile::new_from_meta(m.clone())
                                .with_partition_values(p.values.clone())
                        })
                        .collect::<Vec<_>>(),
                )
            })
            .buffered(LIST_CONCURRENCY)
            .try_collect()
            .await
            .map_err(|e| {
                CatalogError::Unreadable {
                    table: self.name.clone(),
                    problem: "its partitions' files cannot be listed".to_owned(),
                    detail: e.to_string(),
                }
                .into_datafusion()
            })?;
        Ok(listed.into_iter().flatten().collect())
    }

    /// Each file's row count and column ranges from its footer (through the runtime's
    /// metadata cache), as DataFusion's listing tables collect them: without them the
    /// optimizer cannot tell a small join side from a large one, and TPC-H Q2 and Q11 ran at
    /// half the speed of the same plan over Delta, whose log carries the statistics.
    async fn with_statistics(
        &self,
        state: &dyn Session,
        store: &ObjectStoreUrl,
        format: &Arc<dyn FileFormat>,
        files: Vec<PartitionedFile>,
    ) -> Result<Vec<PartitionedFile>> {
        if !state.config().collect_statistics() || !matches!(self.kind, FileKind::Parquet) {
            return Ok(files);
        }
        let store = state.runtime_env().object_store(store)?;
        let concurrency = state
            .config_options()
            .execution
            .meta_fetch_concurrency
            .get();
        futures::stream::iter(files)
            .map(|file| {
                let store = &store;
                async move {
                    let schema = Arc::clone(&self.file_schema);
                    let statistics = format
                        .infer_stats(state, store, schema, &file.object_meta)
                        .await?;
                    Ok::<_, datafusion::error::DataFusionError>(
                        file.with_statistics(Arc::new(statistics)),
                    )
                }
            })
            .buffered(concurrency)
            .try_collect()
            .await
    }

    fn empty(&self, projection: Option<&Vec<usize>>) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = project_schema(&self.table_schema, projection)?;
        Ok(Arc::new(EmptyExec::new(schema)))
    }
}
