//! Write permissions (Lake Formation's names): CREATE_DATABASE and CREATE_TABLE on a database;
//! INSERT, DELETE, ALTER and DROP on a table. They are checked before anything is written.
//! A table's creator may do everything with it unless a rule denies it explicitly; a deny
//! always wins (D5), also one given through LF-Tags.

use super::compile::PrincipalRules;
use super::rules::{pattern_matches, Effect, Grant, Permission, Resource};
use super::tags::Tags;

/// What a write acts on.
#[derive(Debug, Clone, Copy)]
pub enum WriteTarget<'a> {
    Database(&'a str),
    Table { database: &'a str, table: &'a str },
}

/// What a write decision knows about its target.
#[derive(Debug, Clone, Copy)]
pub struct TargetFacts<'a> {
    /// The principal created the table (lakegate recorded it so).
    pub owner: bool,
    /// The effective LF-Tags of each of the table's columns (empty for databases).
    pub column_tags: &'a [Tags],
}

impl PrincipalRules {
    /// Whether the principal may act so on the target.
    pub fn may(
        &self,
        permission: Permission,
        target: WriteTarget<'_>,
        facts: TargetFacts<'_>,
    ) -> bool {
        let mut allowed = facts.owner;
        for grant in self.grants() {
            if !grant.permission.covers(permission) || !applies(grant, target, facts.column_tags) {
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

fn applies(grant: &Grant, target: WriteTarget<'_>, column_tags: &[Tags]) -> bool {
    match (&grant.resource, target) {
        (Resource::Database(pattern), WriteTarget::Database(database)) => {
            pattern_matches(pattern, database)
        }
        // A deny on a database covers its tables, as it does for reads.
        (Resource::Database(pattern), WriteTarget::Table { database, .. }) => {
            grant.effect == Effect::Deny && pattern_matches(pattern, database)
        }
        (
            Resource::Table {
                database: d,
                table: t,
            },
            WriteTarget::Table { database, table },
        ) => pattern_matches(d, database) && pattern_matches(t, table),
        // A tag deny on any column denies writing the table; a tag grant allows it only when
        // it covers every column.
        (Resource::Tag(expression), WriteTarget::Table { .. }) => match grant.effect {
            Effect::Deny => column_tags.iter().any(|t| expression.matches(t)),
            Effect::Allow => {
                !column_tags.is_empty() && column_tags.iter().all(|t| expression.matches(t))
            }
        },
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
p, group:transformers, tag:sensitivity=pii, *, ALL, deny
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

    const PLAIN: TargetFacts<'static> = TargetFacts {
        owner: false,
        column_tags: &[],
    };
    const OWNED: TargetFacts<'static> = TargetFacts {
        owner: true,
        column_tags: &[],
    };

    #[tokio::test]
    async fn write_grants_follow_lake_formation_names() {
        let dbt = rules(&["transformers"]).await;
        assert!(dbt.may(
            Permission::CreateTable,
            WriteTarget::Database("analytics"),
            PLAIN
        ));
        assert!(dbt.may(
            Permission::CreateDatabase,
            WriteTarget::Database("analytics"),
            PLAIN
        ));
        assert!(!dbt.may(
            Permission::CreateTable,
            WriteTarget::Database("sales"),
            PLAIN
        ));
        assert!(dbt.may(Permission::Insert, table("analytics", "m"), PLAIN));
        assert!(dbt.may(Permission::Drop, table("analytics", "m"), PLAIN));
        assert!(!dbt.may(Permission::Drop, table("analytics", "frozen"), PLAIN));
        assert!(!dbt.may(Permission::Insert, table("sales", "orders"), PLAIN));
        let analyst = rules(&["analysts"]).await;
        assert!(!analyst.may(Permission::Delete, table("sales", "orders"), PLAIN));
        assert!(!analyst.may(
            Permission::CreateTable,
            WriteTarget::Database("analytics"),
            PLAIN
        ));
        // A creator may change what they made, unless a rule denies it.
        assert!(analyst.may(Permission::Drop, table("sales", "mine"), OWNED));
        assert!(!dbt.may(Permission::Drop, table("analytics", "frozen"), OWNED));
    }

    #[tokio::test]
    async fn a_tag_deny_on_any_column_blocks_writes() {
        let dbt = rules(&["transformers"]).await;
        let pii: Tags = [("sensitivity".to_owned(), "pii".to_owned())].into();
        let tags = [Tags::new(), pii];
        let facts = TargetFacts {
            owner: true,
            column_tags: &tags,
        };
        assert!(!dbt.may(Permission::Insert, table("analytics", "m"), facts));
    }
}
