//! Statements that write → [`WriteCommand`]. Forms the gateway cannot carry out faithfully
//! (ON CONFLICT, RETURNING, DELETE … USING, materialized views, constraints and defaults) are
//! refused with 0A000 rather than approximated.

use datafusion::sql::sqlparser::ast::{
    AlterTableOperation, ColumnDef, ColumnOption, CreateTable, FromTable, Ident, ObjectName,
    ObjectType, RenameTableNameKind, SchemaName, Statement, TableFactor, TableObject,
};

use super::{RelationKind, WriteCommand, WriteError};

/// A name as a quoted SQL identifier.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// An identifier as PostgreSQL reads it: unquoted names fold to lower case.
pub fn ident_name(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

fn unsupported(what: &str) -> WriteError {
    WriteError::Unsupported(format!("{what} is not supported by this gateway"))
}

pub fn classify_write(statement: Statement) -> Result<WriteCommand, WriteError> {
    match statement {
        Statement::CreateSchema {
            schema_name: SchemaName::Simple(name),
            if_not_exists,
            ..
        } => Ok(WriteCommand::CreateSchema {
            name: last_name(&name)?,
            if_not_exists,
        }),
        Statement::CreateSchema { .. } => Err(unsupported("CREATE SCHEMA AUTHORIZATION")),
        Statement::CreateTable(create) => create_table(create),
        // TRUNCATE is DELETE without a condition (one Delta commit, like any DELETE).
        Statement::Truncate(truncate) => match truncate.table_names.as_slice() {
            [only] => Ok(WriteCommand::Delete {
                target: only.name.clone(),
                alias: None,
                predicate: None,
            }),
            _ => Err(unsupported("TRUNCATE of several tables")),
        },
        Statement::CreateView(view) if view.materialized => Err(unsupported("a materialized view")),
        Statement::CreateView(view) if view.temporary => Err(unsupported("a temporary view")),
        Statement::CreateView(view) => Ok(WriteCommand::CreateView {
            target: view.name,
            query: Box::new(Statement::Query(view.query)),
            or_replace: view.or_replace,
            columns: view.columns.iter().map(|c| ident_name(&c.name)).collect(),
        }),
        Statement::AlterTable(alter) => match alter.operations.as_slice() {
            [AlterTableOperation::RenameTable { table_name }] => {
                let (RenameTableNameKind::To(to) | RenameTableNameKind::As(to)) = table_name;
                Ok(WriteCommand::Rename {
                    target: alter.name.clone(),
                    to: last_name(to)?,
                    if_exists: alter.if_exists,
                })
            }
            _ => Err(unsupported("ALTER TABLE other than RENAME TO")),
        },
        Statement::Drop {
            object_type,
            if_exists,
            names,
            ..
        } => {
            let kind = match object_type {
                ObjectType::Table => RelationKind::Table,
                ObjectType::View => RelationKind::View,
                other => return Err(unsupported(&format!("DROP {other}"))),
            };
            Ok(WriteCommand::Drop {
                kind,
                names,
                if_exists,
            })
        }
        Statement::Insert(insert) => {
            let TableObject::TableName(target) = insert.table else {
                return Err(unsupported("INSERT INTO a table function"));
            };
            if insert.on.is_some() || insert.returning.is_some() || !insert.assignments.is_empty() {
                return Err(unsupported("INSERT with ON CONFLICT, RETURNING or SET"));
            }
            let query = insert
                .source
                .ok_or_else(|| unsupported("INSERT without a query"))?;
            let columns = insert
                .columns
                .iter()
                .map(last_name)
                .collect::<Result<_, _>>()?;
            Ok(WriteCommand::Insert {
                target,
                columns,
                query: Box::new(Statement::Query(query)),
            })
        }
        Statement::Delete(delete) => {
            if delete.using.is_some() || delete.returning.is_some() || delete.limit.is_some() {
                return Err(unsupported("DELETE with USING, RETURNING or LIMIT"));
            }
            let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = delete.from;
            let [only] = from.as_slice() else {
                return Err(unsupported("DELETE from several tables"));
            };
            let TableFactor::Table { name, alias, .. } = &only.relation else {
                return Err(unsupported("DELETE from something other than a table"));
            };
            if !only.joins.is_empty() {
                return Err(unsupported("DELETE with a join"));
            }
            Ok(WriteCommand::Delete {
                target: name.clone(),
                alias: alias.as_ref().map(|a| ident_name(&a.name)),
                predicate: delete.selection.map(Box::new),
            })
        }
        other => Err(WriteError::Unsupported(format!(
            "{} is not supported by this gateway",
            other
                .to_string()
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        ))),
    }
}

/// CREATE TABLE … AS, or CREATE TABLE with column definitions (what `dbt seed` sends), which
/// becomes a CTAS of no rows with those columns' types.
fn create_table(create: CreateTable) -> Result<WriteCommand, WriteError> {
    if create.or_replace {
        return Err(unsupported("CREATE OR REPLACE TABLE"));
    }
    let (query, columns) = match create.query {
        Some(query) => {
            let names = create.columns.iter().map(|c| ident_name(&c.name)).collect();
            (Box::new(Statement::Query(query)), names)
        }
        None if !create.constraints.is_empty() => {
            return Err(unsupported("a table constraint (Delta tables have none)"))
        }
        None => (Box::new(no_rows_of(&create.columns)?), Vec::new()),
    };
    Ok(WriteCommand::CreateTableAs {
        target: create.name,
        columns,
        query,
        temporary: create.temporary,
        if_not_exists: create.if_not_exists,
    })
}

/// `SELECT CAST(NULL AS type) AS name, … WHERE FALSE`: no rows, the columns' names and types.
fn no_rows_of(columns: &[ColumnDef]) -> Result<Statement, WriteError> {
    if columns.is_empty() {
        return Err(unsupported("CREATE TABLE without columns"));
    }
    let mut items = Vec::new();
    for column in columns {
        let nullability_only = column
            .options
            .iter()
            .all(|o| matches!(o.option, ColumnOption::Null | ColumnOption::NotNull));
        if !nullability_only {
            return Err(unsupported(
                "a column constraint or default (Delta tables have none)",
            ));
        }
        let name = quote(&ident_name(&column.name));
        items.push(format!("CAST(NULL AS {}) AS {name}", column.data_type));
    }
    let sql = format!("SELECT {} WHERE FALSE", items.join(", "));
    match crate::statement::parse(&sql) {
        Ok(mut commands) if commands.len() == 1 => match commands.pop() {
            Some(crate::statement::Command::Query(query)) => Ok(*query),
            _ => Err(unsupported("these column types")),
        },
        _ => Err(unsupported("these column types")),
    }
}

/// The last part of a name (`"lake"."analytics"."m"` → `m`).
pub fn last_name(name: &ObjectName) -> Result<String, WriteError> {
    name.0
        .last()
        .and_then(|part| part.as_ident())
        .map(ident_name)
        .ok_or_else(|| WriteError::Unsupported(format!("the name {name} is not supported")))
}

/// The parts of a name, folded as PostgreSQL folds them.
pub fn name_parts(name: &ObjectName) -> Result<Vec<String>, WriteError> {
    name.0
        .iter()
        .map(|part| {
            part.as_ident()
                .map(ident_name)
                .ok_or_else(|| WriteError::Unsupported(format!("the name {name} is not supported")))
        })
        .collect()
}
