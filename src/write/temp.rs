//! Temporary tables (CREATE TEMPORARY TABLE … AS): rows kept in the session's memory (accounted
//! in the gateway's memory pool), visible only to it, gone when it ends. dbt's incremental
//! models stage new rows in one. They hold what the principal could already read through their
//! policy, so they carry no policy of their own. Unqualified names resolve to them first, as
//! PostgreSQL searches `pg_temp` first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::execution::memory_pool::MemoryReservation;
use datafusion::sql::sqlparser::ast::{
    visit_relations, visit_relations_mut, Ident, ObjectName, ObjectNamePart, Query, Statement,
};

use super::WriteError;

/// The schema temporary tables live in.
pub const TEMP_SCHEMA: &str = "pg_temp";

#[derive(Debug, Default)]
pub struct TempTables {
    schema: Arc<MemorySchemaProvider>,
    /// Each table's share of the memory pool, released when it is dropped.
    memory: Mutex<HashMap<String, MemoryReservation>>,
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

    pub fn add(
        &self,
        name: &str,
        table: Arc<dyn TableProvider>,
        memory: MemoryReservation,
    ) -> datafusion::error::Result<()> {
        self.schema.register_table(name.to_owned(), table)?;
        self.memory
            .lock()
            .expect("temp memory")
            .insert(name.to_owned(), memory);
        Ok(())
    }

    pub fn remove(&self, name: &str) -> bool {
        self.memory.lock().expect("temp memory").remove(name);
        matches!(self.schema.deregister_table(name), Ok(Some(_)))
    }

    pub fn rename(&self, from: &str, to: &str) -> Result<(), WriteError> {
        if self.exists(to) {
            return Err(WriteError::DuplicateTable(to.to_owned()));
        }
        let table = self.schema.deregister_table(from).ok().flatten();
        let table = table.ok_or_else(|| WriteError::UndefinedTable(from.to_owned()))?;
        let _ = self.schema.register_table(to.to_owned(), table);
        let mut memory = self.memory.lock().expect("temp memory");
        if let Some(reservation) = memory.remove(from) {
            memory.insert(to.to_owned(), reservation);
        }
        Ok(())
    }

    /// Qualifies unqualified references to temporary tables with `pg_temp` (names of the
    /// statement's own CTEs are left alone).
    pub fn qualify(&self, statement: &mut Statement) {
        if self.is_empty() {
            return;
        }
        let ctes = cte_names(statement);
        let _ = visit_relations_mut(statement, |name: &mut ObjectName| {
            if let Some(ident) = self.unqualified_temp(name, &ctes) {
                let qualified = vec![
                    ObjectNamePart::Identifier(Ident::new(TEMP_SCHEMA)),
                    ObjectNamePart::Identifier(ident),
                ];
                *name = ObjectName(qualified);
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
    }

    /// Whether the statement reads a temporary table.
    pub fn referenced_by(&self, statement: &Statement) -> bool {
        let ctes = cte_names(statement);
        visit_relations(statement, |name: &ObjectName| {
            let temp = self.unqualified_temp(name, &ctes).is_some()
                || name.0.first().and_then(|p| p.as_ident()).is_some_and(|i| {
                    name.0.len() == 2 && super::parse::ident_name(i) == TEMP_SCHEMA
                });
            match temp {
                true => std::ops::ControlFlow::Break(()),
                false => std::ops::ControlFlow::Continue(()),
            }
        })
        .is_break()
    }

    fn unqualified_temp(&self, name: &ObjectName, ctes: &[String]) -> Option<Ident> {
        let [ObjectNamePart::Identifier(ident)] = name.0.as_slice() else {
            return None;
        };
        let folded = super::parse::ident_name(ident);
        (self.exists(&folded) && !ctes.contains(&folded)).then(|| ident.clone())
    }
}

/// The names of a query's CTEs (at its top level).
fn cte_names(statement: &Statement) -> Vec<String> {
    let query: Option<&Query> = match statement {
        Statement::Query(query) => Some(query),
        _ => None,
    };
    query
        .and_then(|q| q.with.as_ref())
        .map(|with| {
            with.cte_tables
                .iter()
                .map(|c| super::parse::ident_name(&c.alias.name))
                .collect()
        })
        .unwrap_or_default()
}
