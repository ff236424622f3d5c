//! From rules to decisions: the rules are indexed by subject when policies load, so a principal's
//! rules are found with a few hash lookups, and a table's effective access ([`TablePolicy`]) is
//! computed from that principal's rules only.
//!
//! Combination follows D5: grants combine permissively (union of columns, OR of row filters);
//! a deny always wins. A data filter's columns outside its rows read as NULL (Lake Formation's
//! cell-level security).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::decide::Decisions;
use super::rules::{DataFilter, Effect, Grant, Mask, Permission, Resource};
use super::source::RuleSet;
use super::tags;
use crate::auth::Principal;
use crate::catalog::TableEntry;

/// The rules of one policy load, indexed by subject.
#[derive(Debug, Default)]
pub struct PolicyIndex {
    grants: HashMap<String, Vec<Arc<Grant>>>,
    masks: HashMap<String, Vec<Arc<Mask>>>,
    filters: Arc<HashMap<String, Arc<DataFilter>>>,
    roles: HashMap<String, Vec<String>>,
    pub rule_count: usize,
}

impl PolicyIndex {
    /// Indexes a rule set; references that cannot be resolved are errors (D6).
    pub fn build(set: RuleSet) -> Result<Self, String> {
        let rule_count = set.len();
        let mut filters: HashMap<String, Arc<DataFilter>> = HashMap::new();
        for filter in set.filters {
            if let Some(first) = filters.get(&filter.name) {
                return Err(format!(
                    "data filter {} is defined twice: {:?} and {:?}",
                    filter.name, first.source, filter.source
                ));
            }
            filters.insert(filter.name.clone(), Arc::new(filter));
        }
        let mut index = PolicyIndex {
            roles: set.roles,
            rule_count,
            ..Default::default()
        };
        for grant in set.grants {
            if let Resource::DataFilter(name) = &grant.resource {
                check_filter_grant(&grant, name, &filters)?;
            }
            let subject = grant.subject.clone();
            index
                .grants
                .entry(subject)
                .or_default()
                .push(Arc::new(grant));
        }
        for mask in set.masks {
            let subject = mask.subject.clone();
            index.masks.entry(subject).or_default().push(Arc::new(mask));
        }
        index.filters = Arc::new(filters);
        Ok(index)
    }

    /// The subjects a principal acts as: itself, its groups, and every role they inherit.
    pub fn subjects(&self, principal: &Principal) -> BTreeSet<String> {
        let mut subjects = BTreeSet::from([format!("user:{}", principal.user)]);
        subjects.extend(principal.groups.iter().map(|g| format!("group:{g}")));
        let direct: Vec<String> = subjects.iter().cloned().collect();
        for subject in direct {
            subjects.extend(self.roles.get(&subject).into_iter().flatten().cloned());
        }
        subjects
    }

    /// Every grant and deny.
    pub fn grants(&self) -> impl Iterator<Item = &Grant> {
        self.grants.values().flatten().map(|g| g.as_ref())
    }

    /// Every policy expression with the table (and column) it applies to, for checking.
    pub fn expressions(&self) -> Vec<PolicyExpression> {
        let filters = self.filters.values().map(|f| PolicyExpression {
            rule: f.source.clone(),
            database: f.database.clone(),
            table: f.table.clone(),
            column: None,
            sql: f.row_filter.clone(),
        });
        let masks = self.masks.values().flatten().map(|m| PolicyExpression {
            rule: m.source.clone(),
            database: m.database.clone(),
            table: m.table.clone(),
            column: Some(m.column.clone()),
            sql: m.expression.clone(),
        });
        filters.chain(masks).collect()
    }

    /// A principal's rules, gathered once per policy load.
    pub fn rules_for(&self, principal: &Principal) -> PrincipalRules {
        let subjects = self.subjects(principal);
        PrincipalRules {
            grants: pick(&self.grants, &subjects),
            masks: pick(&self.masks, &subjects),
            filters: Arc::clone(&self.filters),
        }
    }
}

/// The rules of the given subjects.
fn pick<T>(map: &HashMap<String, Vec<Arc<T>>>, subjects: &BTreeSet<String>) -> Vec<Arc<T>> {
    subjects
        .iter()
        .flat_map(|s| map.get(s).into_iter().flatten().cloned())
        .collect()
}

fn check_filter_grant(
    grant: &Grant,
    name: &str,
    filters: &HashMap<String, Arc<DataFilter>>,
) -> Result<(), String> {
    if !filters.contains_key(name) {
        return Err(format!(
            "policy row {:?}: no data filter named {name} (define it with a p2 row)",
            grant.source
        ));
    }
    if grant.effect != Effect::Allow || grant.permission != Permission::Select {
        return Err(format!(
            "policy row {:?}: data filters are granted with SELECT, allow",
            grant.source
        ));
    }
    Ok(())
}

/// A row filter or mask, located.
#[derive(Debug)]
pub struct PolicyExpression {
    pub rule: String,
    pub database: String,
    pub table: String,
    pub column: Option<String>,
    pub sql: String,
}

/// One principal's rules.
#[derive(Debug, Clone)]
pub struct PrincipalRules {
    grants: Vec<Arc<Grant>>,
    masks: Vec<Arc<Mask>>,
    filters: Arc<HashMap<String, Arc<DataFilter>>>,
}

/// What one principal may do with one table.
#[derive(Debug, Clone, PartialEq)]
pub struct TablePolicy {
    /// `database.table`.
    pub table: String,
    /// The columns that exist for the principal, in table order.
    pub columns: Vec<PolicyColumn>,
    /// Rows the principal may read (SQL over the raw row); `None` for all rows.
    pub row_filter: Option<String>,
    /// Policy elements that cannot be enforced; reading the table fails while any exist (D6).
    pub conflicts: Vec<String>,
    /// The rules that granted, denied or masked something here.
    pub decided_by: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyColumn {
    pub name: String,
    /// Position in the table's full schema.
    pub index: usize,
    /// SELECT on it (otherwise DESCRIBE only: it exists, but reading it is refused).
    pub readable: bool,
    /// Cell-level security: the value is NULL in rows where this does not hold.
    pub condition: Option<String>,
    /// The expression the principal sees instead of the value.
    pub mask: Option<String>,
}

impl TablePolicy {
    /// Whether the principal may read any column.
    pub fn can_select(&self) -> bool {
        self.columns.iter().any(|c| c.readable)
    }

    /// Every column readable as it is, for tests of what sits around a secured table.
    #[cfg(test)]
    pub fn reading_all(table: &str, schema: &datafusion::arrow::datatypes::Schema) -> Self {
        let column =
            |(index, field): (usize, &datafusion::arrow::datatypes::FieldRef)| PolicyColumn {
                name: field.name().clone(),
                index,
                readable: true,
                condition: None,
                mask: None,
            };
        Self {
            table: table.to_owned(),
            columns: schema.fields().iter().enumerate().map(column).collect(),
            row_filter: None,
            conflicts: Vec::new(),
            decided_by: Vec::new(),
        }
    }
}

impl PrincipalRules {
    pub(super) fn grants(&self) -> impl Iterator<Item = &Grant> {
        self.grants.iter().map(|g| g.as_ref())
    }

    /// Whether any rule names this database itself with a permission (e.g. CREATE_TABLE).
    pub fn mentions_database(&self, database: &str) -> bool {
        self.grants.iter().any(|g| {
            g.effect == Effect::Allow
                && matches!(&g.resource, Resource::Database(d) if super::rules::pattern_matches(d, database))
        })
    }

    /// The principal's access to a table, or `None` when no column of it exists for them.
    pub fn table_policy(
        &self,
        entry: &TableEntry,
        database_parameters: &HashMap<String, String>,
    ) -> Option<TablePolicy> {
        let names: Vec<&str> = entry
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let tags = self
            .grants
            .iter()
            .any(|g| matches!(g.resource, Resource::Tag(_)))
            .then(|| tags::column_tags(database_parameters, entry));
        let mut decisions = Decisions::new(names.len());
        for grant in &self.grants {
            let Some((columns, row_filter)) = self.applies(grant, entry, &names, tags.as_deref())
            else {
                continue;
            };
            decisions.record(grant, columns, row_filter);
            if let Resource::DataFilter(name) = &grant.resource {
                let filter = &self.filters[name];
                decisions.decided_by.push(filter.source.clone());
            }
        }
        let mut policy = decisions.into_policy(entry.qualified_name(), &names)?;
        self.apply_masks(&mut policy, entry);
        policy.conflicts.extend(self.unknown_names(entry, &names));
        Some(policy)
    }

    /// Columns that rules naming exactly this table spell out but the table does not have (a
    /// typo, a rename): the rule cannot mean what it says, so the table is not read (D6).
    fn unknown_names(&self, entry: &TableEntry, names: &[&str]) -> Vec<String> {
        let (database, table) = (&entry.glue.database_name, &entry.glue.name);
        let is_this =
            |d: &str, t: &str| d.eq_ignore_ascii_case(database) && t.eq_ignore_ascii_case(table);
        let mut named: Vec<(&str, &str)> = Vec::new();
        for grant in &self.grants {
            match &grant.resource {
                Resource::Table {
                    database: d,
                    table: t,
                } if is_this(d, t) => named.extend(
                    grant
                        .columns
                        .named()
                        .iter()
                        .map(|c| (c.as_str(), grant.source.as_str())),
                ),
                Resource::DataFilter(name) => {
                    if let Some(f) = self
                        .filters
                        .get(name)
                        .filter(|f| is_this(&f.database, &f.table))
                    {
                        named.extend(
                            f.columns
                                .named()
                                .iter()
                                .map(|c| (c.as_str(), f.source.as_str())),
                        );
                    }
                }
                _ => {}
            }
        }
        for mask in self.masks.iter().filter(|m| is_this(&m.database, &m.table)) {
            named.push((mask.column.as_str(), mask.source.as_str()));
        }
        named
            .into_iter()
            .filter(|(column, _)| !names.iter().any(|n| n.eq_ignore_ascii_case(column)))
            .map(|(column, rule)| {
                format!("rule {rule:?} names column {column}, which the table does not have")
            })
            .collect()
    }

    /// The columns a grant names in this table (and its row filter), if it applies here.
    fn applies(
        &self,
        grant: &Grant,
        entry: &TableEntry,
        names: &[&str],
        tags: Option<&[tags::Tags]>,
    ) -> Option<(Vec<bool>, Option<String>)> {
        use super::rules::pattern_matches;
        let (database, table) = (&entry.glue.database_name, &entry.glue.name);
        let (columns, row_filter) = match &grant.resource {
            Resource::Table {
                database: d,
                table: t,
            } if pattern_matches(d, database) && pattern_matches(t, table) => (
                names.iter().map(|n| grant.columns.contains(n)).collect(),
                None,
            ),
            Resource::Tag(expression) => {
                let tags = tags?;
                (tags.iter().map(|t| expression.matches(t)).collect(), None)
            }
            Resource::DataFilter(name) => {
                let filter = self.filters.get(name)?;
                if !filter.database.eq_ignore_ascii_case(database)
                    || !filter.table.eq_ignore_ascii_case(table)
                {
                    return None;
                }
                let columns = names.iter().map(|n| filter.columns.contains(n)).collect();
                (columns, Some(filter.row_filter.clone()))
            }
            // A deny on a database covers every table in it.
            Resource::Database(d)
                if grant.effect == Effect::Deny && pattern_matches(d, database) =>
            {
                (vec![true; names.len()], None)
            }
            _ => return None,
        };
        let columns: Vec<bool> = columns;
        columns.contains(&true).then_some((columns, row_filter))
    }

    /// Masks of the principal on readable columns; two different masks on one column cannot
    /// both hold, so the table becomes unreadable until the policy is fixed (as in Trino).
    fn apply_masks(&self, policy: &mut TablePolicy, entry: &TableEntry) {
        let (database, table) = (&entry.glue.database_name, &entry.glue.name);
        for mask in &self.masks {
            if !mask.database.eq_ignore_ascii_case(database)
                || !mask.table.eq_ignore_ascii_case(table)
            {
                continue;
            }
            let Some(column) = policy
                .columns
                .iter_mut()
                .find(|c| c.name.eq_ignore_ascii_case(&mask.column) && c.readable)
            else {
                continue;
            };
            match &column.mask {
                Some(existing) if existing != &mask.expression => policy
                    .conflicts
                    .push(format!("column {} has more than one mask", column.name)),
                _ => column.mask = Some(mask.expression.clone()),
            }
            policy.decided_by.push(mask.source.clone());
        }
    }
}
