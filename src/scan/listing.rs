//! File listings of partition locations, reused for a short time.
//!
//! Listing is most of the planning time of a wide scan (one storage call per partition), and
//! curated partitions rarely change, so listings are kept for `ttl` (config
//! `engine.listing_cache_seconds`; 0 lists on every query). A new file in a partition is seen
//! once its listing expires. DataFusion's own listing tables cache listings without expiry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::catalog::Session;
use datafusion::error::Result;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::ObjectMeta;

use super::partitioned::PartitionLocation;

/// When a listing was made, and what it found.
type Listing = (Instant, Arc<Vec<ObjectMeta>>);

#[derive(Debug)]
pub struct ListingCache {
    ttl: Duration,
    entries: Mutex<HashMap<ObjectPath, Listing>>,
}

impl ListingCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
        }
    }

    /// The data files of one partition, skipping Hive/Spark markers (`_SUCCESS`, `.crc`, …).
    pub async fn files(
        &self,
        state: &dyn Session,
        partition: &PartitionLocation,
    ) -> Result<Arc<Vec<ObjectMeta>>> {
        if let Some(files) = self.fresh(&partition.prefix) {
            return Ok(files);
        }
        let store = state.runtime_env().object_store(&partition.store)?;
        let metas: Vec<ObjectMeta> = store.list(Some(&partition.prefix)).try_collect().await?;
        let files: Arc<Vec<ObjectMeta>> = Arc::new(
            metas
                .into_iter()
                .filter(|m| {
                    let name = m.location.filename().unwrap_or_default();
                    !(name.starts_with('_') || name.starts_with('.'))
                })
                .collect(),
        );
        if !self.ttl.is_zero() {
            let mut entries = self.entries.lock().expect("listing cache");
            entries.insert(
                partition.prefix.clone(),
                (Instant::now(), Arc::clone(&files)),
            );
        }
        Ok(files)
    }

    fn fresh(&self, prefix: &ObjectPath) -> Option<Arc<Vec<ObjectMeta>>> {
        let entries = self.entries.lock().expect("listing cache");
        let (listed, files) = entries.get(prefix)?;
        (listed.elapsed() < self.ttl).then(|| Arc::clone(files))
    }
}
