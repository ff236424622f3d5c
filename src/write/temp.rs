//! Temporary tables (CREATE TEMPORARY TABLE … AS): rows kept in the session's memory, visible
//! only to it, gone when it ends. dbt's incremental models stage new rows in one. They hold
//! what the principal could already read through their policy, so they carry no policy of
//! their own. Unqualified names resolve to them first, as PostgreSQL searches `pg_temp` first.

use std::sync::Arc;

use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::sql::sqlparser::ast::{
    visit_relations_mut, Ident, ObjectName, ObjectNamePart, Statement,
};

/// The schema temporary tables live in.
pub const TEMP_SCHEMA: &str = "pg_temp";

#[derive(Debug, Default)]
pub struct TempTables {
    schema: Arc<MemorySchemaProvider>,
}

impl TempTables {
    pub fn schema(&self) -> Arc<MemorySchemaProvider> {
        Arc::clone(&self.schema)
    }

    pub fn exists(&self, name: &str) -> bool {
        self.schema.table_exist(name)
    }

    pub fn is_empty(&self) -> bool {
        self.schema.table_names().is_empty()
    }

    pub fn add(&self, name: &str, table: Arc<dyn TableProvider>) -> datafusion::error::Result<()> {
        self.schema
            .register_table(name.to_owned(), table)
            .map(|_| ())
    }

    pub fn remove(&self, name: &str) -> bool {
        matches!(self.schema.deregister_table(name), Ok(Some(_)))
    }

    pub fn rename(&self, from: &str, to: &str) -> datafusion::error::Result<bool> {
        match self.schema.deregister_table(from)? {
            Some(table) => self.add(to, table).map(|()| true),
            None => Ok(false),
        }
    }

    /// Qualifies unqualified references to temporary tables with `pg_temp`.
    pub fn qualify(&self, statement: &mut Statement) {
        if self.is_empty() {
            return;
        }
        let _ = visit_relations_mut(statement, |name: &mut ObjectName| {
            if let [ObjectNamePart::Identifier(ident)] = name.0.as_slice() {
                if self.exists(&super::parse::ident_name(ident)) {
                    let qualified = vec![
                        ObjectNamePart::Identifier(Ident::new(TEMP_SCHEMA)),
                        ObjectNamePart::Identifier(ident.clone()),
                    ];
                    *name = ObjectName(qualified);
                }
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
    }
}
