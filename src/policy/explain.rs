//! `lakegate policy check` and `lakegate policy explain`: validating policies against the
//! catalog, and printing a principal's effective access with the rules that decided it.

use std::fmt::Write;

use datafusion::common::DFSchema;
use datafusion::prelude::SessionContext;

use super::access::TableAccess;
use super::compile::{PolicyIndex, TablePolicy};
use crate::catalog::LakeCatalog;

/// Every data filter and mask that names a missing table or column, or whose expression does
/// not plan against its table. Empty when all is well.
pub fn check_expressions(lake: &LakeCatalog, index: &PolicyIndex) -> Vec<String> {
    let ctx = SessionContext::new();
    let state = ctx.state();
    let mut problems = Vec::new();
    for item in index.expressions() {
        let Some(entry) = lake.table(&item.database, &item.table) else {
            problems.push(format!(
                "{}: no table {}.{}",
                item.rule, item.database, item.table
            ));
            continue;
        };
        if let Some(column) = &item.column {
            if entry.schema.index_of(column).is_err() {
                problems.push(format!(
                    "{}: table {} has no column {column}",
                    item.rule,
                    entry.qualified_name()
                ));
                continue;
            }
        }
        let planned = DFSchema::try_from(entry.schema.as_ref().clone())
            .and_then(|raw| state.create_logical_expr(&item.sql, &raw));
        if let Err(e) = planned {
            problems.push(format!("{}: {}", item.rule, e.strip_backtrace()));
        }
    }
    problems
}

/// A principal's access to one table, for people.
pub fn describe(table: &TableAccess) -> String {
    match table {
        TableAccess::Full(entry) => {
            format!("{}\n  everything (superuser)\n", entry.qualified_name())
        }
        TableAccess::Restricted(entry, policy) => describe_policy(
            policy,
            entry
                .schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .filter(|n| !policy.columns.iter().any(|c| c.name == *n))
                .collect(),
        ),
    }
}

fn describe_policy(policy: &TablePolicy, hidden: Vec<&str>) -> String {
    let mut out = format!("{}\n", policy.table);
    let names = |pick: &dyn Fn(&super::compile::PolicyColumn) -> bool| {
        let list: Vec<&str> = policy
            .columns
            .iter()
            .filter(|c| pick(c))
            .map(|c| c.name.as_str())
            .collect();
        list.join(", ")
    };
    let _ = writeln!(out, "  columns:       {}", names(&|c| c.readable));
    let describe_only = names(&|c| !c.readable);
    if !describe_only.is_empty() {
        let _ = writeln!(out, "  describe only: {describe_only}");
    }
    if !hidden.is_empty() {
        let _ = writeln!(out, "  hidden:        {}", hidden.join(", "));
    }
    let rows = policy.row_filter.as_deref().unwrap_or("all");
    let _ = writeln!(out, "  rows:          {rows}");
    for column in &policy.columns {
        if let Some(mask) = &column.mask {
            let _ = writeln!(out, "  mask:          {} = {mask}", column.name);
        }
        if let Some(condition) = &column.condition {
            let _ = writeln!(
                out,
                "  cells:         {} is NULL unless {condition}",
                column.name
            );
        }
    }
    for conflict in &policy.conflicts {
        let _ = writeln!(out, "  UNENFORCEABLE: {conflict} (reading the table fails)");
    }
    for rule in &policy.decided_by {
        let _ = writeln!(out, "  rule:          {rule}");
    }
    out
}
