//! One remote database: its connection pool (datafusion-table-providers' PostgreSQL or MySQL
//! pool) and the tables read through it. Only the libraries' SQL generation (DataFusion's
//! unparser) and their Arrow conversion are used; the scan node is lakegate's
//! ([`super::exec::RemoteScanExec`]), because the libraries' own node edits its SQL text to add
//! filters and limits, which a string literal can confuse.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::TableReference;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::Expr;
use datafusion::sql::unparser::dialect::{MySqlDialect, PostgreSqlDialect};
use datafusion_table_providers_common::sql::db_connection_pool::dbconnection::query_arrow;
use datafusion_table_providers_common::sql::db_connection_pool::DbConnectionPool;
use datafusion_table_providers_common::sql::sql_provider_datafusion::SqlTable;
use datafusion_table_providers_common::UnsupportedTypeAction;
use datafusion_table_providers_mysql::pool::MySQLConnectionPool;
use datafusion_table_providers_postgres::pool::PostgresConnectionPool;
use secrecy::SecretString;

use super::connection::{ConnectionSpec, Engine};
use super::error::{connect_reason, error_chain, is_login_refused};
use super::secrets::Credentials;
use super::FederationError;

/// A remote table as the libraries see it: its Arrow schema, its SQL, its rows.
#[async_trait]
pub trait RemoteSql: std::fmt::Debug + Send + Sync {
    /// The remote table's columns, as the driver converts them.
    fn schema(&self) -> SchemaRef;

    /// `SELECT <columns> FROM <table> WHERE <filters> LIMIT <limit>` in the remote's dialect.
    fn sql(
        &self,
        projection: &[usize],
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<String>;

    /// Takes a connection from the pool, within `connect_timeout`.
    async fn query(
        &self,
        sql: String,
        schema: SchemaRef,
        connect_timeout: Duration,
    ) -> Result<SendableRecordBatchStream, QueryFailure>;
}

/// Why a remote query did not start.
#[derive(Debug)]
pub enum QueryFailure {
    Connect(String),
    TimedOut,
    Query(String),
}

#[async_trait]
impl<T: 'static, P: 'static> RemoteSql for SqlTable<T, P> {
    fn schema(&self) -> SchemaRef {
        datafusion::catalog::TableProvider::schema(self)
    }

    fn sql(
        &self,
        projection: &[usize],
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<String> {
        self.scan_to_sql(Some(&projection.to_vec()), filters, limit)
    }

    async fn query(
        &self,
        sql: String,
        schema: SchemaRef,
        connect_timeout: Duration,
    ) -> Result<SendableRecordBatchStream, QueryFailure> {
        let pool = self.clone_pool();
        let connection = tokio::time::timeout(connect_timeout, pool.connect())
            .await
            .map_err(|_| QueryFailure::TimedOut)?
            .map_err(|e| QueryFailure::Connect(error_chain(e.as_ref())))?;
        query_arrow(connection, sql, Some(schema))
            .await
            .map_err(|e| QueryFailure::Query(error_chain(&e)))
    }
}

/// A pool of connections to one remote database.
#[derive(Debug, Clone)]
pub enum RemotePool {
    Postgres(Arc<PostgresConnectionPool>),
    MySql(Arc<MySQLConnectionPool>),
}

impl RemotePool {
    pub fn engine(&self) -> Engine {
        match self {
            RemotePool::Postgres(_) => Engine::Postgres,
            RemotePool::MySql(_) => Engine::MySql,
        }
    }

    /// Builds the pool; the libraries open a first connection to check the login.
    pub async fn connect(
        spec: &ConnectionSpec,
        credentials: Credentials,
        pool_size: u32,
        timeout: Duration,
    ) -> Result<Self, FederationError> {
        let build = async {
            match spec.engine {
                Engine::Postgres => {
                    PostgresConnectionPool::new(pool_params(spec, credentials, pool_size))
                        .await
                        .map(|p| {
                            RemotePool::Postgres(Arc::new(
                                p.with_unsupported_type_action(UnsupportedTypeAction::String),
                            ))
                        })
                        .map_err(|e| error_chain(&e))
                }
                Engine::MySql => {
                    MySQLConnectionPool::new(pool_params(spec, credentials, pool_size))
                        .await
                        .map(|p| RemotePool::MySql(Arc::new(p)))
                        .map_err(|e| error_chain(&e))
                }
            }
        };
        let connection = spec.name.clone();
        match tokio::time::timeout(timeout, build).await {
            Err(_) => Err(FederationError::TimedOut {
                connection,
                seconds: timeout.as_secs(),
            }),
            Ok(Err(detail)) if is_login_refused(&detail) => {
                Err(FederationError::LoginRefused { connection, detail })
            }
            Ok(Err(detail)) => Err(FederationError::Unreachable {
                connection,
                reason: connect_reason(&detail),
                detail,
            }),
            Ok(Ok(pool)) => Ok(pool),
        }
    }

    /// Opens a remote table: asks the remote for its columns.
    pub async fn table(&self, reference: TableReference) -> Result<Arc<dyn RemoteSql>, String> {
        match self {
            RemotePool::Postgres(pool) => {
                let pool: Arc<dyn DbConnectionPool<_, _> + Send + Sync> = pool.clone();
                let table = SqlTable::new("postgres", &pool, reference).await;
                let table = table.map_err(|e| e.to_string())?;
                Ok(Arc::new(table.with_dialect(Arc::new(PostgreSqlDialect {}))))
            }
            RemotePool::MySql(pool) => {
                let pool: Arc<dyn DbConnectionPool<_, _> + Send + Sync> = pool.clone();
                let table = SqlTable::new("mysql", &pool, reference).await;
                let table = table.map_err(|e| e.to_string())?;
                Ok(Arc::new(table.with_dialect(Arc::new(MySqlDialect {}))))
            }
        }
    }
}

/// The libraries' pool parameters for a connection.
fn pool_params(
    spec: &ConnectionSpec,
    credentials: Credentials,
    pool_size: u32,
) -> HashMap<String, SecretString> {
    let tls = spec.enforce_ssl;
    let (port_key, size_key, sslmode) = match spec.engine {
        Engine::Postgres => (
            "port",
            "connection_pool_size",
            if tls { "verify-full" } else { "prefer" },
        ),
        // The MySQL library's "preferred" still fails against a server without TLS.
        Engine::MySql => (
            "tcp_port",
            "pool_max",
            if tls { "required" } else { "disabled" },
        ),
    };
    let mut params: HashMap<String, SecretString> = [
        ("host", spec.host.clone()),
        ("db", spec.database.clone()),
        ("user", credentials.username),
        (port_key, spec.port.to_string()),
        (size_key, pool_size.to_string()),
        ("sslmode", sslmode.to_owned()),
        // Shown in the remote's activity and logs (PostgreSQL; MySQL ignores it).
        ("application_name", "lakegate".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), SecretString::from(v)))
    .collect();
    if let Some(password) = credentials.password {
        params.insert("pass".to_owned(), password);
    }
    params
}
