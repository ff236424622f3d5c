//! `lakegate policy check` and `lakegate policy explain`: validating policies against the
//! catalog, and printing a principal's effective access with the rules that decided it.

use std::fmt::Write;

use datafusion::common::DFSchema;
use datafusion::prelude::SessionContext;

use super::access::TableAccess;
use super::compile::{PolicyIndex, TablePolicy};
use super::rules::{pattern_matches, Resource};
use crate::catalog::LakeCatalog;

/// Something wrong with a policy, found against the catalog.
#[derive(Debug)]
pub struct PolicyProblem {
    pub message: String,
    /// Fatal problems stop a load; others (a rule for a table that does not exist yet) are
    /// reported only.
    pub fatal: bool,
}

/// Checks every data filter, mask and column list against the catalog: names that exist nowhere,
/// and expressions that do not plan against their table.
pub fn check_against_catalog(lake: &LakeCatalog, index: &PolicyIndex) -> Vec<PolicyProblem> {
    let mut problems = check_expressions(lake, index);
    problems.extend(check_column_lists(lake, index));
    problems
}

fn check_expressions(lake: &LakeCatalog, index: &PolicyIndex) -> Vec<PolicyProblem> {
    let ctx = SessionContext::new();
    let state = ctx.state();
    let mut problems = Vec::new();
    let mut problem =
        |message: String, fatal: bool| problems.push(PolicyProblem { message, fatal });
    for item in index.expressions() {
        let Some(entry) = lake.table(&item.database, &item.table) else {
            problem(
                format!(
                    "{}: no table {}.{} (yet)",
                    item.rule, item.database, item.table
                ),
                false,
            );
            continue;
        };
        if let Some(column) = &item.column {
            if !entry
                .schema
                .fields()
                .iter()
                .any(|f| f.name().eq_ignore_ascii_case(column))
            {
                let table = entry.qualified_name();
                problem(
                    format!("{}: table {table} has no column {column}", item.rule),
                    true,
                );
                continue;
            }
        }
        let planned = DFSchema::try_from(entry.schema.as_ref().clone())
            .and_then(|raw| state.create_logical_expr(&item.sql, &raw));
        if let Err(e) = planned {
            problem(format!("{}: {}", item.rule, e.strip_backtrace()), true);
        }
    }
    problems
}

/// A column list on a table pattern must name columns that some matching table has.
fn check_column_lists(lake: &LakeCatalog, index: &PolicyIndex) -> Vec<PolicyProblem> {
    let tables: Vec<_> = lake
        .schema_names()
        .into_iter()
        .flat_map(|s| {
            lake.table_names(&s)
                .into_iter()
                .filter_map(move |t| lake.table(&s, &t))
        })
        .collect();
    let mut problems = Vec::new();
    for grant in index.grants() {
        let Resource::Table { database, table } = &grant.resource else {
            continue;
        };
        let matching: Vec<_> = tables
            .iter()
            .filter(|e| {
                pattern_matches(database, &e.glue.database_name)
                    && pattern_matches(table, &e.glue.name)
            })
            .collect();
        if matching.is_empty() {
            continue;
        }
        for column in grant.columns.named() {
            let known = matching.iter().any(|e| {
                e.schema
                    .fields()
                    .iter()
                    .any(|f| f.name().eq_ignore_ascii_case(column))
            });
            if !known {
                problems.push(PolicyProblem {
                    message: format!(
                        "{}: no table matching {database}.{table} has a column {column}",
                        grant.source
                    ),
                    fatal: true,
                });
            }
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
