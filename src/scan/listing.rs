//! File listings of partition locations, reused for a short time.
//!
//! Listing is most of the planning time of a wide scan (one storage call per partition), and
//! curated partitions rarely change, so listings are kept for `ttl` (config
//! `engine.listing_cache_seconds`; 0 lists on every query), bounded by the number of files
//! held. A new file in a partition is seen once its listing expires. DataFusion's own listing
//! tables cache listings without expiry.

use std::sync::Arc;
use std::time::Duration;

use datafusion::catalog::Session;
use datafusion::error::{DataFusionError, Result};
use futures::TryStreamExt;
use moka::future::Cache;
use object_store::path::Path as ObjectPath;
use object_store::ObjectMeta;

use super::partitioned::PartitionLocation;

/// A listed location: the store (bucket) and the prefix inside it.
type ListingKey = (String, ObjectPath);

/// Upper bound on file entries held, over all listings.
const MAX_CACHED_FILES: u64 = 2_000_000;

#[derive(Debug)]
pub struct ListingCache {
    /// `None` when listings are not reused.
    entries: Option<Cache<ListingKey, Arc<Vec<ObjectMeta>>>>,
}

impl ListingCache {
    pub fn new(ttl: Duration) -> Self {
        let entries = (!ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(MAX_CACHED_FILES)
                .weigher(|_, files: &Arc<Vec<ObjectMeta>>| {
                    u32::try_from(files.len()).unwrap_or(u32::MAX).max(1)
                })
                .time_to_live(ttl)
                .build()
        });
        Self { entries }
    }

    /// The data files of one partition, skipping Hive/Spark markers (`_SUCCESS`, `.crc`, …).
    /// Concurrent scans of the same partition share one listing; failures are not kept.
    pub async fn files(
        &self,
        state: &dyn Session,
        partition: &PartitionLocation,
    ) -> Result<Arc<Vec<ObjectMeta>>> {
        let Some(entries) = &self.entries else {
            return list(state, partition).await;
        };
        let key = (
            partition.store.as_str().to_owned(),
            partition.prefix.clone(),
        );
        crate::ops::metrics::metrics()
            .cached(entries, "listings", key, list(state, partition))
            .await
            .map_err(DataFusionError::Shared)
    }
}

async fn list(state: &dyn Session, partition: &PartitionLocation) -> Result<Arc<Vec<ObjectMeta>>> {
    let store = state.runtime_env().object_store(&partition.store)?;
    let metas: Vec<ObjectMeta> = store.list(Some(&partition.prefix)).try_collect().await?;
    Ok(Arc::new(
        metas
            .into_iter()
            .filter(|m| {
                let name = m.location.filename().unwrap_or_default();
                !(name.starts_with('_') || name.starts_with('.'))
            })
            .collect(),
    ))
}
