//! The gateway process: shared state ([`Gateway`]), the TCP listener, and one set of pgwire
//! handlers per connection.

mod admission;
mod cancel;
mod connection;
mod frame_layout;
mod handlers;
mod startup;
pub mod statement_queue;
pub mod telemetry;
pub mod tls;
mod transport;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use tokio::net::TcpListener;

use crate::audit::lake::ShipTarget;
use crate::audit::{AuditLog, AuditSink};
use crate::auth::throttle::LoginThrottle;
use crate::auth::{Authentication, UserStore};
use crate::catalog::backend::{
    CatalogBackend, FixtureBackend, GlueBackend, GlueSettings, LocalCatalogStore, WithExtraTables,
};
use crate::catalog::fixtures::FixtureFiles;
use crate::catalog::{CacheSettings, LakeCatalog};
use crate::config::{CatalogKind, Config};
use crate::ops::shutdown::Shutdown;
use crate::pgcatalog::PgCatalogs;
use crate::policy::{PolicyFiles, PolicyStore};
use crate::scan::stores::{ObjectStores, S3Settings};
pub use cancel::{CancelRegistration, CancelRegistry};

/// Everything connections share: catalog, users, the engine's runtime (memory pool, spill
/// directory, object stores) and the cancel registry.
#[derive(Debug)]
pub struct Gateway {
    pub lake: Arc<LakeCatalog>,
    pub policies: Arc<PolicyStore>,
    /// Each principal's pg_catalog under the policy in force.
    pub pg_catalogs: PgCatalogs,
    pub users: Arc<UserStore>,
    /// Access rules, token verification and the mock-salt key.
    pub auth: Authentication,
    pub throttle: LoginThrottle,
    /// `None` without a `[tls]` certificate.
    pub tls: Option<Arc<tls::TlsServer>>,
    pub limits: Limits,
    /// Statements running, and waiting to run (`limits.max_running_statements`).
    pub statements: statement_queue::StatementQueue,
    pub pid_keys: pgwire::api::RandomPidSecretKeyGenerator,
    pub runtime: Arc<RuntimeEnv>,
    /// Each session's memory budget within the shared pool (`engine.query_memory_limit_mb`).
    pub query_memory_limit: Option<usize>,
    pub cancels: Arc<CancelRegistry>,
    pub target_partitions: usize,
    pub audit: Arc<AuditLog>,
    /// Where CREATE SCHEMA places new databases (`catalog.create_location`).
    pub create_location: String,
    /// Begun by SIGTERM: connections end when idle, the listener stops accepting.
    pub shutdown: Shutdown,
    /// How long running statements may finish after shutdown begins.
    pub shutdown_grace: Duration,
}

impl Gateway {
    /// Loads the catalog and users, and generates the demo lake if it is being served and is
    /// missing.
    pub async fn build(config: &Config) -> Result<Arc<Self>, String> {
        let root = config.lake_root()?;
        // Identity and transport first: a broken TLS or token setup stops the start at once.
        let tls = tls::TlsServer::load(&config.tls)?;
        let auth = Authentication::new(&config.auth).await?;
        let users = UserStore::load(config.auth.users_file.clone())?;
        users.watch(Duration::from_millis(
            config.auth.users_reload_check_ms.max(100),
        ));
        if let Some(tls) = &tls {
            tls.watch();
        }
        let runtime = runtime_env(config)?;
        let stores = Arc::new(ObjectStores::new(
            Arc::clone(&runtime),
            &root,
            s3_settings(config),
        )?);
        let mut backend = catalog_backend(config, &root).await?;
        let (audit, audit_zone) = start_audit(config, &root, &stores).await?;
        if let Some(zone) = audit_zone {
            let (database, tables) = crate::audit::lake::catalog_entries(&zone);
            backend = Arc::new(WithExtraTables::new(backend, database, tables));
        }
        let federation = Arc::new(crate::federation::Federation::new(
            &config.federation,
            Arc::clone(&backend),
        ));
        let settings = cache_settings(config);
        let lake = Arc::new(LakeCatalog::load(backend, stores, settings, federation).await?);
        lake.set_before_read(Arc::clone(&audit) as _);
        tracing::info!(catalog = lake.backend_kind(), "catalog loaded");
        let files = match &config.policy.dir {
            Some(dir) => PolicyFiles::Dir(dir.clone()),
            None => PolicyFiles::Demo,
        };
        let policies = Arc::new(PolicyStore::load(files, Arc::clone(&lake)).await?);
        policies.watch(Duration::from_millis(
            config.policy.reload_check_ms.max(100),
        ));
        let gateway = Arc::new(Self {
            pg_catalogs: PgCatalogs::new(Arc::clone(&users)),
            lake,
            policies,
            users,
            auth,
            throttle: LoginThrottle::new(config.auth.throttle.clone()),
            tls,
            limits: Limits::from(&config.limits),
            statements: statement_queue::StatementQueue::new(
                config.limits.max_running_statements,
                config.limits.max_queued_statements,
                Duration::from_millis(config.limits.statement_queue_timeout_ms.max(1)),
            ),
            pid_keys: Default::default(),
            runtime,
            query_memory_limit: (config.engine.query_memory_limit_mb > 0).then(|| {
                config
                    .engine
                    .query_memory_limit_mb
                    .saturating_mul(1024 * 1024)
            }),
            cancels: Arc::default(),
            target_partitions: config.engine.target_partitions.unwrap_or_else(num_cpus),
            audit,
            create_location: config.catalog.create_location.clone(),
            shutdown: Shutdown::default(),
            shutdown_grace: Duration::from_secs(config.server.shutdown_grace_seconds),
        });
        Ok(gateway)
    }
}

/// The configured catalog backend. The embedded demo catalog comes with its lake, which is
/// generated on first start.
async fn catalog_backend(
    config: &Config,
    root: &std::path::Path,
) -> Result<Arc<dyn CatalogBackend>, String> {
    let catalog = &config.catalog;
    Ok(match (catalog.kind, &catalog.fixtures) {
        (CatalogKind::Glue, _) => {
            let settings = GlueSettings {
                region: catalog.glue.region.clone(),
                endpoint: catalog.glue.endpoint.clone(),
                catalog_id: catalog.glue.catalog_id.clone(),
                timeout: Duration::from_secs(catalog.glue.timeout_seconds.max(1)),
            };
            Arc::new(GlueBackend::connect(&settings).await)
        }
        (CatalogKind::Fixtures, fixtures) => {
            let files = match fixtures {
                Some(dir) => FixtureFiles::Dir(dir.clone()),
                None => {
                    ensure_demo_lake(root).await?;
                    FixtureFiles::Embedded
                }
            };
            // What statements create lives next to the lake; the fixture files stay as given.
            let store = catalog
                .store_dir
                .clone()
                .unwrap_or_else(|| root.join("_catalog"));
            let fixtures = Arc::new(FixtureBackend::new(files));
            Arc::new(LocalCatalogStore::new(fixtures, store))
        }
    })
}

/// The audit log, and the audit zone its segments are shipped to (when they are).
async fn start_audit(
    config: &Config,
    root: &std::path::Path,
    stores: &Arc<ObjectStores>,
) -> Result<(Arc<AuditLog>, Option<String>), String> {
    let settings = &config.audit;
    let zone = (settings.lake && settings.sink == AuditSink::File).then(|| {
        settings
            .lake_location
            .clone()
            .unwrap_or_else(|| root.join("audit").display().to_string())
    });
    let target = zone.clone().map(|location| ShipTarget {
        stores: Arc::clone(stores),
        location,
    });
    let audit = AuditLog::start(settings, target).await?;
    Ok((audit, zone))
}

fn cache_settings(config: &Config) -> CacheSettings {
    CacheSettings {
        ttl: Duration::from_secs(config.catalog.cache_seconds),
        max_stale: Duration::from_secs(config.catalog.max_stale_seconds),
        listing_ttl: Duration::from_secs(config.engine.listing_cache_seconds),
    }
}

fn s3_settings(config: &Config) -> S3Settings {
    let s3 = &config.storage.s3;
    S3Settings {
        endpoint: s3.endpoint.clone(),
        region: s3.region.clone(),
        allow_http: s3.allow_http,
        virtual_hosted_style: s3.virtual_hosted_style,
        max_retries: s3.max_retries.unwrap_or(3),
        timeout: Duration::from_secs(s3.timeout_seconds.unwrap_or(30).max(1)),
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(2)
}

/// One memory pool for all queries; operators that can spill do so beyond it (D12).
fn runtime_env(config: &Config) -> Result<Arc<RuntimeEnv>, String> {
    let bytes = config.engine.memory_limit_mb.saturating_mul(1024 * 1024);
    let disk = match &config.engine.spill_dir {
        Some(dir) => {
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Directories(vec![dir.clone()]))
        }
        None => DiskManagerBuilder::default(),
    };
    RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(bytes)))
        .with_disk_manager_builder(disk)
        .build_arc()
        .map_err(|e| format!("cannot set up the query engine: {e}"))
}

async fn ensure_demo_lake(root: &std::path::Path) -> Result<(), String> {
    if let Some(scale) = crate::demo::existing_scale(root) {
        tracing::info!(lake_root = %root.display(), scale, "serving the demo lake");
        return Ok(());
    }
    tracing::info!(lake_root = %root.display(), "demo lake missing; generating it (scale 1)");
    crate::demo::generate(root, 1.0, true)
        .await
        .map_err(|e| format!("cannot generate the demo lake in {}: {e}", root.display()))
}

/// Connection limits and timeouts, from `[limits]`.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub max_pending_logins_per_address: usize,
    pub startup_timeout: Duration,
    pub max_startup_packet_bytes: usize,
    pub max_message_bytes: usize,
    pub idle_session_timeout: Option<Duration>,
}

impl From<&crate::config::LimitsConfig> for Limits {
    fn from(config: &crate::config::LimitsConfig) -> Self {
        Self {
            max_connections: config.max_connections.max(1),
            max_pending_logins_per_address: config.max_pending_logins_per_address.max(1),
            startup_timeout: Duration::from_millis(config.startup_timeout_ms.max(100)),
            max_startup_packet_bytes: config.max_startup_packet_bytes.clamp(8, 10_000),
            max_message_bytes: config.max_message_bytes.max(1024),
            idle_session_timeout: (config.idle_session_timeout_ms > 0)
                .then(|| Duration::from_millis(config.idle_session_timeout_ms)),
        }
    }
}

/// Builds the gateway and serves until SIGTERM (or SIGINT) and the drain that follows.
pub async fn run(config: Config) -> Result<(), String> {
    let gateway = Gateway::build(&config).await?;
    gateway
        .shutdown
        .on_signals()
        .map_err(|e| format!("cannot install the signal handlers: {e}"))?;
    let listen = config.server.listen;
    let listener = TcpListener::bind(listen).await.map_err(|e| {
        format!("cannot listen on {listen}: {e} (is another server using the port? try --listen)")
    })?;
    if let Some(http) = config.server.http_listen {
        start_operations_endpoint(http, &gateway).await?;
    }
    let tls = match gateway.tls.is_some() {
        true => "TLS available",
        false => "no TLS configured",
    };
    // The demo hint only where it holds: demo users under the default access rules.
    if config.auth.users_file.is_none() && config.auth.rules.is_empty() {
        tracing::info!(
            "lakegate listening on {listen} ({tls}); connect with: psql \"host={} port={} dbname=lake user=analyst\" (password: analyst)",
            listen.ip(),
            listen.port()
        );
    } else {
        tracing::info!("lakegate listening on {listen} ({tls})");
    }
    serve(listener, Arc::clone(&gateway))
        .await
        .map_err(|e| format!("listener failed: {e}"))?;
    gateway.audit.close().await;
    tracing::info!("lakegate stopped");
    Ok(())
}

async fn start_operations_endpoint(address: SocketAddr, gateway: &Gateway) -> Result<(), String> {
    let listener = TcpListener::bind(address).await.map_err(|e| {
        format!("cannot listen on {address} for the operations endpoint (server.http_listen): {e}")
    })?;
    let readiness = Arc::new(crate::ops::http::Readiness {
        shutdown: gateway.shutdown.clone(),
        audit: Arc::clone(&gateway.audit),
    });
    tracing::info!("operations endpoint on http://{address} (/healthz, /readyz, /metrics)");
    tokio::spawn(crate::ops::http::serve(listener, readiness));
    Ok(())
}

/// Sockets accepted beyond `max_connections` are still answered (53300) up to this many more;
/// past that they are closed at once, so a flood cannot hold unbounded pre-auth state.
const REFUSAL_HEADROOM: usize = 64;

/// Accepts connections until shutdown begins, then waits (up to the grace period) for the open
/// connections to end: idle ones end at once, busy ones after their statement.
pub async fn serve(listener: TcpListener, gateway: Arc<Gateway>) -> std::io::Result<()> {
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let pending = Arc::new(admission::PendingLogins::default());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = gateway.shutdown.begun() => break,
        };
        let (socket, peer) = match accepted {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: keep serving the connections that exist.
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        admit(socket, peer, &gateway, &open, &pending);
    }
    drop(listener);
    drain(&open, gateway.shutdown_grace).await;
    Ok(())
}

fn admit(
    socket: tokio::net::TcpStream,
    peer: SocketAddr,
    gateway: &Arc<Gateway>,
    open: &Arc<std::sync::atomic::AtomicUsize>,
    pending: &Arc<admission::PendingLogins>,
) {
    let metrics = crate::ops::metrics::metrics();
    let limits = &gateway.limits;
    let Some(pending) = pending.admit(peer.ip(), limits.max_pending_logins_per_address) else {
        metrics.connection("refused");
        tracing::warn!(%peer, "connection closed at once: too many unauthenticated connections from this address");
        return;
    };
    let slot = admission::ConnectionSlot::take(open);
    let max = limits.max_connections;
    if slot.count > max + REFUSAL_HEADROOM {
        metrics.connection("refused");
        tracing::warn!(%peer, "connection closed at once: too many connections");
        return;
    }
    metrics.connection(if slot.count > max {
        "refused"
    } else {
        "accepted"
    });
    metrics.connections_open.inc();
    let gateway = Arc::clone(gateway);
    tokio::spawn(async move {
        connection::serve(socket, peer, gateway, slot.count > max, pending).await;
        drop(slot);
        metrics.connections_open.dec();
    });
}

/// Waits for the open connections to end, at most `grace`.
async fn drain(open: &std::sync::atomic::AtomicUsize, grace: Duration) {
    use std::sync::atomic::Ordering;
    let deadline = tokio::time::Instant::now() + grace;
    while open.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = open.load(Ordering::SeqCst);
    if left > 0 {
        tracing::warn!(
            connections = left,
            "shutdown grace period over: statements still running are dropped"
        );
    }
}
