//! Write permissions (Lake Formation's names): CREATE_DATABASE and CREATE_TABLE on a database;
//! INSERT, DELETE, ALTER and DROP on a table. They are checked before anything is written.
//! A table's creator may do everything with it unless a rule denies it explicitly; a deny
//! always wins (D5).

use super::compile::PrincipalRules;
use super::rules::{pattern_matches, Effect, Permission, Resource};

/// What a write acts on.
#[derive(Debug, Clone, Copy)]
pub enum WriteTarget<'a> {
    Database(&'a str),
    Table { database: &'a str, table: &'a str },
}

impl PrincipalRules {
    /// Whether the principal may act so on the target; `owner` when they created it.
    pub fn may(&self, permission: Permission, target: WriteTarget<'_>, owner: bool) -> bool {
        let mut allowed = owner;
        for grant in self.grants() {
            if !grant.permission.covers(permission)
                || !applies(&grant.resource, target, grant.effect)
            {
                continue;
            }
            match grant.effect {
                Effect::Deny => return false,
                Effect::Allow => allowed = true,
            }
        }
        allowed
    }
}

fn applies(resource: &Resource, target: WriteTarget<'_>, effect: Effect) -> bool {
    match (resource, target) {
        (Resource::Database(pattern), WriteTarget::Database(database)) => {
            pattern_matches(pattern, database)
        }
        // A deny on a database covers its tables, as it does for reads.
        (Resource::Database(pattern), WriteTarget::Table { database, .. }) => {
            effect == Effect::Deny && pattern_matches(pattern, database)
        }
        (
            Resource::Table {
                database: d,
                table: t,
            },
            WriteTarget::Table { database, table },
        ) => pattern_matches(d, database) && pattern_matches(t, table),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Principal;
    use crate::policy::{source, PolicyIndex};

    const POLICY: &str = r#"
p, group:transformers, analytics, *, CREATE_TABLE, allow
p, group:transformers, analytics, *, CREATE_DATABASE, allow
p, group:transformers, analytics.*, *, ALL, allow
p, group:transformers, analytics.frozen, *, DROP, deny
p, group:analysts, sales.*, *, SELECT, allow
"#;

    async fn rules(groups: &[&str]) -> PrincipalRules {
        let model = include_str!("../../policies/model.conf");
        let index = PolicyIndex::build(source::load(model, POLICY).await.unwrap()).unwrap();
        let principal = Principal {
            user: "u".into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            superuser: false,
        };
        index.rules_for(&principal)
    }

    fn table<'a>(database: &'a str, table: &'a str) -> WriteTarget<'a> {
        WriteTarget::Table { database, table }
    }

    #[tokio::test]
    async fn write_grants_follow_lake_formation_names() {
        let dbt = rules(&["transformers"]).await;
        assert!(dbt.may(
            Permission::CreateTable,
            WriteTarget::Database("analytics"),
            false
        ));
        assert!(dbt.may(
            Permission::CreateDatabase,
            WriteTarget::Database("analytics"),
            false
        ));
        assert!(!dbt.may(
            Permission::CreateTable,
            WriteTarget::Database("sales"),
            false
        ));
        assert!(dbt.may(Permission::Insert, table("analytics", "m"), false));
        assert!(dbt.may(Permission::Drop, table("analytics", "m"), false));
        assert!(!dbt.may(Permission::Drop, table("analytics", "frozen"), false));
        assert!(!dbt.may(Permission::Insert, table("sales", "orders"), false));
        let analyst = rules(&["analysts"]).await;
        assert!(!analyst.may(Permission::Delete, table("sales", "orders"), false));
        assert!(!analyst.may(
            Permission::CreateTable,
            WriteTarget::Database("analytics"),
            false
        ));
        // A creator may change what they made, unless a rule denies it.
        assert!(analyst.may(Permission::Drop, table("sales", "mine"), true));
        assert!(!dbt.may(Permission::Drop, table("analytics", "frozen"), true));
    }
}
