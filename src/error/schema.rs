//! Name-resolution and planning errors, worded as PostgreSQL words them (D13): clients and
//! people match on `relation "x" does not exist` and `column "x" does not exist`.

use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;

use super::{ClientError, SqlState};

/// The catalog name DataFusion prefixes to resolved table names; PostgreSQL does not show it.
const CATALOG_PREFIX: &str = "lake.";

pub(super) fn classify(e: &SchemaError) -> ClientError {
    match e {
        SchemaError::FieldNotFound { field, .. } => ClientError::new(
            SqlState::UndefinedColumn,
            format!("column \"{}\" does not exist", field.flat_name()),
        ),
        SchemaError::AmbiguousReference { field } => ClientError::new(
            SqlState::AmbiguousColumn,
            format!("column reference \"{}\" is ambiguous", field.name),
        ),
        SchemaError::DuplicateQualifiedField { qualifier, name } => ClientError::new(
            SqlState::DuplicateColumn,
            format!("column \"{qualifier}.{name}\" specified more than once"),
        ),
        SchemaError::DuplicateUnqualifiedField { name } => ClientError::new(
            SqlState::DuplicateColumn,
            format!("column \"{name}\" specified more than once"),
        ),
    }
}

/// DataFusion reports most planning errors as `Plan(String)`; the few that PostgreSQL clients
/// depend on are recognised by their (stable) wording.
pub(super) fn classify_plan_message(message: &str) -> ClientError {
    if let Some(name) = message
        .strip_prefix("table '")
        .and_then(|rest| rest.strip_suffix("' not found"))
    {
        let name = name.strip_prefix(CATALOG_PREFIX).unwrap_or(name);
        return ClientError::new(
            SqlState::UndefinedTable,
            format!("relation \"{name}\" does not exist"),
        );
    }
    if let Some(rest) = message.strip_prefix("Invalid function '") {
        let name = rest.split('\'').next().unwrap_or_default();
        return ClientError::new(
            SqlState::UndefinedFunction,
            format!("function {name} does not exist"),
        );
    }
    let first_line = message.lines().next().unwrap_or_default();
    if first_line.contains("must appear in the GROUP BY")
        || first_line.contains("must be in GROUP BY")
    {
        return ClientError::new(SqlState::GroupingError, first_line);
    }
    if first_line.contains("No function matches") || first_line.contains("does not support") {
        return ClientError::new(SqlState::UndefinedFunction, first_line);
    }
    ClientError::new(SqlState::SyntaxErrorOrAccessRuleViolation, first_line)
}

/// Execution errors are shown only when they describe the user's data or expression; others
/// can name files and paths, so they stay in the log.
pub(super) fn classify_execution_message(message: &str, whole: &DataFusionError) -> ClientError {
    if let Some(name) = message
        .strip_prefix("Prepared statement '")
        .and_then(|rest| rest.strip_suffix("' does not exist"))
    {
        return ClientError::new(
            SqlState::InvalidSqlStatementName,
            format!("prepared statement \"{name}\" does not exist"),
        );
    }
    let lower = message.to_ascii_lowercase();
    if lower.contains("divide by zero") || lower.contains("division by zero") {
        return ClientError::new(SqlState::DivisionByZero, "division by zero");
    }
    if lower.contains("overflow") {
        return ClientError::new(SqlState::NumericValueOutOfRange, "value out of range");
    }
    if lower.starts_with("cannot cast") || lower.contains("invalid input syntax") {
        return ClientError::new(
            SqlState::InvalidTextRepresentation,
            message.lines().next().unwrap_or_default(),
        );
    }
    ClientError::hidden(
        SqlState::DataException,
        "the query could not be executed",
        whole,
    )
}

#[cfg(test)]
mod tests {
    use super::super::classify_engine_error;
    use super::*;

    fn code(e: DataFusionError) -> (&'static str, String) {
        let c = classify_engine_error(&e);
        (c.state.code(), c.message)
    }

    #[test]
    fn unknown_table_reads_like_postgres() {
        let (state, message) = code(DataFusionError::Plan(
            "table 'lake.sales.nope' not found".into(),
        ));
        assert_eq!(
            (state, message.as_str()),
            ("42P01", "relation \"sales.nope\" does not exist")
        );
    }

    #[test]
    fn context_is_walked_to_the_root() {
        let root = DataFusionError::ArrowError(
            Box::new(datafusion::arrow::error::ArrowError::DivideByZero),
            None,
        );
        assert_eq!(code(root.context("while filtering")).0, "22012");
    }

    #[test]
    fn storage_errors_hide_their_paths() {
        let io = std::io::Error::other("/secret/lake/root/file.parquet: permission denied");
        let (state, message) = code(DataFusionError::IoError(io));
        assert_eq!(state, "58030");
        assert!(!message.contains("/secret"), "{message}");
    }
}
