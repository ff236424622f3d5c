//! Which table column each result column comes from, for RowDescription's table OID and column
//! number (pgjdbc's `getTableName`, `isNullable`, … look them up in pg_class/pg_attribute).
//!
//! A result column has an origin when it is a plain column reference: DataFusion keeps the
//! table qualifier on such fields; aliases (`FROM sales.orders o`) are resolved through the
//! plan's `SubqueryAlias` nodes. Computed columns have none, as in PostgreSQL.

use std::collections::HashMap;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::TableReference;
use datafusion::logical_expr::LogicalPlan;

use crate::pgcatalog::PgCatalog;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableColumn {
    pub table_oid: i32,
    pub attnum: i16,
}

pub type ColumnOrigin = Option<TableColumn>;

/// The origin of every output column of `plan`.
pub fn column_origins(
    plan: &LogicalPlan,
    pg: &PgCatalog,
    default_schema: &str,
) -> Vec<ColumnOrigin> {
    let aliases = table_aliases(plan);
    let schema = plan.schema();
    (0..schema.fields().len())
        .map(|i| {
            let (qualifier, field) = schema.qualified_field(i);
            let qualifier = qualifier?;
            let table = aliases.get(qualifier).unwrap_or(qualifier);
            let (schema_name, table_name) = match table {
                TableReference::Bare { table } => (default_schema, table.as_ref()),
                TableReference::Partial { schema, table }
                | TableReference::Full { schema, table, .. } => (schema.as_ref(), table.as_ref()),
            };
            // Column numbers as the principal's pg_attribute numbers them (no hidden columns).
            let table = pg.access().table(schema_name, table_name)?;
            let index = table.schema().index_of(field.name()).ok()?;
            Some(TableColumn {
                table_oid: pg.table_oid(schema_name, table_name)?,
                attnum: i16::try_from(index + 1).ok()?,
            })
        })
        .collect()
}

/// Alias → the table it names, for aliases placed directly over a table scan.
fn table_aliases(plan: &LogicalPlan) -> HashMap<TableReference, TableReference> {
    let mut aliases = HashMap::new();
    let _ = plan.apply(|node| {
        if let LogicalPlan::SubqueryAlias(alias) = node {
            if let LogicalPlan::TableScan(scan) = alias.input.as_ref() {
                aliases.insert(alias.alias.clone(), scan.table_name.clone());
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    aliases
}
