//! Connections to operational databases, as Glue keeps them: a JDBC URL and the credentials by
//! reference (`SECRET_ID`), never in clear. The fixtures backend takes the same in
//! `lakegate.toml` (`[federation.connections.NAME]`).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::Deserialize;

use super::FederationError;

/// `[federation]` in `lakegate.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    /// A JSON file mapping secret ids to `{"username": …, "password": …}` (the shape of an AWS
    /// Secrets Manager secret). `LAKEGATE_SECRET_<ID>` in the environment takes precedence.
    pub secrets_file: Option<PathBuf>,
    /// Seconds to wait for a connection (including its login) before the statement fails.
    pub connect_timeout_seconds: u64,
    /// Connections kept open to one remote database at most.
    pub pool_size: u32,
    /// Whether projections, filters and limits are sent to the remote (off: every row and
    /// column is fetched and everything is evaluated here; for comparison and diagnosis).
    pub pushdown: bool,
    /// Connections by name; catalog tables name them in their `connectionName` parameter.
    pub connections: BTreeMap<String, ConnectionConfig>,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            secrets_file: None,
            connect_timeout_seconds: 5,
            pool_size: 4,
            pushdown: true,
            connections: BTreeMap::new(),
        }
    }
}

/// One connection in `lakegate.toml`, with Glue's connection properties in lower case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// `jdbc:postgresql://host:port/database` or `jdbc:mysql://host:port/database`.
    pub jdbc_connection_url: String,
    /// Where the credentials are: a key of the secrets file or of `LAKEGATE_SECRET_<ID>`.
    pub secret_id: Option<String>,
    /// Require TLS to the remote (Glue's `JDBC_ENFORCE_SSL`).
    #[serde(default)]
    pub jdbc_enforce_ssl: bool,
}

/// Which kind of database a connection reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    MySql,
}

/// A connection, resolved from the configuration or the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSpec {
    pub name: String,
    pub engine: Engine,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub secret_id: Option<String>,
    pub enforce_ssl: bool,
}

impl ConnectionSpec {
    pub fn from_config(name: &str, config: &ConnectionConfig) -> Result<Self, FederationError> {
        let mut properties = HashMap::from([(
            "JDBC_CONNECTION_URL".to_owned(),
            config.jdbc_connection_url.clone(),
        )]);
        if let Some(secret) = &config.secret_id {
            properties.insert("SECRET_ID".to_owned(), secret.clone());
        }
        properties.insert(
            "JDBC_ENFORCE_SSL".to_owned(),
            config.jdbc_enforce_ssl.to_string(),
        );
        Self::from_properties(name, &properties)
    }

    /// From Glue's `ConnectionProperties`. A password stored in the catalog is refused: it
    /// would be readable by everyone who may read the catalog.
    pub fn from_properties(
        name: &str,
        properties: &HashMap<String, String>,
    ) -> Result<Self, FederationError> {
        let bad = |problem: &str| FederationError::Misconfigured {
            connection: name.to_owned(),
            problem: problem.to_owned(),
        };
        if properties.contains_key("PASSWORD") || properties.contains_key("ENCRYPTED_PASSWORD") {
            return Err(bad("it stores a password in the catalog; store the credentials in a secret and name it in SECRET_ID"));
        }
        let url = properties
            .get("JDBC_CONNECTION_URL")
            .ok_or_else(|| bad("it has no JDBC_CONNECTION_URL"))?;
        let parsed = url::Url::parse(url.strip_prefix("jdbc:").unwrap_or(url))
            .map_err(|_| bad("its JDBC_CONNECTION_URL is not a URL"))?;
        let (engine, default_port) = match parsed.scheme() {
            "postgresql" | "postgres" => (Engine::Postgres, 5432),
            "mysql" | "mariadb" => (Engine::MySql, 3306),
            _ => {
                return Err(bad(
                    "only PostgreSQL and MySQL/MariaDB JDBC URLs are supported",
                ))
            }
        };
        let has_password = parsed.password().is_some()
            || parsed
                .query_pairs()
                .any(|(k, _)| k.eq_ignore_ascii_case("password"));
        if has_password {
            return Err(bad("its JDBC URL carries a password; store the credentials in a secret and name it in SECRET_ID"));
        }
        let database = parsed.path().trim_start_matches('/').to_owned();
        if database.is_empty() {
            return Err(bad("its JDBC URL names no database"));
        }
        Ok(Self {
            name: name.to_owned(),
            engine,
            host: parsed
                .host_str()
                .ok_or_else(|| bad("its JDBC URL names no host"))?
                .to_owned(),
            port: parsed.port().unwrap_or(default_port),
            database,
            secret_id: properties.get("SECRET_ID").cloned(),
            enforce_ssl: properties
                .get("JDBC_ENFORCE_SSL")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn glue_properties_become_a_spec() {
        let spec = ConnectionSpec::from_properties(
            "ops",
            &props(&[
                ("JDBC_CONNECTION_URL", "jdbc:mysql://db.internal/ops"),
                ("SECRET_ID", "ops-secret"),
            ]),
        )
        .unwrap();
        assert_eq!(spec.engine, Engine::MySql);
        assert_eq!((spec.host.as_str(), spec.port), ("db.internal", 3306));
        assert_eq!(spec.database, "ops");
        assert_eq!(spec.secret_id.as_deref(), Some("ops-secret"));
    }

    #[test]
    fn passwords_in_the_catalog_are_refused_without_being_repeated() {
        for properties in [
            props(&[
                ("JDBC_CONNECTION_URL", "jdbc:postgresql://h/db"),
                ("PASSWORD", "hunter2"),
            ]),
            props(&[("JDBC_CONNECTION_URL", "jdbc:postgresql://u:hunter2@h/db")]),
            props(&[(
                "JDBC_CONNECTION_URL",
                "jdbc:postgresql://h/db?user=u&password=hunter2",
            )]),
        ] {
            let error = ConnectionSpec::from_properties("ops", &properties).unwrap_err();
            let message = error.to_string();
            assert!(
                message.contains("\"ops\"") && message.contains("secret"),
                "{message}"
            );
            assert!(!message.contains("hunter2"), "{message}");
        }
    }
}
