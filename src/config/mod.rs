//! `lakegate.toml`: every setting, its default, and its `LAKEGATE_*` environment override.
//!
//! A missing file means "all defaults": the embedded demo lake on 127.0.0.1:5433.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole configuration, as read from TOML.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub lake: LakeConfig,
    pub catalog: CatalogConfig,
    pub auth: AuthConfig,
    pub engine: EngineConfig,
    pub storage: StorageConfig,
    pub policy: PolicyConfig,
    pub tls: crate::server::tls::TlsSettings,
    pub limits: LimitsConfig,
    pub audit: crate::audit::AuditSettings,
    pub federation: crate::federation::FederationConfig,
}

/// Connection limits and timeouts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Connections served at once; more are refused with 53300.
    pub max_connections: usize,
    /// Connections from one address that may be authenticating at once; more are closed.
    pub max_pending_logins_per_address: usize,
    /// Milliseconds a client has from connecting to finishing authentication (TLS included).
    pub startup_timeout_ms: u64,
    /// Largest startup packet accepted, in bytes (PostgreSQL: 10000, the most pgwire decodes).
    pub max_startup_packet_bytes: usize,
    /// Largest message accepted after authentication, in bytes.
    pub max_message_bytes: usize,
    /// Milliseconds an idle session (not in a transaction) is kept; 0 keeps it forever.
    pub idle_session_timeout_ms: u64,
    /// Statements that run at once (0: no bound); more wait in a queue.
    pub max_running_statements: usize,
    /// Statements that may wait for a slot; more are refused with 53300.
    pub max_queued_statements: usize,
    /// Milliseconds a statement waits for a slot before it is refused with 53300.
    pub statement_queue_timeout_ms: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_connections: 100,
            max_pending_logins_per_address: 32,
            startup_timeout_ms: 10_000,
            max_startup_packet_bytes: 10_000,
            max_message_bytes: 64 * 1024 * 1024,
            idle_session_timeout_ms: 0,
            max_running_statements: 64,
            max_queued_statements: 1024,
            statement_queue_timeout_ms: 60_000,
        }
    }
}

/// Access policies (see `policies/model.conf`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Directory with `model.conf` and `policy.csv`. Default: the demo policy built into the
    /// binary, for the demo principals.
    pub dir: Option<PathBuf>,
    /// How often the files are checked for changes, in milliseconds.
    pub reload_check_ms: u64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            dir: None,
            reload_check_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the PostgreSQL listener binds.
    pub listen: SocketAddr,
    /// Address of the operations endpoint (`/healthz`, `/readyz`, `/metrics`); off when unset.
    pub http_listen: Option<SocketAddr>,
    /// Seconds running statements may take to finish after SIGTERM before they are dropped.
    pub shutdown_grace_seconds: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 5433)),
            http_listen: None,
            shutdown_grace_seconds: 30,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LakeConfig {
    /// Directory holding the lake's zones; relative catalog locations resolve against it.
    pub root: Option<PathBuf>,
}

/// Which catalog backend serves metadata.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CatalogKind {
    /// Glue API JSON files: the embedded demo catalog, or `catalog.fixtures`.
    #[default]
    Fixtures,
    /// The AWS Glue Data Catalog (or a Glue-compatible endpoint).
    Glue,
}

impl std::str::FromStr for CatalogKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "fixtures" => Ok(CatalogKind::Fixtures),
            "glue" => Ok(CatalogKind::Glue),
            _ => Err("expected \"fixtures\" or \"glue\"".to_owned()),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    pub kind: CatalogKind,
    /// Directory with Glue-shaped JSON (databases.json, tables/, partitions/).
    /// Default: the demo catalog compiled into the binary.
    pub fixtures: Option<PathBuf>,
    /// Seconds databases, tables, partitions and Delta snapshots are reused.
    pub cache_seconds: u64,
    /// Seconds expired metadata is still served while the catalog cannot be reached.
    pub max_stale_seconds: u64,
    /// Where CREATE SCHEMA puts a new database's tables: a path relative to the lake root, an
    /// absolute path, or `s3://bucket/prefix` (the curated zone by default).
    pub create_location: String,
    /// The writable catalog store of the fixtures backend (CREATE SCHEMA, CTAS, views).
    /// Default: `_catalog` under the lake root.
    pub store_dir: Option<PathBuf>,
    pub glue: GlueConfig,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            kind: CatalogKind::Fixtures,
            fixtures: None,
            cache_seconds: 60,
            max_stale_seconds: 0,
            create_location: "curated".to_owned(),
            store_dir: None,
            glue: GlueConfig::default(),
        }
    }
}

/// Glue settings; anything unset comes from the AWS environment (`AWS_REGION`,
/// `AWS_ENDPOINT_URL_GLUE`, credentials chain).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlueConfig {
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub catalog_id: Option<String>,
    /// Upper bound for one catalog call, retries included.
    pub timeout_seconds: u64,
}

impl Default for GlueConfig {
    fn default() -> Self {
        Self {
            region: None,
            endpoint: None,
            catalog_id: None,
            timeout_seconds: 10,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub s3: S3Config,
}

/// S3 settings on top of the AWS environment (`AWS_ENDPOINT_URL_S3`, `AWS_REGION`,
/// `AWS_ALLOW_HTTP`, credentials).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Allow plain-HTTP endpoints (local S3-compatible servers).
    pub allow_http: Option<bool>,
    /// `false`: path-style requests (`endpoint/bucket/key`), as most S3-compatible servers want.
    pub virtual_hosted_style: Option<bool>,
    /// Retries of a failed request (with exponential backoff) before the statement fails.
    pub max_retries: Option<usize>,
    /// Bound on one request and on all retries of it, in seconds: no read waits longer.
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Users file with SCRAM-SHA-256 verifiers and groups. Default: the demo principals.
    pub users_file: Option<PathBuf>,
    /// How often the users file is checked for changes, in milliseconds.
    pub users_reload_check_ms: u64,
    /// Access rules, first match wins (`[[auth.rules]]`). Default: SCRAM from loopback, and
    /// SCRAM over TLS from anywhere else.
    pub rules: Vec<crate::auth::rules::AccessRule>,
    /// JWT bearer tokens (`[auth.jwt]`); off when absent.
    pub jwt: Option<crate::auth::jwt::JwtSettings>,
    /// Failed-login throttling (`[auth.throttle]`).
    pub throttle: crate::auth::throttle::ThrottleSettings,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            users_file: None,
            users_reload_check_ms: 1000,
            rules: Vec::new(),
            jwt: None,
            throttle: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Memory shared by all running queries, in MiB; operators spill to disk beyond it.
    pub memory_limit_mb: usize,
    /// Memory one session's statement may use within that pool, in MiB (0: no bound of its
    /// own); past it, operators spill, or the statement fails with 53200.
    pub query_memory_limit_mb: usize,
    /// Directory for spill files. Default: the system temporary directory.
    pub spill_dir: Option<PathBuf>,
    /// Parallelism of one query. Default: the number of cores.
    pub target_partitions: Option<usize>,
    /// Seconds a partition's file listing is reused; 0 lists on every query.
    pub listing_cache_seconds: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            memory_limit_mb: 4096,
            query_memory_limit_mb: 0,
            spill_dir: None,
            target_partitions: None,
            listing_cache_seconds: 30,
        }
    }
}

impl Config {
    /// Reads a TOML file; unknown keys are errors so that typos do not pass silently.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("invalid config file {}: {e}", path.display()))
    }

    /// Applies `LAKEGATE_*` environment variables on top of the file's values.
    pub fn apply_env(&mut self) -> Result<(), String> {
        self.apply_vars(|name| std::env::var(name).ok())
    }

    fn apply_vars(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(v) = var("LAKEGATE_LISTEN") {
            self.server.listen = parse_env("LAKEGATE_LISTEN", &v)?;
        }
        if let Some(v) = var("LAKEGATE_HTTP_LISTEN") {
            self.server.http_listen = Some(parse_env("LAKEGATE_HTTP_LISTEN", &v)?);
        }
        if let Some(v) = var("LAKEGATE_LAKE_ROOT") {
            self.lake.root = Some(PathBuf::from(v));
        }
        if let Some(v) = var("LAKEGATE_CATALOG") {
            self.catalog.kind = parse_env("LAKEGATE_CATALOG", &v)?;
        }
        if let Some(v) = var("LAKEGATE_CATALOG_CACHE_SECONDS") {
            self.catalog.cache_seconds = parse_env("LAKEGATE_CATALOG_CACHE_SECONDS", &v)?;
        }
        if let Some(v) = var("LAKEGATE_CATALOG_FIXTURES") {
            self.catalog.fixtures = Some(PathBuf::from(v));
        }
        if let Some(v) = var("LAKEGATE_POLICIES") {
            self.policy.dir = Some(PathBuf::from(v));
        }
        if let Some(v) = var("LAKEGATE_USERS_FILE") {
            self.auth.users_file = Some(PathBuf::from(v));
        }
        if let Some(v) = var("LAKEGATE_TLS_CERT") {
            self.tls.cert = Some(PathBuf::from(v));
        }
        if let Some(v) = var("LAKEGATE_TLS_KEY") {
            self.tls.key = Some(PathBuf::from(v));
        }
        if let Some(v) = var("LAKEGATE_MAX_CONNECTIONS") {
            self.limits.max_connections = parse_env("LAKEGATE_MAX_CONNECTIONS", &v)?;
        }
        if let Some(v) = var("LAKEGATE_AUDIT_DIR") {
            self.audit.dir = Some(PathBuf::from(v));
        }
        if let Some(v) = var("LAKEGATE_AUDIT_SINK") {
            self.audit.sink = parse_env("LAKEGATE_AUDIT_SINK", &v)?;
        }
        if let Some(v) = var("LAKEGATE_MEMORY_LIMIT_MB") {
            self.engine.memory_limit_mb = parse_env("LAKEGATE_MEMORY_LIMIT_MB", &v)?;
        }
        if let Some(v) = var("LAKEGATE_SPILL_DIR") {
            self.engine.spill_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = var("LAKEGATE_LISTING_CACHE_SECONDS") {
            self.engine.listing_cache_seconds = parse_env("LAKEGATE_LISTING_CACHE_SECONDS", &v)?;
        }
        if let Some(v) = var("LAKEGATE_SECRETS_FILE") {
            self.federation.secrets_file = Some(PathBuf::from(v));
        }
        if let Some(v) = var("LAKEGATE_TARGET_PARTITIONS") {
            self.engine.target_partitions = Some(parse_env("LAKEGATE_TARGET_PARTITIONS", &v)?);
        }
        Ok(())
    }

    /// The lake root: configured, or the per-user data directory.
    pub fn lake_root(&self) -> Result<PathBuf, String> {
        if let Some(root) = &self.lake.root {
            return Ok(root.clone());
        }
        dirs::data_dir()
            .map(|d| d.join("lakegate").join("demo"))
            .ok_or_else(|| "no per-user data directory here; pass --lake-root DIR".to_owned())
    }
}

fn parse_env<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e| format!("environment variable {name}={value:?} is invalid: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file() {
        let mut config: Config =
            toml::from_str("[server]\nlisten = \"127.0.0.1:7000\"\n[engine]\nmemory_limit_mb = 10")
                .unwrap();
        config
            .apply_vars(|name| (name == "LAKEGATE_LISTEN").then(|| "0.0.0.0:6000".to_owned()))
            .unwrap();
        assert_eq!(config.server.listen.port(), 6000);
        assert_eq!(config.engine.memory_limit_mb, 10);
    }

    #[test]
    fn unknown_keys_and_bad_env_values_are_errors() {
        assert!(toml::from_str::<Config>("[server]\nlisen = \"x\"").is_err());
        let mut config = Config::default();
        let err = config
            .apply_vars(|name| (name == "LAKEGATE_MEMORY_LIMIT_MB").then(|| "lots".to_owned()))
            .unwrap_err();
        assert!(err.contains("LAKEGATE_MEMORY_LIMIT_MB"), "{err}");
    }
}
