//! What a write tells the client: PostgreSQL's SQLSTATEs and messages for the same mistakes,
//! and storage failures summarized (the detail, with paths, goes to the log only).

use crate::error::{ClientError, SqlState};

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("relation \"{0}\" already exists")]
    DuplicateTable(String),
    #[error("schema \"{0}\" already exists")]
    DuplicateSchema(String),
    #[error("relation \"{0}\" does not exist")]
    UndefinedTable(String),
    #[error("schema \"{0}\" does not exist")]
    UndefinedSchema(String),
    #[error("no schema has been selected to create in")]
    NoSchemaSelected,
    #[error("\"{name}\" is not a {expected}")]
    WrongObjectType {
        name: String,
        expected: &'static str,
    },
    #[error("column \"{column}\" of relation \"{table}\" does not exist")]
    UndefinedColumn { table: String, column: String },
    #[error("{0}")]
    ColumnCount(String),
    #[error("column \"{0}\" specified more than once")]
    DuplicateColumn(String),
    #[error("unacceptable schema name \"{0}\"")]
    ReservedName(String),
    /// Another writer committed to the table since this statement read it.
    #[error("could not write table {0}: it was changed by another statement; run it again")]
    Conflict(String),
    #[error("permission denied for {0}")]
    PermissionDenied(String),
    #[error("{0}")]
    Unsupported(String),
    /// The query whose rows were being written failed (nothing was committed).
    #[error(transparent)]
    Query(datafusion::error::DataFusionError),
    /// The data could not be written; nothing was committed.
    #[error("could not write table {table}")]
    Storage { table: String, detail: String },
}

impl WriteError {
    /// The storage failure's full story, for the log.
    pub fn storage(table: &str, detail: impl std::fmt::Display) -> Self {
        WriteError::Storage {
            table: table.to_owned(),
            detail: detail.to_string(),
        }
    }

    pub fn to_client(&self) -> ClientError {
        let shown = |state| ClientError::new(state, self.to_string());
        match self {
            WriteError::DuplicateTable(_) => shown(SqlState::DuplicateTable),
            WriteError::DuplicateSchema(_) => shown(SqlState::DuplicateSchema),
            WriteError::UndefinedTable(_) => shown(SqlState::UndefinedTable),
            WriteError::UndefinedSchema(_) | WriteError::NoSchemaSelected => {
                shown(SqlState::InvalidSchemaName)
            }
            WriteError::WrongObjectType { .. } => shown(SqlState::WrongObjectType),
            WriteError::UndefinedColumn { .. } => shown(SqlState::UndefinedColumn),
            WriteError::ColumnCount(_) => shown(SqlState::SyntaxError),
            WriteError::DuplicateColumn(_) => shown(SqlState::DuplicateColumn),
            WriteError::ReservedName(_) => shown(SqlState::ReservedName),
            WriteError::Conflict(_) => shown(SqlState::SerializationFailure),
            WriteError::PermissionDenied(_) => shown(SqlState::InsufficientPrivilege),
            WriteError::Unsupported(_) => shown(SqlState::FeatureNotSupported),
            WriteError::Query(e) => crate::error::classify_engine_error(e),
            WriteError::Storage { detail, .. } => {
                ClientError::hidden(SqlState::IoError, &self.to_string(), detail)
            }
        }
    }
}
