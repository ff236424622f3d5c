//! Federation: tables of operational PostgreSQL and MySQL/MariaDB databases in the catalog,
//! read in the same SQL as the lake, under the same policies and audit.
//!
//! A catalog table is federated when its parameters name a connection (`connectionName`, as
//! Glue's JDBC crawler writes it) and its location names the remote table
//! (`database.schema.table` or `schema.table` for PostgreSQL, `database.table` for MySQL).
//! Connections come from `[federation.connections]` or from the Glue catalog (GetConnection);
//! their credentials come from a secret ([`secrets`]), never from the catalog.
//!
//! Each remote table is read through [`RemoteTable`], which the policy wraps like any other
//! table ([`crate::policy::secure::SecureTable`]): the row filter and the user's leakproof
//! filters are sent to the remote only where the remote evaluates them as DataFusion would
//! ([`pushdown`]), and the barrier applies them again on what arrives. Whole sub-plans (joins,
//! aggregates) are never sent, so no user expression runs remotely outside the barrier (D7).

mod connection;
mod dynamic;
mod error;
mod exec;
mod join_keys;
mod pushdown;
mod secrets;
mod source;
mod table;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::common::TableReference;
use tokio::sync::OnceCell;

pub use connection::{ConnectionConfig, ConnectionSpec, Engine, FederationConfig};
pub use error::FederationError;
pub use exec::RemoteScanExec;
pub use join_keys::RemoteJoinKeys;
use secrets::Secrets;
use source::RemotePool;
pub use table::RemoteTable;

use crate::catalog::backend::CatalogBackend;
use crate::catalog::TableEntry;

/// The connections of one gateway, and their pools (built on first use, shared by sessions).
#[derive(Debug)]
pub struct Federation {
    configured: HashMap<String, ConnectionConfig>,
    secrets: Secrets,
    connect_timeout: Duration,
    pool_size: u32,
    pushdown: bool,
    /// The catalog, asked for connections not in the configuration.
    backend: Arc<dyn CatalogBackend>,
    pools: Mutex<HashMap<String, Arc<OnceCell<RemotePool>>>>,
}

impl Federation {
    pub fn new(config: &FederationConfig, backend: Arc<dyn CatalogBackend>) -> Self {
        Self {
            configured: config.connections.clone().into_iter().collect(),
            secrets: Secrets {
                file: config.secrets_file.clone(),
            },
            connect_timeout: Duration::from_secs(config.connect_timeout_seconds.max(1)),
            pool_size: config.pool_size.max(1),
            pushdown: config.pushdown,
            backend,
            pools: Mutex::new(HashMap::new()),
        }
    }

    /// The table behind a federated catalog entry. Nothing is contacted yet: listing columns
    /// (information_schema opens every table) must work while a remote is down. The remote is
    /// reached when a statement scans the table ([`RemoteTable::scan`]).
    pub fn table(self: &Arc<Self>, entry: &TableEntry) -> RemoteTable {
        // The catalog's classification says which SQL the remote speaks, so filters can be
        // judged before connecting; the connection must agree when it is made.
        let engine = match entry
            .glue
            .parameters
            .get("classification")
            .map(|c| c.to_ascii_lowercase())
        {
            Some(c) if c.starts_with("postgres") => Engine::Postgres,
            _ => Engine::MySql,
        };
        RemoteTable::new(table::Definition {
            name: entry.qualified_name(),
            connection: entry.glue.connection_name().unwrap_or_default().to_owned(),
            location: entry
                .glue
                .storage_descriptor
                .location
                .clone()
                .unwrap_or_default(),
            engine,
            schema: Arc::clone(&entry.schema),
            federation: Arc::clone(self),
        })
    }

    /// Connects to the remote table of `definition` (its pool first, if need be).
    async fn resolve(
        &self,
        definition: &table::Definition,
    ) -> Result<Arc<dyn source::RemoteSql>, FederationError> {
        let connection = &definition.connection;
        let pool = self.pool(connection).await?;
        let engine = pool.engine();
        let mismatch = |detail: String| FederationError::RemoteTable {
            table: definition.name.clone(),
            detail,
        };
        if engine != definition.engine {
            return Err(mismatch(format!(
                "its classification does not match connection {connection:?} ({engine:?})"
            )));
        }
        let location = &definition.location;
        let reference = remote_reference(location, engine).ok_or_else(|| {
            mismatch(format!(
                "location {location:?} is not [database.]schema.table"
            ))
        })?;
        match tokio::time::timeout(self.connect_timeout, pool.table(reference)).await {
            Err(_) => Err(FederationError::TimedOut {
                connection: connection.clone(),
                seconds: self.connect_timeout.as_secs(),
            }),
            Ok(Err(detail)) => Err(mismatch(detail)),
            Ok(Ok(remote)) => Ok(remote),
        }
    }

    /// The connection's pool, built now if it is not yet. A failed build is not remembered: the
    /// next statement tries again, so the gateway recovers when the remote does.
    async fn pool(&self, connection: &str) -> Result<RemotePool, FederationError> {
        let cell = {
            let mut pools = self.pools.lock().expect("federation pools");
            Arc::clone(pools.entry(connection.to_owned()).or_default())
        };
        cell.get_or_try_init(|| self.build_pool(connection))
            .await
            .cloned()
    }

    async fn build_pool(&self, connection: &str) -> Result<RemotePool, FederationError> {
        let spec = self.spec(connection).await?;
        let credentials = self
            .secrets
            .credentials(connection, spec.secret_id.as_deref())?;
        let pool =
            RemotePool::connect(&spec, credentials, self.pool_size, self.connect_timeout).await?;
        tracing::info!(connection, engine = ?spec.engine, "federated connection pool ready");
        Ok(pool)
    }

    async fn spec(&self, connection: &str) -> Result<ConnectionSpec, FederationError> {
        if let Some(config) = self.configured.get(connection) {
            return ConnectionSpec::from_config(connection, config);
        }
        let unknown = || FederationError::UnknownConnection {
            connection: connection.to_owned(),
        };
        match self.backend.connection(connection).await {
            Ok(Some(properties)) => ConnectionSpec::from_properties(connection, &properties),
            Ok(None) => Err(unknown()),
            Err(e) => {
                tracing::warn!(connection, error = %e, detail = e.log_detail(), "catalog connection lookup failed");
                Err(FederationError::Misconfigured {
                    connection: connection.to_owned(),
                    problem: format!("the catalog could not be asked for it ({e})"),
                })
            }
        }
    }
}

/// The remote table a location names: the schema and table, without the database (the
/// connection chose it). MySQL's "schema" is its database.
fn remote_reference(location: &str, engine: Engine) -> Option<TableReference> {
    let parts: Vec<&str> = location.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    match (engine, parts.as_slice()) {
        (_, [table]) => Some(TableReference::bare(*table)),
        (_, [schema, table]) | (Engine::Postgres, [_, schema, table]) => {
            Some(TableReference::partial(*schema, *table))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_name_the_remote_table() {
        let pg = remote_reference("ops.public.customers_live", Engine::Postgres).unwrap();
        assert_eq!(pg.to_string(), "public.customers_live");
        let mysql = remote_reference("ops.customers", Engine::MySql).unwrap();
        assert_eq!(mysql.to_string(), "ops.customers");
        assert!(remote_reference("a.b.c", Engine::MySql).is_none());
        assert!(remote_reference("a..c", Engine::Postgres).is_none());
    }
}
