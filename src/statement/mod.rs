//! Parse and classify: SQL text → the commands a session runs.
//!
//! Parsing goes through datafusion-pg-catalog's PostgreSQL compatibility parser (PostgreSQL
//! dialect plus rewrites for the catalog queries psql, pgcli and others send). Classification
//! decides what runs in DataFusion (queries), what the session answers itself (SET, SHOW,
//! transactions, DISCARD, DEALLOCATE) and what is refused because it could escape the gateway.

mod classify;
mod cursor;
mod rewrite;

use std::sync::LazyLock;

use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;

use crate::error::LakegateError;
pub use classify::classify;
pub use rewrite::DUPLICATE_ALIAS_PREFIX;

static PARSER: LazyLock<PostgresCompatibilityParser> =
    LazyLock::new(PostgresCompatibilityParser::new);

/// What a session does with one statement.
#[derive(Debug, Clone)]
pub enum Command {
    /// Planned and run by DataFusion: SELECT, VALUES, EXPLAIN, SQL-level PREPARE/EXECUTE.
    Query(Box<Statement>),
    /// `COPY (query) TO STDOUT` / `COPY table TO STDOUT`.
    CopyOut {
        query: Box<Statement>,
        format: CopyFormat,
    },
    /// SET name = value; `None` is SET … TO DEFAULT.
    Set {
        name: String,
        value: Option<String>,
    },
    /// Statements accepted for compatibility that change nothing here (SET TRANSACTION …).
    Ignored {
        tag: &'static str,
    },
    Show {
        name: String,
    },
    ShowAll,
    Reset {
        name: Option<String>,
    },
    Begin,
    Commit,
    Rollback,
    Savepoint,
    ReleaseSavepoint,
    RollbackToSavepoint,
    DiscardAll,
    /// DEALLOCATE name; `None` is DEALLOCATE ALL.
    Deallocate {
        name: Option<String>,
    },
    /// DECLARE name [BINARY] CURSOR [WITH HOLD] FOR query.
    Declare {
        name: String,
        query: Box<Statement>,
        hold: bool,
        binary: bool,
    },
    /// FETCH (or, with `discard`, MOVE) from a cursor or a protocol-level portal.
    Fetch {
        name: String,
        count: FetchCount,
        discard: bool,
    },
    /// CLOSE name; `None` is CLOSE ALL.
    Close {
        name: Option<String>,
    },
    /// A statement that changes the lake or the catalog (CTAS, views, INSERT, DELETE, …).
    Write(Box<crate::write::WriteCommand>),
}

/// How many rows a FETCH or MOVE reads forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchCount {
    Rows(usize),
    All,
}

impl Command {
    /// pgaudit's statement class and the command tag, for the audit record.
    pub fn audit_class(&self) -> (&'static str, String) {
        let misc = |tag: &str| ("MISC", tag.to_owned());
        match self {
            Command::Query(statement) => match statement.as_ref() {
                Statement::Explain { .. } | Statement::ExplainTable { .. } => misc("EXPLAIN"),
                Statement::Prepare { .. } => misc("PREPARE"),
                Statement::Execute { .. } => ("READ", "EXECUTE".to_owned()),
                Statement::Deallocate { .. } => misc("DEALLOCATE"),
                _ => ("READ", "SELECT".to_owned()),
            },
            Command::CopyOut { .. } => ("READ", "COPY".to_owned()),
            Command::Set { .. } => ("MISC_SET", "SET".to_owned()),
            Command::Reset { .. } => ("MISC_SET", "RESET".to_owned()),
            Command::Show { .. } | Command::ShowAll => misc("SHOW"),
            Command::Ignored { tag } => misc(tag),
            Command::Begin => misc("BEGIN"),
            Command::Commit => misc("COMMIT"),
            Command::Rollback | Command::RollbackToSavepoint => misc("ROLLBACK"),
            Command::Savepoint => misc("SAVEPOINT"),
            Command::ReleaseSavepoint => misc("RELEASE"),
            Command::DiscardAll => misc("DISCARD ALL"),
            Command::Deallocate { .. } => misc("DEALLOCATE"),
            Command::Declare { .. } => ("READ", "DECLARE CURSOR".to_owned()),
            Command::Fetch { discard: false, .. } => misc("FETCH"),
            Command::Fetch { discard: true, .. } => misc("MOVE"),
            Command::Close { .. } => misc("CLOSE CURSOR"),
            Command::Write(write) => {
                let (class, tag) = write.audit_class();
                (class, tag.to_owned())
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    Text,
    Csv { header: bool },
    Binary,
}

/// Parses a query string (possibly several statements) into commands.
pub fn parse(sql: &str) -> Result<Vec<Command>, LakegateError> {
    if let Some((fetch, is_move)) = cursor::respell_fetch(sql) {
        let commands = parse_statements(&fetch)?;
        return Ok(match is_move {
            true => commands.into_iter().map(as_move).collect(),
            false => commands,
        });
    }
    parse_statements(sql)
}

fn parse_statements(sql: &str) -> Result<Vec<Command>, LakegateError> {
    let statements = match PARSER.parse(sql) {
        Ok(statements) => statements,
        Err(e) => return Err(refuse_datafusion_only_syntax(sql).unwrap_or_else(|| e.into())),
    };
    statements
        .into_iter()
        .map(|s| classify(rewrite::rewrite(s)))
        .collect()
}

fn as_move(command: Command) -> Command {
    match command {
        Command::Fetch { name, count, .. } => Command::Fetch {
            name,
            count,
            discard: true,
        },
        other => other,
    }
}

/// DataFusion extends SQL with statements that read or write arbitrary locations (CREATE
/// EXTERNAL TABLE, COPY … TO 'url'). The PostgreSQL parser rejects them as syntax errors; they
/// are reported as refused instead, so nobody mistakes the refusal for a typo.
fn refuse_datafusion_only_syntax(sql: &str) -> Option<LakegateError> {
    use datafusion::sql::parser::{DFParser, Statement as DfStatement};
    let statements = DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {}).ok()?;
    statements.iter().find_map(|s| match s {
        DfStatement::CreateExternalTable(_) => Some(LakegateError::PermissionDenied(
            "CREATE EXTERNAL TABLE is not allowed; tables come from the catalog".into(),
        )),
        DfStatement::CopyTo(_) => Some(LakegateError::PermissionDenied(
            "COPY to a file or URL is not allowed; use COPY … TO STDOUT".into(),
        )),
        _ => None,
    })
}

#[cfg(test)]
mod tests;
