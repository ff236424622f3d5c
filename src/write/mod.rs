//! The write path: what dbt and other clients send to build models in the lake.
//!
//! - [`parse`] turns CREATE SCHEMA, CREATE TABLE … AS, CREATE VIEW, ALTER … RENAME, DROP,
//!   INSERT … SELECT and DELETE into a [`WriteCommand`];
//! - [`delta`] writes query results as Delta tables (create, append, rewrite without the
//!   deleted rows), each write one Delta commit, so a failed or killed write leaves no version;
//! - [`schema`] gives results types the catalog and Delta can both hold;
//! - [`entries`] builds the Glue catalog entries of new tables and views;
//! - [`temp`] keeps a session's temporary tables.
//!
//! The session (`session/write.rs`) checks grants before anything is written, runs the
//! statement, registers it in the catalog and audits what was written.

pub mod delta;
pub mod entries;
mod error;
pub(crate) mod parse;
pub mod schema;
pub mod temp;

use datafusion::sql::sqlparser::ast::{Expr, ObjectName, Statement};

pub use error::WriteError;
pub use parse::classify_write;

/// A statement that changes the lake or the catalog.
#[derive(Debug, Clone)]
pub enum WriteCommand {
    CreateSchema {
        name: String,
        if_not_exists: bool,
    },
    /// CREATE [TEMPORARY] TABLE … AS query.
    CreateTableAs {
        target: ObjectName,
        /// Column names given after the table name.
        columns: Vec<String>,
        query: Box<Statement>,
        temporary: bool,
        if_not_exists: bool,
    },
    CreateView {
        target: ObjectName,
        query: Box<Statement>,
        or_replace: bool,
        /// Column names given after the view name.
        columns: Vec<String>,
    },
    /// ALTER TABLE|VIEW … RENAME TO (PostgreSQL renames views with either).
    Rename {
        target: ObjectName,
        to: String,
        if_exists: bool,
    },
    Drop {
        kind: RelationKind,
        names: Vec<ObjectName>,
        if_exists: bool,
    },
    /// INSERT INTO target [(columns)] query.
    Insert {
        target: ObjectName,
        columns: Vec<String>,
        query: Box<Statement>,
    },
    /// DELETE FROM target [AS alias] [WHERE predicate].
    Delete {
        target: ObjectName,
        alias: Option<String>,
        predicate: Option<Box<Expr>>,
    },
}

/// Tables and views, as DROP names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    Table,
    View,
}

impl RelationKind {
    pub fn noun(self) -> &'static str {
        match self {
            RelationKind::Table => "table",
            RelationKind::View => "view",
        }
    }
}

impl WriteCommand {
    /// pgaudit's class and the command tag, for the audit record.
    pub fn audit_class(&self) -> (&'static str, &'static str) {
        match self {
            WriteCommand::CreateSchema { .. } => ("DDL", "CREATE SCHEMA"),
            WriteCommand::CreateTableAs { .. } => ("DDL", "CREATE TABLE AS"),
            WriteCommand::CreateView { .. } => ("DDL", "CREATE VIEW"),
            WriteCommand::Rename { .. } => ("DDL", "ALTER TABLE"),
            WriteCommand::Drop {
                kind: RelationKind::Table,
                ..
            } => ("DDL", "DROP TABLE"),
            WriteCommand::Drop {
                kind: RelationKind::View,
                ..
            } => ("DDL", "DROP VIEW"),
            WriteCommand::Insert { .. } => ("WRITE", "INSERT"),
            WriteCommand::Delete { .. } => ("WRITE", "DELETE"),
        }
    }
}
