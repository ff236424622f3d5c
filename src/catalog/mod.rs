//! The catalog: which databases (schemas) and tables exist, what their columns are, and how to
//! read them. Metadata questions (listing, column types, comments) are answered from catalog
//! entries alone; a table's files or Delta log are opened only when a query reads it.

pub mod backend;
pub mod fixtures;
pub mod fresh;
pub mod glue_expression;
pub mod glue_model;
pub mod glue_types;
mod injected;
mod metadata;
mod partitions;
pub mod projection;
mod provider;
mod tables;
mod writes;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::error::Result;
use moka::future::Cache;
use tokio::sync::{Mutex, OnceCell};

use self::backend::{CatalogBackend, CatalogError};
use self::glue_model::{Table, TableFormat};
use self::metadata::Metadata;
use self::partitions::PartitionFetcher;
pub use self::provider::{LakeCatalogProvider, ViewExpander};
use self::tables::OpenContext;
use crate::scan::listing::ListingCache;
use crate::scan::stores::{ObjectStores, ResolvedLocation};

/// The name clients connect to (`dbname=lake`) and DataFusion's catalog name.
pub const DATABASE_NAME: &str = "lake";

/// Schemas that always exist, as in PostgreSQL: the default search path points at `public`.
pub const PUBLIC_SCHEMA: &str = "public";

/// After a failed refresh, the catalog is not asked again for this long.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// A table as the catalog describes it, with its Arrow schema resolved from the Glue types.
#[derive(Debug)]
pub struct TableEntry {
    pub glue: Table,
    /// Data columns, then partition keys (the order clients see).
    pub schema: SchemaRef,
    /// Column comments by column name.
    pub column_comments: HashMap<String, String>,
    /// The opened provider of a Parquet/CSV/JSON table (Delta snapshots are cached apart).
    provider: OnceCell<Arc<dyn TableProvider>>,
}

impl TableEntry {
    #[cfg(test)]
    pub fn for_tests(glue: Table, schema: SchemaRef) -> Self {
        Self {
            glue,
            schema,
            column_comments: HashMap::new(),
            provider: OnceCell::new(),
        }
    }

    /// `database.table`, as messages name it.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.glue.database_name, self.glue.name)
    }

    fn location(&self) -> Result<&str, CatalogError> {
        self.glue
            .storage_descriptor
            .location
            .as_deref()
            .ok_or_else(|| self.bad("the catalog entry has no Location".into()))
    }

    /// The table's location in its object store.
    fn resolve_location(&self, stores: &ObjectStores) -> Result<ResolvedLocation, CatalogError> {
        stores
            .resolve(self.location()?)
            .map_err(|e| self.bad(format!("its location is not usable: {e}")))
    }

    fn bad(&self, problem: String) -> CatalogError {
        CatalogError::BadTable {
            table: self.qualified_name(),
            problem,
        }
    }
}

/// How long catalog answers are reused.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// Databases, tables, partitions and Delta snapshots.
    pub ttl: Duration,
    /// How long expired metadata is still served while the catalog cannot be reached.
    pub max_stale: Duration,
    /// File listings of partitions.
    pub listing_ttl: Duration,
}

/// The shared catalog of one gateway: metadata from a backend plus opened table providers.
#[derive(Debug)]
pub struct LakeCatalog {
    backend: Arc<dyn CatalogBackend>,
    open: OpenContext,
    delta: Cache<String, Arc<dyn TableProvider>>,
    settings: CacheSettings,
    metadata: RwLock<Arc<Metadata>>,
    /// Held while refreshing (one refresh at a time); remembers the last failure.
    refresh: Mutex<Option<(Instant, CatalogError)>>,
    /// Bumped whenever the set of tables changes, so pg_catalog knows to renumber.
    generation: AtomicU64,
    /// Bumped whenever anything in the catalog changes (a table's definition, a database's
    /// parameters, where tags live), so access decisions and prepared plans are made again.
    version: AtomicU64,
    /// Bumped after every write statement through this gateway, so plans kept for reuse
    /// (which hold file lists and snapshots) are made again.
    data_version: AtomicU64,
    /// Brings tables marked as fresh-read (the audit tables) up to date before they are read.
    before_read: std::sync::OnceLock<Arc<dyn fresh::BeforeRead>>,
}

impl LakeCatalog {
    /// Loads the catalog; failing to reach it at start is an error for the operator.
    pub async fn load(
        backend: Arc<dyn CatalogBackend>,
        stores: Arc<ObjectStores>,
        settings: CacheSettings,
        federation: Arc<crate::federation::Federation>,
    ) -> Result<Self, String> {
        let metadata = Metadata::load(backend.as_ref(), None)
            .await
            .map_err(|e| format!("cannot load the catalog: {e}: {}", e.log_detail()))?;
        let open = OpenContext {
            fetcher: PartitionFetcher::new(Arc::clone(&backend), Arc::clone(&stores), settings.ttl),
            stores,
            listings: Arc::new(ListingCache::new(settings.listing_ttl)),
            federation,
        };
        let delta = Cache::builder()
            .max_capacity(10_000)
            .time_to_live(settings.ttl.max(Duration::from_millis(1)))
            .build();
        Ok(Self {
            backend,
            open,
            delta,
            settings,
            metadata: RwLock::new(Arc::new(metadata)),
            refresh: Mutex::new(None),
            generation: AtomicU64::new(0),
            version: AtomicU64::new(0),
            data_version: AtomicU64::new(0),
            before_read: std::sync::OnceLock::new(),
        })
    }

    /// What brings the audit tables up to date before they are read.
    pub fn set_before_read(&self, refresh: Arc<dyn fresh::BeforeRead>) {
        let _ = self.before_read.set(refresh);
    }

    /// Changes whenever a table appears or disappears.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Changes whenever any catalog entry changes.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }

    /// Changes after each write made through this gateway.
    pub fn data_version(&self) -> u64 {
        self.data_version.load(Ordering::Relaxed)
    }

    pub fn note_data_written(&self) {
        self.data_version.fetch_add(1, Ordering::Relaxed);
    }

    /// How long a plan that lists files may be reused: a fresh plan would see a change made
    /// outside this gateway once the shorter of the metadata and listing caches expires.
    pub fn plan_reuse_limit(&self) -> std::time::Duration {
        self.settings.ttl.min(self.settings.listing_ttl)
    }

    /// "Glue" or "fixtures".
    pub fn backend_kind(&self) -> &'static str {
        self.backend.kind()
    }

    fn snapshot(&self) -> Arc<Metadata> {
        Arc::clone(&self.metadata.read().expect("catalog metadata"))
    }

    /// Reloads databases and tables once their TTL has passed. While the catalog cannot be
    /// reached, the old snapshot is served for `max_stale`; after that statements fail with a
    /// clear error instead of waiting.
    pub async fn refresh_if_stale(&self) -> Result<(), CatalogError> {
        if self.snapshot().loaded.elapsed() < self.settings.ttl {
            return Ok(());
        }
        let mut last_failure = self.refresh.lock().await;
        let current = self.snapshot();
        if current.loaded.elapsed() < self.settings.ttl {
            return Ok(());
        }
        if let Some((at, error)) = last_failure.as_ref() {
            if at.elapsed() < RETRY_AFTER {
                return self.serve_stale(&current, error.clone());
            }
        }
        match self.load_now(&current).await {
            Ok(()) => {
                *last_failure = None;
                Ok(())
            }
            Err(error) => {
                tracing::warn!(error = %error, detail = error.log_detail(), "catalog refresh failed");
                *last_failure = Some((Instant::now(), error.clone()));
                self.serve_stale(&current, error)
            }
        }
    }

    /// Reads every database and table again and swaps the snapshot in.
    async fn load_now(&self, current: &Metadata) -> Result<(), CatalogError> {
        let fresh = Metadata::load(self.backend.as_ref(), Some(current)).await?;
        let same_tables = fresh.tables.len() == current.tables.len()
            && fresh.tables.keys().all(|k| current.tables.contains_key(k));
        if !same_tables {
            self.generation.fetch_add(1, Ordering::Relaxed);
        }
        if fresh.differs_from(current) {
            self.version.fetch_add(1, Ordering::Relaxed);
        }
        *self.metadata.write().expect("catalog metadata") = Arc::new(fresh);
        Ok(())
    }

    /// Whether the snapshot may be used: refreshed, or stale for less than `max_stale`; else the
    /// error of the last refresh. Statements refresh before planning (`refresh_if_stale`), so
    /// table lookups only check, and a TTL of 0 costs one catalog round trip per statement.
    async fn ensure_usable(&self) -> Result<(), CatalogError> {
        let last_failure = self.refresh.lock().await;
        match last_failure.as_ref() {
            Some((_, error)) => self.serve_stale(&self.snapshot(), error.clone()),
            None => Ok(()),
        }
    }

    fn serve_stale(&self, current: &Metadata, error: CatalogError) -> Result<(), CatalogError> {
        match current.loaded.elapsed() < self.settings.ttl + self.settings.max_stale {
            true => Ok(()),
            false => Err(error),
        }
    }

    pub fn schema_names(&self) -> Vec<String> {
        self.snapshot().schemas.clone()
    }

    /// Tables of one schema, sorted.
    pub fn table_names(&self, schema: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .snapshot()
            .tables
            .keys()
            .filter(|(s, _)| s == schema)
            .map(|(_, t)| t.clone())
            .collect();
        names.sort();
        names
    }

    /// A database's location (`LocationUri`), if it has one.
    pub fn database_location(&self, schema: &str) -> Option<String> {
        self.snapshot()
            .database_locations
            .get(schema)
            .cloned()
            .flatten()
    }

    /// A database's parameters (empty if it has none or does not exist).
    pub fn database_parameters(&self, schema: &str) -> HashMap<String, String> {
        self.snapshot()
            .database_parameters
            .get(schema)
            .cloned()
            .unwrap_or_default()
    }

    pub fn table(&self, schema: &str, table: &str) -> Option<Arc<TableEntry>> {
        self.snapshot()
            .tables
            .get(&(schema.to_owned(), table.to_owned()))
            .cloned()
    }

    /// The provider that reads a table, shared by all sessions.
    pub async fn provider(
        &self,
        schema: &str,
        table: &str,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        self.ensure_usable()
            .await
            .map_err(CatalogError::into_datafusion)?;
        let key = (schema.to_owned(), table.to_owned());
        if let Some(problem) = self.snapshot().broken.get(&key) {
            let table = format!("{schema}.{table}");
            let problem = problem.clone();
            return Err(CatalogError::BadTable { table, problem }.into_datafusion());
        }
        let Some(entry) = self.table(schema, table) else {
            return Ok(None);
        };
        if entry.glue.format() == Some(TableFormat::Remote) {
            return self.open_remote(&entry).await.map(Some);
        }
        self.open(&entry)
            .await
            .map(Some)
            .map_err(CatalogError::into_datafusion)
    }

    /// A federated table: the remote is reached when it is scanned.
    async fn open_remote(&self, entry: &Arc<TableEntry>) -> Result<Arc<dyn TableProvider>> {
        let federation = &self.open.federation;
        let table = entry
            .provider
            .get_or_init(|| async { Arc::new(federation.table(entry)) as Arc<dyn TableProvider> })
            .await;
        Ok(Arc::clone(table))
    }

    async fn open(&self, entry: &Arc<TableEntry>) -> Result<Arc<dyn TableProvider>, CatalogError> {
        if entry.glue.format() == Some(TableFormat::Delta) {
            let location = entry.location()?.to_owned();
            let stores = &self.open.stores;
            let open = tables::open_delta(entry, stores);
            return crate::ops::metrics::metrics()
                .cached(&self.delta, "delta_snapshots", location, open)
                .await
                .map_err(|e| (*e).clone());
        }
        let provider = entry
            .provider
            .get_or_try_init(|| async { tables::open_files(entry, &self.open) })
            .await
            .cloned()?;
        match (tables::is_fresh_read(entry), self.before_read.get()) {
            (true, Some(refresh)) => Ok(Arc::new(fresh::FreshTable {
                inner: provider,
                refresh: Arc::clone(refresh),
                name: entry.qualified_name(),
            })),
            _ => Ok(provider),
        }
    }
}
