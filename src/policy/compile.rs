//! From rules to decisions: the rules are indexed by subject when policies load, so a principal's
//! rules are found with a few hash lookups, and a table's effective access ([`TablePolicy`]) is
//! computed from that principal's rules only.
//!
//! Combination follows D5: grants combine permissively (union of columns, OR of row filters);
//! a deny always wins. A data filter's columns outside its rows read as NULL (Lake Formation's
//! cell-level security).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

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
        let filters: HashMap<String, Arc<DataFilter>> = set
            .filters
            .into_iter()
            .map(|f| (f.name.clone(), Arc::new(f)))
            .collect();
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
}

/// One allowing rule's contribution to a table: the columns it names and the rows it covers.
struct Allowed {
    columns: Vec<bool>,
    row_filter: Option<String>,
}

impl PrincipalRules {
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
        }
        let mut policy = decisions.into_policy(entry.qualified_name(), &names)?;
        self.apply_masks(&mut policy, entry);
        Some(policy)
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
                if &filter.database != database || &filter.table != table {
                    return None;
                }
                let columns = names.iter().map(|n| filter.columns.contains(n)).collect();
                (columns, Some(filter.row_filter.clone()))
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
            if &mask.database != database || &mask.table != table {
                continue;
            }
            let Some(column) = policy
                .columns
                .iter_mut()
                .find(|c| c.name == mask.column && c.readable)
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

/// Grants and denies collected for one table.
struct Decisions {
    select: Vec<Allowed>,
    describe: Vec<bool>,
    deny_select: Vec<bool>,
    deny_describe: Vec<bool>,
    decided_by: Vec<String>,
}

fn or_into(target: &mut [bool], columns: &[bool]) {
    target.iter_mut().zip(columns).for_each(|(t, c)| *t |= c);
}

impl Decisions {
    fn new(width: usize) -> Self {
        Self {
            select: Vec::new(),
            describe: vec![false; width],
            deny_select: vec![false; width],
            deny_describe: vec![false; width],
            decided_by: Vec::new(),
        }
    }

    fn record(&mut self, grant: &Grant, columns: Vec<bool>, row_filter: Option<String>) {
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

    fn into_policy(self, table: String, names: &[&str]) -> Option<TablePolicy> {
        let readable: Vec<bool> = (0..names.len())
            .map(|i| !self.deny_select[i] && self.select.iter().any(|a| a.columns[i]))
            .collect();
        let allows: Vec<&Allowed> = self
            .select
            .iter()
            .filter(|a| a.columns.iter().zip(&readable).any(|(c, r)| *c && *r))
            .collect();
        let row_filter = any_of(&allows);
        let columns: Vec<PolicyColumn> = names
            .iter()
            .enumerate()
            .filter(|(i, _)| (readable[*i] || self.describe[*i]) && !self.deny_describe[*i])
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
