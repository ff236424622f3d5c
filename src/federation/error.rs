//! What goes wrong with a remote database, as clients see it: the connection is named, its host,
//! user and secret never are (they go to the log with the query id).

use crate::error::{ClientError, SqlState};

#[derive(Debug, Clone, thiserror::Error)]
pub enum FederationError {
    /// The connection's definition cannot be used (no secret, a password in the catalog …).
    /// `problem` names settings, never their values.
    #[error("federated connection \"{connection}\" cannot be used: {problem}")]
    Misconfigured { connection: String, problem: String },
    /// A table names a connection that neither the configuration nor the catalog defines.
    #[error("federated connection \"{connection}\" is not defined")]
    UnknownConnection { connection: String },
    /// The remote could not be reached.
    #[error("could not connect to federated source \"{connection}\": {reason}")]
    Unreachable {
        connection: String,
        reason: &'static str,
        detail: String,
    },
    /// The remote did not accept the connection's credentials.
    #[error(
        "could not connect to federated source \"{connection}\": the remote refused the login"
    )]
    LoginRefused { connection: String, detail: String },
    /// No connection within the connect timeout.
    #[error(
        "could not connect to federated source \"{connection}\": no answer within {seconds} s"
    )]
    TimedOut { connection: String, seconds: u64 },
    /// The remote failed the query after accepting it.
    #[error("federated source \"{connection}\" could not run the query")]
    RemoteFailed { connection: String, detail: String },
    /// The catalog's table does not match the remote table (gone, or columns missing).
    #[error("table {table} does not match its remote table")]
    RemoteTable { table: String, detail: String },
}

impl FederationError {
    pub fn to_client(&self) -> ClientError {
        use FederationError as F;
        match self {
            F::Misconfigured { .. } | F::UnknownConnection { .. } => {
                tracing::error!("{self}");
                ClientError::new(SqlState::FdwError, self.to_string())
            }
            F::Unreachable { detail, .. } | F::LoginRefused { detail, .. } => {
                let summary = self.to_string();
                ClientError::hidden(SqlState::UnableToConnect, &summary, detail)
            }
            F::TimedOut { .. } => {
                ClientError::hidden(SqlState::UnableToConnect, &self.to_string(), self)
            }
            F::RemoteFailed { detail, .. } => {
                ClientError::hidden(SqlState::FdwError, &self.to_string(), detail)
            }
            F::RemoteTable { detail, .. } => {
                ClientError::hidden(SqlState::FdwTableNotFound, &self.to_string(), detail)
            }
        }
    }

    pub fn into_datafusion(self) -> datafusion::error::DataFusionError {
        datafusion::error::DataFusionError::External(Box::new(
            crate::error::LakegateError::Federation(self),
        ))
    }
}

/// A short reason for a failed connection, from the driver's message (which goes to the log).
pub fn connect_reason(detail: &str) -> &'static str {
    let lower = detail.to_ascii_lowercase();
    if lower.contains("refused") && !lower.contains("access denied") {
        "connection refused"
    } else if lower.contains("cannot connect to") || lower.contains("failed to connect to") {
        // The drivers check the address with a TCP connect of their own first, and keep
        // only this summary of why it failed.
        "the server is not reachable"
    } else if lower.contains("timed out") || lower.contains("timeout") {
        "the connection timed out"
    } else if lower.contains("lookup")
        || lower.contains("resolve")
        || lower.contains("name or service")
    {
        "the host name does not resolve"
    } else if lower.contains("does not exist") || lower.contains("unknown database") {
        "the remote database or login does not exist"
    } else {
        "the connection failed"
    }
}

/// Whether a driver's message says the login was refused.
pub fn is_login_refused(detail: &str) -> bool {
    let lower = detail.to_ascii_lowercase();
    lower.contains("authentication failed")
        || lower.contains("access denied")
        || lower.contains("password authentication")
        || lower.contains("verify username and password")
        || lower.contains("no pg_hba.conf entry")
        || (lower.contains("role") && lower.contains("does not exist"))
}

/// An error and its causes, one line: the drivers' own messages often say only "connection
/// failed" and keep the reason ("Connection refused") in a source.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.replace('\n', " ")
}
