//! The compiled index against casbin's own `enforce` (the model's matcher is the reference for
//! table and column grants), and the combination rules of D5 on one table.

use std::collections::HashMap;
use std::sync::Arc;

use casbin::CoreApi;
use datafusion::arrow::datatypes::{DataType, Field, Schema};

use super::compile::{PolicyIndex, TablePolicy};
use super::source;
use crate::auth::Principal;
use crate::catalog::glue_model::{Column, StorageDescriptor, Table};
use crate::catalog::TableEntry;

const MODEL: &str = include_str!("../../policies/model.conf");

const POLICY: &str = r#"
g, group:emea, role:regional
p, role:regional, sales.orders, *, SELECT, allow
p, group:analysts, sales.*, * -card_number, SELECT, allow
p, group:analysts, sales.customers, email, ALL, deny
p, group:auditors, sales.orders, order_id amount, DESCRIBE, allow
p, user:carol, sales.orders, card_number, SELECT, allow
p, user:carol, *.*, *, SELECT, deny
"#;

fn entry(database: &str, name: &str, columns: &[&str]) -> TableEntry {
    let glue = Table {
        name: name.to_owned(),
        database_name: database.to_owned(),
        storage_descriptor: StorageDescriptor {
            columns: columns
                .iter()
                .map(|c| Column {
                    name: (*c).to_owned(),
                    type_name: "string".to_owned(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        },
        ..Default::default()
    };
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(*c, DataType::Utf8, true))
        .collect();
    TableEntry::for_tests(glue, Arc::new(Schema::new(fields)))
}

fn principal(user: &str, groups: &[&str]) -> Principal {
    Principal {
        user: user.to_owned(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        superuser: false,
    }
}

async fn index(policy: &str) -> PolicyIndex {
    PolicyIndex::build(source::load(MODEL, policy).await.unwrap()).unwrap()
}

fn decide(index: &PolicyIndex, who: &Principal, table: &TableEntry) -> Option<TablePolicy> {
    index.rules_for(who).table_policy(table, &HashMap::new())
}

#[tokio::test]
async fn the_index_agrees_with_casbin_enforce() {
    let index = index(POLICY).await;
    let enforcer = source::enforcer(MODEL, POLICY).await.unwrap();
    let tables = [
        entry("sales", "orders", &["order_id", "amount", "card_number"]),
        entry("sales", "customers", &["customer_id", "email"]),
    ];
    let people = [
        principal("ann", &["analysts"]),
        principal("eve", &["emea"]),
        principal("al", &["auditors"]),
        principal("carol", &[]),
        principal("nobody", &[]),
    ];
    for who in &people {
        for table in &tables {
            let decided = decide(&index, who, table);
            for field in table.schema.fields() {
                let object = format!("{}.{}", table.qualified_name(), field.name());
                let column = decided
                    .as_ref()
                    .and_then(|p| p.columns.iter().find(|c| &c.name == field.name()));
                for (act, ours) in [
                    ("SELECT", column.is_some_and(|c| c.readable)),
                    ("DESCRIBE", column.is_some()),
                ] {
                    let subjects = index.subjects(who);
                    let casbin = subjects.iter().any(|s| {
                        enforcer
                            .enforce((s.as_str(), object.as_str(), act))
                            .unwrap()
                    });
                    // casbin decides per subject; a deny on any of the principal's subjects wins.
                    let denied = subjects
                        .iter()
                        .any(|s| has_deny(&enforcer, s, &object, act));
                    assert_eq!(ours, casbin && !denied, "{} {act} {object}", who.user);
                }
            }
        }
    }
}

/// Whether a deny row of the policy matches the subject (directly or through a role).
fn has_deny(enforcer: &casbin::Enforcer, subject: &str, object: &str, act: &str) -> bool {
    use casbin::{MgmtApi, RbacApi};
    let mut subjects = enforcer.get_implicit_roles_for_user(subject, None);
    subjects.push(subject.to_owned());
    enforcer.get_policy().iter().any(|row| {
        subjects.contains(&row[0])
            && row[4] == "deny"
            && source::request_matches(object, &row[1], &row[2])
            && (row[3] == act || row[3] == "ALL" || (act == "SELECT" && row[3] == "DESCRIBE"))
    })
}

#[tokio::test]
async fn filters_combine_with_or_and_cells_outside_their_rows_are_null() {
    let policy = r#"
p, group:us, filter:us_rows, *, SELECT, allow
p2, us_rows, hr.employees, "region = 'US'", * -salary
p, group:hr, filter:hr_rows, *, SELECT, allow
p2, hr_rows, hr.employees, "dept = 'HR'", *
"#;
    let index = index(policy).await;
    let table = entry("hr", "employees", &["name", "dept", "region", "salary"]);
    let both = decide(&index, &principal("p", &["us", "hr"]), &table).unwrap();
    assert_eq!(
        both.row_filter.as_deref(),
        Some("(dept = 'HR') OR (region = 'US')")
    );
    let salary = both.columns.iter().find(|c| c.name == "salary").unwrap();
    assert_eq!(salary.condition.as_deref(), Some("dept = 'HR'"));
    let name = both.columns.iter().find(|c| c.name == "name").unwrap();
    assert_eq!(name.condition, None);
    let us_only = decide(&index, &principal("q", &["us"]), &table).unwrap();
    assert!(!us_only.columns.iter().any(|c| c.name == "salary"));
}

#[tokio::test]
async fn two_masks_on_one_column_cannot_be_enforced() {
    let policy = r#"
p, group:a, sales.customers, *, SELECT, allow
p3, group:a, sales.customers.email, "md5(email)"
p3, group:b, sales.customers.email, "'hidden'"
"#;
    let index = index(policy).await;
    let table = entry("sales", "customers", &["customer_id", "email"]);
    let one = decide(&index, &principal("p", &["a"]), &table).unwrap();
    assert!(one.conflicts.is_empty());
    assert_eq!(one.columns[1].mask.as_deref(), Some("md5(email)"));
    let two = decide(&index, &principal("q", &["a", "b"]), &table).unwrap();
    assert_eq!(two.conflicts.len(), 1);
}

#[tokio::test]
async fn rows_of_unknown_kinds_and_undefined_filters_fail_the_load() {
    let unknown = source::load(MODEL, "p4, group:a, x, y\n").await;
    assert!(unknown.unwrap_err().contains("unknown kind"));
    let undefined = source::load(MODEL, "p, group:a, filter:nope, *, SELECT, allow\n").await;
    assert!(PolicyIndex::build(undefined.unwrap())
        .unwrap_err()
        .contains("nope"));
    let no_masks_in_model = MODEL.replace("p3 = sub, col, expr", "");
    assert!(source::load(&no_masks_in_model, "").await.is_err());
}
