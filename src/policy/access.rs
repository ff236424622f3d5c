//! One principal's view of the catalog under one policy load: which schemas, tables and columns
//! exist for them, and how each table is read. Sessions of the same principal share it; table
//! decisions are computed on first use and kept while the catalog entry stays the same.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::{Schema, SchemaRef};

use super::compile::{PrincipalRules, TablePolicy};
use super::rules::Permission;
use super::writes::{TargetFacts, WriteTarget};
use crate::catalog::{LakeCatalog, TableEntry, PUBLIC_SCHEMA};

/// How a table appears to a principal.
#[derive(Debug, Clone)]
pub enum TableAccess {
    /// As it is (superusers).
    Full(Arc<TableEntry>),
    /// Through a policy.
    Restricted(Arc<TableEntry>, Arc<TablePolicy>),
}

impl TableAccess {
    pub fn entry(&self) -> &Arc<TableEntry> {
        match self {
            TableAccess::Full(entry) | TableAccess::Restricted(entry, _) => entry,
        }
    }

    /// The columns that exist for the principal.
    pub fn schema(&self) -> SchemaRef {
        match self {
            TableAccess::Full(entry) => Arc::clone(&entry.schema),
            TableAccess::Restricted(entry, policy) => visible_schema(entry, policy),
        }
    }
}

pub fn visible_schema(entry: &TableEntry, policy: &TablePolicy) -> SchemaRef {
    let fields: Vec<_> = policy
        .columns
        .iter()
        .map(|c| entry.schema.field(c.index).clone())
        .collect();
    Arc::new(Schema::new(fields))
}

/// A decision, with the catalog entry and catalog version it was made for.
type Decided = (Arc<TableEntry>, u64, Option<Arc<TablePolicy>>);

#[derive(Debug)]
pub struct Access {
    lake: Arc<LakeCatalog>,
    /// `None` for superusers, who bypass policies.
    rules: Option<PrincipalRules>,
    /// The policy load this view belongs to.
    pub epoch: u64,
    /// Who this view is for: creators read and change the tables they created.
    user: String,
    decided: Mutex<HashMap<(String, String), Decided>>,
}

impl Access {
    pub fn new(lake: Arc<LakeCatalog>, rules: Option<PrincipalRules>, epoch: u64) -> Self {
        Self {
            lake,
            rules,
            epoch,
            user: String::new(),
            decided: Mutex::default(),
        }
    }

    /// The view of this user (the creator of a table gets full access to it).
    pub fn for_user(mut self, user: &str) -> Self {
        self.user = user.to_owned();
        self
    }

    /// Whether the principal created the table: lakegate records its creator in a parameter of
    /// the entries it writes (Glue's free-text `Owner` is not trusted for this).
    pub fn owns(&self, entry: &TableEntry) -> bool {
        !self.user.is_empty() && entry.glue.created_by() == Some(self.user.as_str())
    }

    /// Whether the principal may act so on a database or table (superusers may do anything).
    pub fn may(&self, permission: Permission, target: WriteTarget<'_>) -> bool {
        let Some(rules) = &self.rules else {
            return true;
        };
        let entry = match target {
            WriteTarget::Table { database, table } => self.lake.table(database, table),
            WriteTarget::Database(_) => None,
        };
        self.decide(rules, permission, target, entry.as_deref())
    }

    fn decide(
        &self,
        rules: &PrincipalRules,
        permission: Permission,
        target: WriteTarget<'_>,
        entry: Option<&TableEntry>,
    ) -> bool {
        let column_tags = entry
            .map(|e| {
                super::tags::column_tags(&self.lake.database_parameters(&e.glue.database_name), e)
            })
            .unwrap_or_default();
        let owner = entry.is_some_and(|e| self.owns(e));
        let facts = TargetFacts {
            owner,
            column_tags: &column_tags,
        };
        rules.may(permission, target, facts)
    }

    pub fn lake(&self) -> &Arc<LakeCatalog> {
        &self.lake
    }

    /// Superusers see the lake as it is.
    pub fn is_unrestricted(&self) -> bool {
        self.rules.is_none()
    }

    /// A table as this principal sees it; `None` if it does not exist for them.
    pub fn table(&self, schema: &str, table: &str) -> Option<TableAccess> {
        let entry = self.lake.table(schema, table)?;
        let Some(rules) = &self.rules else {
            return Some(TableAccess::Full(entry));
        };
        // The creator reads everything they wrote through lakegate (it holds only what their
        // policy let them read), unless a rule denies them the table.
        let target = WriteTarget::Table {
            database: schema,
            table,
        };
        if self.owns(&entry) && self.decide(rules, Permission::Select, target, Some(&entry)) {
            return Some(TableAccess::Full(entry));
        }
        let key = (schema.to_owned(), table.to_owned());
        let version = self.lake.version();
        let mut decided = self.decided.lock().expect("access lock");
        let policy = match decided.get(&key) {
            Some((seen, at, policy)) if Arc::ptr_eq(seen, &entry) && *at == version => {
                policy.clone()
            }
            _ => {
                let parameters = self.lake.database_parameters(schema);
                let policy = rules.table_policy(&entry, &parameters).map(Arc::new);
                decided.insert(key, (Arc::clone(&entry), version, policy.clone()));
                policy
            }
        };
        policy.map(|p| TableAccess::Restricted(entry, p))
    }

    /// Whether the scan report of a table (named `database.table`, possibly followed by more)
    /// must stay hidden: the principal reads it through a row filter.
    pub fn hides_scan_of(&self, reported: &str) -> bool {
        let name = reported.split_whitespace().next().unwrap_or_default();
        let Some((schema, table)) = name.split_once('.') else {
            return true;
        };
        match self.table(schema, table) {
            Some(TableAccess::Restricted(_, policy)) => policy.row_filter.is_some(),
            Some(TableAccess::Full(_)) => false,
            None => true,
        }
    }

    /// Tables of a schema that exist for the principal, sorted.
    pub fn table_names(&self, schema: &str) -> Vec<String> {
        self.lake
            .table_names(schema)
            .into_iter()
            .filter(|t| self.rules.is_none() || self.table(schema, t).is_some())
            .collect()
    }

    /// Schemas with something in them for the principal, plus `public` (as in PostgreSQL).
    pub fn schema_names(&self) -> Vec<String> {
        self.lake
            .schema_names()
            .into_iter()
            .filter(|s| {
                s == PUBLIC_SCHEMA
                    || match &self.rules {
                        None => true,
                        Some(rules) => {
                            rules.mentions_database(s) || !self.table_names(s).is_empty()
                        }
                    }
            })
            .collect()
    }
}
