//! Statement → [`Command`], with the refusals of D10: nothing a client sends may read or write
//! outside the catalog's tables or change the engine's configuration.

use datafusion::sql::sqlparser::ast::{
    CopyLegacyOption, CopyOption, CopySource, CopyTarget, DiscardObject, Expr, Reset,
    ResetStatement, Set, Statement, Value,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::{Command, CopyFormat};
use crate::error::LakegateError;

pub fn classify(statement: Statement) -> Result<Command, LakegateError> {
    Ok(match statement {
        Statement::Query(_) | Statement::Explain { .. } | Statement::Prepare { .. } => {
            Command::Query(Box::new(statement))
        }
        Statement::Execute { .. } => Command::Query(Box::new(statement)),
        Statement::Set(set) => classify_set(set)?,
        Statement::ShowVariable { variable } => {
            let words: Vec<String> = variable
                .iter()
                .map(|i| i.value.to_ascii_lowercase())
                .collect();
            match words.join(" ").as_str() {
                "all" => Command::ShowAll,
                "time zone" => Command::Show {
                    name: "TimeZone".into(),
                },
                "transaction isolation level" => Command::Show {
                    name: "transaction_isolation".into(),
                },
                name => Command::Show {
                    name: name.to_owned(),
                },
            }
        }
        Statement::Reset(ResetStatement { reset }) => match reset {
            Reset::ALL => Command::Reset { name: None },
            Reset::ConfigurationParameter(name) => Command::Reset {
                name: Some(name.to_string()),
            },
        },
        Statement::StartTransaction { .. } => Command::Begin,
        Statement::Commit { .. } => Command::Commit,
        Statement::Rollback {
            savepoint: Some(_), ..
        } => Command::RollbackToSavepoint,
        Statement::Rollback { .. } => Command::Rollback,
        Statement::Savepoint { .. } => Command::Savepoint,
        Statement::ReleaseSavepoint { .. } => Command::ReleaseSavepoint,
        Statement::Discard {
            object_type: DiscardObject::ALL,
        } => Command::DiscardAll,
        Statement::Discard { .. } => Command::Ignored { tag: "DISCARD" },
        Statement::Deallocate { name, .. } => Command::Deallocate {
            name: (!name.value.eq_ignore_ascii_case("all")).then_some(name.value),
        },
        // Nothing is ever listened to, so there is nothing to stop listening to (asyncpg's pool
        // reset sends UNLISTEN *); LISTEN itself would wait for notifications that never come.
        Statement::UNLISTEN { .. } => Command::Ignored { tag: "UNLISTEN" },
        Statement::LISTEN { .. } | Statement::NOTIFY { .. } => {
            return Err(LakegateError::NotSupported(
                "LISTEN and NOTIFY are not supported by this gateway".into(),
            ))
        }
        Statement::Declare { stmts } => super::cursor::declare(stmts)?,
        Statement::Fetch {
            name, direction, ..
        } => super::cursor::fetch(name, direction)?,
        Statement::Close { cursor } => super::cursor::close(cursor),
        Statement::Copy {
            source,
            to,
            target,
            options,
            legacy_options,
            ..
        } => classify_copy(source, to, target, &options, &legacy_options)?,
        // D10: tables come from the catalog, never from a path a client names.
        Statement::CreateTable(create) if create.external || create.location.is_some() => {
            return Err(LakegateError::PermissionDenied(
                "CREATE EXTERNAL TABLE is not allowed; tables come from the catalog".into(),
            ))
        }
        Statement::CreateSchema { .. }
        | Statement::CreateTable(_)
        | Statement::CreateView(_)
        | Statement::AlterTable(_)
        | Statement::Drop { .. }
        | Statement::Insert(_)
        | Statement::Delete(_)
        | Statement::Truncate(_) => {
            Command::Write(Box::new(crate::write::classify_write(statement)?))
        }
        other => return Err(refused(&other)),
    })
}

fn refused(statement: &Statement) -> LakegateError {
    let text = statement.to_string();
    let kind: Vec<&str> = text.split_whitespace().take(2).collect();
    LakegateError::NotSupported(format!(
        "{} is not supported by this gateway",
        kind.join(" ").to_uppercase()
    ))
}

fn classify_set(set: Set) -> Result<Command, LakegateError> {
    match set {
        Set::SingleAssignment {
            variable, values, ..
        } => {
            let name = variable.to_string();
            if name.to_ascii_lowercase().starts_with("datafusion.") {
                return Err(LakegateError::PermissionDenied(format!(
                    "setting \"{name}\" is reserved for the gateway's operators"
                )));
            }
            Ok(Command::Set {
                name,
                value: set_value(&values),
            })
        }
        Set::SetTimeZone { value, .. } => Ok(Command::Set {
            name: "TimeZone".into(),
            value: set_value(std::slice::from_ref(&value)),
        }),
        Set::SetNames { charset_name, .. } => Ok(Command::Set {
            name: "client_encoding".into(),
            value: Some(charset_name.value),
        }),
        Set::SetTransaction { .. } | Set::SetSessionParam(_) | Set::SetNamesDefault {} => {
            Ok(Command::Ignored { tag: "SET" })
        }
        other => Err(LakegateError::PermissionDenied(format!(
            "{other} is not allowed"
        ))),
    }
}

/// A SET value as PostgreSQL stores it: list items joined with ", "; `DEFAULT`/`LOCAL` reset.
fn set_value(values: &[Expr]) -> Option<String> {
    let items: Vec<String> = values
        .iter()
        .map(|e| match e {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                other => other.to_string(),
            },
            Expr::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        })
        .collect();
    match items.as_slice() {
        [one] if one.eq_ignore_ascii_case("default") || one.eq_ignore_ascii_case("local") => None,
        _ => Some(items.join(", ")),
    }
}

fn classify_copy(
    source: CopySource,
    to: bool,
    target: CopyTarget,
    options: &[CopyOption],
    legacy: &[CopyLegacyOption],
) -> Result<Command, LakegateError> {
    if !to {
        return Err(LakegateError::PermissionDenied(
            "COPY FROM is not allowed: this gateway serves the lake read-only".into(),
        ));
    }
    if !matches!(target, CopyTarget::Stdout) {
        return Err(LakegateError::PermissionDenied(
            "COPY to a file or program is not allowed; use COPY … TO STDOUT".into(),
        ));
    }
    let query = match source {
        CopySource::Query(query) => Statement::Query(query),
        CopySource::Table {
            table_name,
            columns,
        } => {
            let list = match columns.is_empty() {
                true => "*".to_owned(),
                false => columns
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            let sql = format!("SELECT {list} FROM {table_name}");
            Parser::parse_sql(&PostgreSqlDialect {}, &sql)?
                .pop()
                .ok_or_else(|| LakegateError::Internal("COPY source did not parse".into()))?
        }
    };
    Ok(Command::CopyOut {
        query: Box::new(query),
        format: copy_format(options, legacy),
    })
}

fn copy_format(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> CopyFormat {
    let mut format = CopyFormat::Text;
    let mut header = false;
    for option in options {
        match option {
            CopyOption::Format(f) if f.value.eq_ignore_ascii_case("csv") => {
                format = CopyFormat::Csv { header: false }
            }
            CopyOption::Format(f) if f.value.eq_ignore_ascii_case("binary") => {
                format = CopyFormat::Binary
            }
            CopyOption::Header(h) => header = *h,
            _ => {}
        }
    }
    for option in legacy {
        match option {
            CopyLegacyOption::Binary => format = CopyFormat::Binary,
            CopyLegacyOption::Csv(csv) => {
                format = CopyFormat::Csv { header: false };
                header |= csv
                    .iter()
                    .any(|o| o.to_string().eq_ignore_ascii_case("header"));
            }
            _ => {}
        }
    }
    match format {
        CopyFormat::Csv { .. } => CopyFormat::Csv { header },
        other => other,
    }
}
