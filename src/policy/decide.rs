//! One table's decision from the grants that apply to it: which columns exist and can be read,
//! which rows, and where cells read as NULL. Grants combine permissively (union of columns, OR
//! of row filters); a deny always wins (D5).

use std::collections::BTreeSet;

use super::compile::{PolicyColumn, TablePolicy};
use super::rules::{Effect, Grant, Permission};

/// One allowing rule's contribution to a table: the columns it names and the rows it covers.
pub(super) struct Allowed {
    columns: Vec<bool>,
    row_filter: Option<String>,
}

/// Grants and denies collected for one table.
pub(super) struct Decisions {
    select: Vec<Allowed>,
    describe: Vec<bool>,
    deny_select: Vec<bool>,
    deny_describe: Vec<bool>,
    pub(super) decided_by: Vec<String>,
}

fn or_into(target: &mut [bool], columns: &[bool]) {
    target.iter_mut().zip(columns).for_each(|(t, c)| *t |= c);
}

impl Decisions {
    pub(super) fn new(width: usize) -> Self {
        Self {
            select: Vec::new(),
            describe: vec![false; width],
            deny_select: vec![false; width],
            deny_describe: vec![false; width],
            decided_by: Vec::new(),
        }
    }

    pub(super) fn record(&mut self, grant: &Grant, columns: Vec<bool>, row_filter: Option<String>) {
        self.decided_by.push(grant.source.clone());
        let p = grant.permission;
        match grant.effect {
            Effect::Allow => {
                if p.covers(Permission::Describe) {
                    or_into(&mut self.describe, &columns);
                }
                if p.covers(Permission::Select) {
                    self.select.push(Allowed {
                        columns,
                        row_filter,
                    });
                }
            }
            // Denying DESCRIBE hides the column, so it cannot be read either.
            Effect::Deny => {
                if matches!(
                    p,
                    Permission::Select | Permission::Describe | Permission::All
                ) {
                    or_into(&mut self.deny_select, &columns);
                }
                if matches!(p, Permission::Describe | Permission::All) {
                    or_into(&mut self.deny_describe, &columns);
                }
            }
        }
    }

    pub(super) fn into_policy(self, table: String, names: &[&str]) -> Option<TablePolicy> {
        let readable: Vec<bool> = (0..names.len())
            .map(|i| !self.deny_select[i] && self.select.iter().any(|a| a.columns[i]))
            .collect();
        let allows: Vec<&Allowed> = self
            .select
            .iter()
            .filter(|a| a.columns.iter().zip(&readable).any(|(c, r)| *c && *r))
            .collect();
        let row_filter = any_of(&allows);
        // Where some column can be read, the others do not exist (SELECT * expands to what can be
        // read, D1); a table with DESCRIBE only shows its described columns.
        let any_readable = readable.contains(&true);
        let columns: Vec<PolicyColumn> = names
            .iter()
            .enumerate()
            .filter(|(i, _)| match any_readable {
                true => readable[*i],
                false => self.describe[*i] && !self.deny_describe[*i],
            })
            .map(|(i, name)| {
                let with_column: Vec<&Allowed> =
                    allows.iter().copied().filter(|a| a.columns[i]).collect();
                let own = any_of(&with_column);
                PolicyColumn {
                    name: (*name).to_owned(),
                    index: i,
                    readable: readable[i],
                    condition: own.filter(|own| Some(own) != row_filter.as_ref()),
                    mask: None,
                }
            })
            .collect();
        (!columns.is_empty()).then_some(TablePolicy {
            table,
            columns,
            row_filter,
            conflicts: Vec::new(),
            decided_by: self.decided_by,
        })
    }
}

/// The OR of the allows' row filters; `None` (every row) if any allows all rows.
fn any_of(allows: &[&Allowed]) -> Option<String> {
    let mut filters = BTreeSet::new();
    for allow in allows {
        filters.insert(allow.row_filter.as_ref()?);
    }
    match filters.len() {
        0 => None,
        1 => filters.into_iter().next().cloned(),
        _ => Some(
            filters
                .into_iter()
                .map(|f| format!("({f})"))
                .collect::<Vec<_>>()
                .join(" OR "),
        ),
    }
}
