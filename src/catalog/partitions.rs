//! Partitions from the catalog, for scans: predicates on partition keys become a GetPartitions
//! `Expression`, the answer is cached (moka, TTL, bounded by partition count), and Athena
//! partition projection computes partitions without asking the catalog at all.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::datatypes::FieldRef;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use moka::future::Cache;

use super::backend::{CatalogBackend, CatalogError};
use super::glue_expression::to_glue_expression;
use super::glue_model::Partition;
use crate::scan::partitioned::{Candidates, PartitionLocation, PartitionSource};
use crate::scan::stores::ObjectStores;

/// (database, table, expression) → the partitions the catalog returned.
type PartitionKey = (String, String, Option<String>);

/// Upper bound on cached partitions, over all tables and expressions.
const MAX_CACHED_PARTITIONS: u64 = 5_000_000;

/// Fetches and caches partitions for every table of one catalog.
#[derive(Debug, Clone)]
pub struct PartitionFetcher {
    backend: Arc<dyn CatalogBackend>,
    stores: Arc<ObjectStores>,
    cache: Cache<PartitionKey, Arc<Vec<PartitionLocation>>>,
}

impl PartitionFetcher {
    pub fn new(backend: Arc<dyn CatalogBackend>, stores: Arc<ObjectStores>, ttl: Duration) -> Self {
        let cache = Cache::builder()
            .max_capacity(MAX_CACHED_PARTITIONS)
            .weigher(|_, v: &Arc<Vec<PartitionLocation>>| {
                u32::try_from(v.len()).unwrap_or(u32::MAX).max(1)
            })
            .time_to_live(ttl.max(Duration::from_millis(1)))
            .build();
        Self {
            backend,
            stores,
            cache,
        }
    }

    /// Partitions for an expression; concurrent requests for the same key share one fetch, and
    /// failures are not cached.
    async fn fetch(
        &self,
        table: &TableKeys,
        expression: Option<String>,
    ) -> Result<Arc<Vec<PartitionLocation>>, CatalogError> {
        let key = (table.database.clone(), table.table.clone(), expression);
        let fetch = async {
            let partitions = self
                .backend
                .partitions(&key.0, &key.1, key.2.as_deref())
                .await?;
            table.locations(&self.stores, &partitions).map(Arc::new)
        };
        crate::ops::metrics::metrics()
            .cached(&self.cache, "partitions", key.clone(), fetch)
            .await
            .map_err(|e| (*e).clone())
    }

    /// The cached count of all partitions of a table, if an unfiltered fetch is cached.
    async fn cached_total(&self, table: &TableKeys) -> Option<usize> {
        let key = (table.database.clone(), table.table.clone(), None);
        self.cache.get(&key).await.map(|all| all.len())
    }
}

/// A table's identity and typed partition keys.
#[derive(Debug, Clone)]
pub struct TableKeys {
    pub database: String,
    pub table: String,
    pub fields: Vec<FieldRef>,
}

impl TableKeys {
    fn qualified(&self) -> String {
        format!("{}.{}", self.database, self.table)
    }

    /// Catalog partitions → typed values and resolved locations.
    pub fn locations(
        &self,
        stores: &ObjectStores,
        partitions: &[Partition],
    ) -> Result<Vec<PartitionLocation>, CatalogError> {
        partitions
            .iter()
            .map(|p| self.location(stores, p))
            .collect()
    }

    fn location(
        &self,
        stores: &ObjectStores,
        partition: &Partition,
    ) -> Result<PartitionLocation, CatalogError> {
        let bad = |problem: String| CatalogError::BadTable {
            table: self.qualified(),
            problem,
        };
        if partition.values.len() != self.fields.len() {
            return Err(bad(
                "a partition's values do not match the partition keys".into()
            ));
        }
        let values = self
            .fields
            .iter()
            .zip(&partition.values)
            .map(|(field, value)| partition_value(field, value).map_err(bad))
            .collect::<Result<Vec<_>, _>>()?;
        let location = partition
            .storage_descriptor
            .location
            .as_deref()
            .ok_or_else(|| bad("a partition has no Location".into()))?;
        let resolved = stores
            .resolve(location)
            .map_err(|e| bad(format!("a partition location is not usable: {e}")))?;
        Ok(PartitionLocation {
            store: resolved.store,
            prefix: resolved.prefix,
            values,
        })
    }
}

/// A partition value string as the key's type. Hive writes `__HIVE_DEFAULT_PARTITION__` for NULL.
fn partition_value(field: &FieldRef, value: &str) -> Result<ScalarValue, String> {
    if value == "__HIVE_DEFAULT_PARTITION__" {
        return ScalarValue::try_from(field.data_type()).map_err(|e| e.to_string());
    }
    ScalarValue::try_from_string(value.to_owned(), field.data_type()).map_err(|_| {
        format!(
            "partition value {value:?} of key {} is not a valid {}",
            field.name(),
            field.data_type()
        )
    })
}

/// Partitions of a catalog table, fetched per scan for the scan's partition predicates.
#[derive(Debug)]
pub struct CatalogPartitions {
    pub fetcher: PartitionFetcher,
    pub keys: TableKeys,
}

#[async_trait]
impl PartitionSource for CatalogPartitions {
    async fn candidates(&self, filters: &[Expr]) -> Result<Candidates> {
        let expression = if self.fetcher.backend.evaluates_expressions() {
            let names: Vec<&str> = self.keys.fields.iter().map(|f| f.name().as_str()).collect();
            to_glue_expression(filters, &names)
        } else {
            None
        };
        let unfiltered = expression.is_none();
        let partitions = self
            .fetcher
            .fetch(&self.keys, expression)
            .await
            .map_err(CatalogError::into_datafusion)?;
        let total = match unfiltered {
            true => Some(partitions.len()),
            false => self.fetcher.cached_total(&self.keys).await,
        };
        Ok(Candidates { partitions, total })
    }
}

/// Partitions computed by Athena partition projection, once per table version.
#[derive(Debug)]
pub struct ProjectedPartitions(pub Arc<Vec<PartitionLocation>>);

#[async_trait]
impl PartitionSource for ProjectedPartitions {
    async fn candidates(&self, _filters: &[Expr]) -> Result<Candidates> {
        Ok(Candidates {
            partitions: Arc::clone(&self.0),
            total: Some(self.0.len()),
        })
    }
}
