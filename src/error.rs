//! One mapping from every error to the SQLSTATE and message a client sees (D11).
//!
//! Errors opt in to being shown: user mistakes (syntax, unknown names, bad data) carry their
//! message to the client; anything that could reveal the lake's internals (object store paths,
//! file errors, bugs) reaches the client as a generic message with the query id, and the detail
//! goes to the log only. Both matches below are exhaustive, so a new error variant cannot go
//! unclassified.

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;
use pgwire::error::{ErrorInfo, PgWireError};

/// The SQLSTATEs lakegate sends, named as in PostgreSQL's errcodes.txt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlState {
    SyntaxError,
    UndefinedTable,
    UndefinedColumn,
    UndefinedFunction,
    UndefinedObject,
    AmbiguousColumn,
    DuplicateColumn,
    GroupingError,
    SyntaxErrorOrAccessRuleViolation,
    InsufficientPrivilege,
    FeatureNotSupported,
    InvalidParameterValue,
    DivisionByZero,
    NumericValueOutOfRange,
    InvalidTextRepresentation,
    DataException,
    InvalidSqlStatementName,
    InFailedSqlTransaction,
    NoActiveSqlTransaction,
    CantChangeRuntimeParam,
    ProtocolViolation,
    QueryCanceled,
    OutOfMemory,
    IoError,
    UndefinedFile,
    SystemError,
    InternalError,
    DataCorrupted,
    InvalidAuthorizationSpecification,
    InvalidCursorName,
    DuplicateCursor,
    ObjectNotInPrerequisiteState,
    DuplicateTable,
    DuplicateSchema,
    InvalidSchemaName,
    WrongObjectType,
    ReservedName,
    SerializationFailure,
    UnableToConnect,
    FdwError,
    FdwTableNotFound,
    TooManyConnections,
}

impl SqlState {
    /// The state a code names: errors classified once and passed on as wire errors (a
    /// cursor's stream) keep their class.
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "42601" => SqlState::SyntaxError,
            "42P01" => SqlState::UndefinedTable,
            "42703" => SqlState::UndefinedColumn,
            "42883" => SqlState::UndefinedFunction,
            "42704" => SqlState::UndefinedObject,
            "42702" => SqlState::AmbiguousColumn,
            "42701" => SqlState::DuplicateColumn,
            "42803" => SqlState::GroupingError,
            "42000" => SqlState::SyntaxErrorOrAccessRuleViolation,
            "42501" => SqlState::InsufficientPrivilege,
            "0A000" => SqlState::FeatureNotSupported,
            "22023" => SqlState::InvalidParameterValue,
            "22012" => SqlState::DivisionByZero,
            "22003" => SqlState::NumericValueOutOfRange,
            "22P02" => SqlState::InvalidTextRepresentation,
            "22000" => SqlState::DataException,
            "26000" => SqlState::InvalidSqlStatementName,
            "25P02" => SqlState::InFailedSqlTransaction,
            "25P01" => SqlState::NoActiveSqlTransaction,
            "55P02" => SqlState::CantChangeRuntimeParam,
            "08P01" => SqlState::ProtocolViolation,
            "57014" => SqlState::QueryCanceled,
            "53200" => SqlState::OutOfMemory,
            "58030" => SqlState::IoError,
            "58P01" => SqlState::UndefinedFile,
            "58000" => SqlState::SystemError,
            "XX000" => SqlState::InternalError,
            "XX001" => SqlState::DataCorrupted,
            "28000" => SqlState::InvalidAuthorizationSpecification,
            "34000" => SqlState::InvalidCursorName,
            "42P03" => SqlState::DuplicateCursor,
            "55000" => SqlState::ObjectNotInPrerequisiteState,
            "42P07" => SqlState::DuplicateTable,
            "42P06" => SqlState::DuplicateSchema,
            "3F000" => SqlState::InvalidSchemaName,
            "42809" => SqlState::WrongObjectType,
            "42939" => SqlState::ReservedName,
            "40001" => SqlState::SerializationFailure,
            "08001" => SqlState::UnableToConnect,
            "HV000" => SqlState::FdwError,
            "HV00R" => SqlState::FdwTableNotFound,
            "53300" => SqlState::TooManyConnections,
            _ => return None,
        })
    }

    pub fn code(self) -> &'static str {
        match self {
            SqlState::SyntaxError => "42601",
            SqlState::UndefinedTable => "42P01",
            SqlState::UndefinedColumn => "42703",
            SqlState::UndefinedFunction => "42883",
            SqlState::UndefinedObject => "42704",
            SqlState::AmbiguousColumn => "42702",
            SqlState::DuplicateColumn => "42701",
            SqlState::GroupingError => "42803",
            SqlState::SyntaxErrorOrAccessRuleViolation => "42000",
            SqlState::InsufficientPrivilege => "42501",
            SqlState::FeatureNotSupported => "0A000",
            SqlState::InvalidParameterValue => "22023",
            SqlState::DivisionByZero => "22012",
            SqlState::NumericValueOutOfRange => "22003",
            SqlState::InvalidTextRepresentation => "22P02",
            SqlState::DataException => "22000",
            SqlState::InvalidSqlStatementName => "26000",
            SqlState::InFailedSqlTransaction => "25P02",
            SqlState::NoActiveSqlTransaction => "25P01",
            SqlState::CantChangeRuntimeParam => "55P02",
            SqlState::ProtocolViolation => "08P01",
            SqlState::QueryCanceled => "57014",
            SqlState::OutOfMemory => "53200",
            SqlState::IoError => "58030",
            SqlState::UndefinedFile => "58P01",
            SqlState::SystemError => "58000",
            SqlState::InternalError => "XX000",
            SqlState::DataCorrupted => "XX001",
            SqlState::InvalidAuthorizationSpecification => "28000",
            SqlState::InvalidCursorName => "34000",
            SqlState::DuplicateCursor => "42P03",
            SqlState::ObjectNotInPrerequisiteState => "55000",
            SqlState::DuplicateTable => "42P07",
            SqlState::DuplicateSchema => "42P06",
            SqlState::InvalidSchemaName => "3F000",
            SqlState::WrongObjectType => "42809",
            SqlState::ReservedName => "42939",
            SqlState::SerializationFailure => "40001",
            SqlState::UnableToConnect => "08001",
            SqlState::FdwError => "HV000",
            SqlState::FdwTableNotFound => "HV00R",
            SqlState::TooManyConnections => "53300",
        }
    }
}

/// What a client is told: a SQLSTATE and a message that is safe to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    pub state: SqlState,
    pub message: String,
}

impl ClientError {
    pub fn new(state: SqlState, message: impl Into<String>) -> Self {
        Self {
            state,
            message: message.into(),
        }
    }

    /// An error whose detail must stay in the log: the client gets a summary and the query id.
    pub(crate) fn hidden(state: SqlState, summary: &str, detail: &dyn std::fmt::Display) -> Self {
        let query_id = crate::session::query_id::current_or_new();
        tracing::error!(%query_id, sqlstate = state.code(), %detail, "{summary}");
        Self::new(state, format!("{summary} (query id {query_id})"))
    }

    /// The error an [`ErrorInfo`] made by [`Self::into_error_info`] carries.
    pub fn from_info(info: &ErrorInfo) -> Option<Self> {
        Some(Self::new(
            SqlState::from_code(&info.code)?,
            info.message.clone(),
        ))
    }

    pub fn into_error_info(self) -> ErrorInfo {
        ErrorInfo::new(
            "ERROR".to_owned(),
            self.state.code().to_owned(),
            self.message,
        )
    }

    pub fn into_pgwire(self) -> PgWireError {
        PgWireError::UserError(Box::new(self.into_error_info()))
    }
}

/// Errors raised by lakegate itself (not by the engine).
#[derive(Debug, thiserror::Error)]
pub enum LakegateError {
    #[error(transparent)]
    Engine(#[from] DataFusionError),
    #[error("syntax error: {0}")]
    Syntax(String),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("{0}")]
    NotSupported(String),
    #[error("unrecognized configuration parameter \"{0}\"")]
    UnknownSetting(String),
    #[error("parameter \"{0}\" cannot be changed")]
    ReadOnlySetting(String),
    #[error("invalid value for parameter \"{name}\": \"{value}\"")]
    InvalidSetting { name: String, value: String },
    #[error("prepared statement \"{0}\" does not exist")]
    UnknownPreparedStatement(String),
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    InFailedTransaction,
    #[error("{0}")]
    Protocol(String),
    #[error("savepoints can only be used in transaction blocks")]
    NoTransaction,
    #[error("cursor \"{0}\" does not exist")]
    UnknownCursor(String),
    #[error("cursor \"{0}\" already exists")]
    DuplicateCursor(String),
    #[error("DECLARE CURSOR can only be used in transaction blocks")]
    CursorOutsideTransaction,
    #[error("cursor can only scan forward")]
    CursorForwardOnly,
    #[error("canceling statement due to user request")]
    Canceled,
    #[error("canceling statement due to statement timeout")]
    StatementTimeout,
    /// The gateway runs as many statements as `limits.max_running_statements` allows and the
    /// queue behind them is full, or this statement waited its turn too long.
    #[error("the gateway is overloaded: {0}; try again shortly")]
    Overloaded(String),
    #[error(transparent)]
    Catalog(#[from] crate::catalog::backend::CatalogError),
    #[error(transparent)]
    Write(#[from] crate::write::WriteError),
    #[error(transparent)]
    Federation(#[from] crate::federation::FederationError),
    /// The token the session signed in with has expired (its statements stop; reconnect).
    #[error("the session's token has expired; connect again with a new token")]
    CredentialExpired,
    /// A policy element cannot be enforced (D6); the details are in the log.
    #[error("permission denied for table {table}: its access policy cannot be applied")]
    PolicyNotEnforceable { table: String },
    /// The statement's audit record could not be made durable (D9): it does not run.
    #[error("the audit log cannot be written, so the statement was not run (query id {query_id}); try again once an operator has fixed the audit log")]
    AuditUnavailable { query_id: String },
    /// An error already classified for the client (its message may carry the query id).
    #[error("{}", .0.message)]
    Reported(ClientError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl LakegateError {
    pub fn to_client(&self) -> ClientError {
        let shown = |state| ClientError::new(state, self.to_string());
        match self {
            LakegateError::Engine(e) => classify_engine_error(e),
            LakegateError::Syntax(_) => shown(SqlState::SyntaxError),
            LakegateError::PermissionDenied(_) => shown(SqlState::InsufficientPrivilege),
            LakegateError::NotSupported(_) => shown(SqlState::FeatureNotSupported),
            LakegateError::UnknownSetting(_) => shown(SqlState::UndefinedObject),
            LakegateError::ReadOnlySetting(_) => shown(SqlState::CantChangeRuntimeParam),
            LakegateError::InvalidSetting { .. } => shown(SqlState::InvalidParameterValue),
            LakegateError::InFailedTransaction => shown(SqlState::InFailedSqlTransaction),
            LakegateError::Protocol(_) => shown(SqlState::ProtocolViolation),
            LakegateError::NoTransaction => shown(SqlState::NoActiveSqlTransaction),
            LakegateError::UnknownPreparedStatement(_) => shown(SqlState::InvalidSqlStatementName),
            LakegateError::UnknownCursor(_) => shown(SqlState::InvalidCursorName),
            LakegateError::DuplicateCursor(_) => shown(SqlState::DuplicateCursor),
            LakegateError::CursorOutsideTransaction => shown(SqlState::NoActiveSqlTransaction),
            LakegateError::CursorForwardOnly => shown(SqlState::ObjectNotInPrerequisiteState),
            LakegateError::Canceled | LakegateError::StatementTimeout => {
                shown(SqlState::QueryCanceled)
            }
            LakegateError::Overloaded(_) => shown(SqlState::TooManyConnections),
            LakegateError::Catalog(e) => classify_catalog_error(e),
            LakegateError::Write(e) => e.to_client(),
            LakegateError::Federation(e) => e.to_client(),
            LakegateError::CredentialExpired => shown(SqlState::InvalidAuthorizationSpecification),
            LakegateError::PolicyNotEnforceable { .. } => {
                let query_id = crate::session::query_id::current_or_new();
                tracing::error!(%query_id, "{self}: see the preceding log lines for the cause");
                ClientError::new(
                    SqlState::InsufficientPrivilege,
                    format!("{self} (query id {query_id})"),
                )
            }
            LakegateError::AuditUnavailable { .. } => shown(SqlState::IoError),
            LakegateError::Reported(error) => error.clone(),
            LakegateError::Internal(_) => {
                ClientError::hidden(SqlState::InternalError, "internal error", self)
            }
        }
    }

    pub fn into_pgwire(self) -> PgWireError {
        self.to_client().into_pgwire()
    }
}

impl From<ParserError> for LakegateError {
    fn from(e: ParserError) -> Self {
        LakegateError::Syntax(parser_message(&e))
    }
}

fn parser_message(e: &ParserError) -> String {
    match e {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m.clone(),
        ParserError::RecursionLimitExceeded => "statement is nested too deeply".to_owned(),
    }
}

/// Walks a DataFusion error to its root cause and classifies that.
pub fn classify_engine_error(error: &DataFusionError) -> ClientError {
    use DataFusionError as E;
    match error.find_root() {
        E::ArrowError(e, _) => classify_arrow_error(e),
        E::SQL(e, _) => ClientError::new(
            SqlState::SyntaxError,
            format!("syntax error: {}", parser_message(e)),
        ),
        E::SchemaError(e, _) => crate::error::schema::classify(e),
        E::Plan(m) => crate::error::schema::classify_plan_message(m),
        E::NotImplemented(m) => {
            ClientError::new(SqlState::FeatureNotSupported, format!("not supported: {m}"))
        }
        E::Configuration(m) => ClientError::new(SqlState::InvalidParameterValue, m.clone()),
        E::ResourcesExhausted(_) => ClientError::new(
            SqlState::OutOfMemory,
            "out of memory: the query needs more memory than the gateway's limit allows",
        ),
        E::Execution(m) => crate::error::schema::classify_execution_message(m, error),
        E::Collection(errors) => errors.first().map_or_else(
            || ClientError::hidden(SqlState::InternalError, "internal error", error),
            classify_engine_error,
        ),
        E::Shared(inner) => classify_engine_error(inner),
        E::Diagnostic(_, inner) | E::Context(_, inner) => classify_engine_error(inner),
        E::External(inner) => classify_external(inner.as_ref(), error),
        E::ObjectStore(_) | E::IoError(_) => ClientError::hidden(
            SqlState::IoError,
            "could not read from the lake's storage",
            error,
        ),
        E::ParquetError(_) => {
            ClientError::hidden(SqlState::IoError, "could not read a data file", error)
        }
        E::ExecutionJoin(_) | E::Internal(_) | E::Substrait(_) | E::Ffi(_) => {
            ClientError::hidden(SqlState::InternalError, "internal error", error)
        }
    }
}

fn classify_external(
    inner: &(dyn std::error::Error + Send + Sync + 'static),
    whole: &DataFusionError,
) -> ClientError {
    if let Some(e) = inner.downcast_ref::<LakegateError>() {
        return e.to_client();
    }
    if let Some(e) = inner.downcast_ref::<crate::catalog::backend::CatalogError>() {
        return classify_catalog_error(e);
    }
    if let Some(e) = inner.downcast_ref::<ArrowError>() {
        return classify_arrow_error(e);
    }
    ClientError::hidden(SqlState::IoError, "could not read from the lake", whole)
}

/// Catalog errors name the table or the backend, never endpoints, paths or credentials: those
/// stay in the log, next to the query id the client is given.
fn classify_catalog_error(e: &crate::catalog::backend::CatalogError) -> ClientError {
    use crate::catalog::backend::CatalogError as C;
    let state = match e {
        C::Unavailable { .. } => SqlState::SystemError,
        C::BadTable { .. } => SqlState::FeatureNotSupported,
        C::Unreadable { .. } => SqlState::IoError,
        C::Missing { .. } => SqlState::UndefinedFile,
        C::Corrupt { .. } => SqlState::DataCorrupted,
        C::AlreadyExists { .. } => {
            return ClientError::new(SqlState::DuplicateTable, e.to_string())
        }
        C::NotFound { .. } => return ClientError::new(SqlState::UndefinedTable, e.to_string()),
        C::ReadOnly(_) => return ClientError::new(SqlState::FeatureNotSupported, e.to_string()),
    };
    let query_id = crate::session::query_id::current_or_new();
    tracing::error!(%query_id, sqlstate = state.code(), detail = e.log_detail(), "{e}");
    ClientError::new(state, format!("{e} (query id {query_id})"))
}

fn classify_arrow_error(e: &ArrowError) -> ClientError {
    use ArrowError as A;
    let shown = |state, message: &str| ClientError::new(state, message.to_owned());
    match e {
        A::DivideByZero => shown(SqlState::DivisionByZero, "division by zero"),
        A::ArithmeticOverflow(m) => shown(
            SqlState::NumericValueOutOfRange,
            &format!("value out of range: {m}"),
        ),
        A::CastError(m) | A::ParseError(m) => shown(
            SqlState::InvalidTextRepresentation,
            &format!("invalid input: {m}"),
        ),
        A::InvalidArgumentError(m) => shown(SqlState::InvalidParameterValue, m),
        A::ComputeError(m) => shown(SqlState::DataException, m),
        A::NotYetImplemented(m) => shown(
            SqlState::FeatureNotSupported,
            &format!("not supported: {m}"),
        ),
        A::MemoryError(_) => shown(SqlState::OutOfMemory, "out of memory"),
        A::CsvError(_)
        | A::JsonError(_)
        | A::IpcError(_)
        | A::ParquetError(_)
        | A::AvroError(_) => ClientError::hidden(
            SqlState::DataException,
            "a data file could not be decoded",
            e,
        ),
        A::IoError(..) | A::ExternalError(_) => {
            ClientError::hidden(SqlState::IoError, "could not read from the lake", e)
        }
        A::SchemaError(_)
        | A::CDataInterface(_)
        | A::DictionaryKeyOverflowError
        | A::RunEndIndexOverflowError
        | A::OffsetOverflowError(_) => {
            ClientError::hidden(SqlState::InternalError, "internal error", e)
        }
    }
}

mod schema;
