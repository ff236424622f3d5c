//! The demo principals under the demo policy (DESIGN.md): what issue 4's "done when" asks, over
//! the wire against the demo lake.

mod common;

use common::{connect, rows, sqlstate};

async fn text_rows(user: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    let client = connect(user).await;
    rows(
        &client
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}")),
    )
}

async fn error_of(user: &str, sql: &str) -> (String, String) {
    let client = connect(user).await;
    let error = client.simple_query(sql).await.expect_err(sql);
    let message = error
        .as_db_error()
        .map(|d| d.message().to_owned())
        .unwrap_or_default();
    (sqlstate(&error), message)
}

async fn column_names(user: &str, sql: &str) -> Vec<String> {
    let client = connect(user).await;
    let statement = client.prepare(sql).await.unwrap();
    statement
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect()
}

#[tokio::test]
async fn analyst_never_sees_pii_columns() {
    let columns = column_names("analyst", "SELECT * FROM sales.customers").await;
    assert_eq!(
        columns,
        ["customer_id", "name", "country", "segment", "signup_date"]
    );
    let orders = column_names("analyst", "SELECT * FROM sales.orders").await;
    assert!(!orders.contains(&"card_number".to_owned()), "{orders:?}");
    let hidden = error_of("analyst", "SELECT email FROM sales.customers").await;
    let misspelled = error_of("analyst", "SELECT emial FROM sales.customers").await;
    assert_eq!(hidden.0, "42703");
    assert_eq!(hidden.1, misspelled.1.replace("emial", "email"));
    let described = text_rows(
        "analyst",
        "SELECT a.attname FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON a.attrelid = c.oid \
         JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid \
         WHERE n.nspname = 'sales' AND c.relname = 'customers' AND a.attnum > 0 ORDER BY a.attnum",
    )
    .await;
    let names: Vec<_> = described.iter().map(|r| r[0].clone().unwrap()).collect();
    assert_eq!(
        names,
        ["customer_id", "name", "country", "segment", "signup_date"]
    );
}

#[tokio::test]
async fn admin_sees_every_column() {
    let columns = column_names("admin", "SELECT * FROM sales.customers").await;
    assert!(columns.contains(&"email".to_owned()) && columns.contains(&"phone".to_owned()));
}

#[tokio::test]
async fn emea_analyst_sees_emea_orders_only() {
    let admin = text_rows(
        "admin",
        "SELECT count(*) FROM sales.orders WHERE region = 'EMEA'",
    )
    .await;
    for sql in [
        "SELECT count(*) FROM sales.orders",
        "SELECT count(*) FROM (SELECT * FROM sales.orders) o",
        "SELECT count(*) FROM sales.orders WHERE region = 'EMEA' OR 1 = 1",
        "SELECT count(*) FROM sales.orders WHERE 1/(CASE WHEN region='APAC' THEN 0 ELSE 1 END) = 1",
    ] {
        let emea = text_rows("emea_analyst", sql).await;
        assert_eq!(emea, admin, "{sql}");
    }
    let regions = text_rows("emea_analyst", "SELECT DISTINCT region FROM sales.orders").await;
    assert_eq!(regions, [[Some("EMEA".to_owned())]]);
    let (state, _) = error_of("emea_analyst", "SELECT card_number FROM sales.orders").await;
    assert_eq!(state, "42703");
}

#[tokio::test]
async fn emea_analyst_sees_masked_emails() {
    let rows = text_rows(
        "emea_analyst",
        "SELECT c.email, count(*) FROM sales.orders o JOIN sales.customers c ON o.customer_id = c.customer_id \
         GROUP BY c.email LIMIT 5",
    )
    .await;
    assert!(!rows.is_empty());
    for row in rows {
        let email = row[0].clone().unwrap();
        assert!(email.starts_with("****@"), "{email}");
    }
    let (state, _) = error_of("emea_analyst", "SELECT phone FROM sales.customers").await;
    assert_eq!(state, "42703");
}

#[tokio::test]
async fn marketing_sees_the_web_database_only() {
    let tables = text_rows(
        "marketing",
        "SELECT table_schema FROM information_schema.tables WHERE table_schema NOT IN ('information_schema', 'pg_catalog') GROUP BY table_schema",
    )
    .await;
    assert_eq!(tables, [[Some("web".to_owned())]]);
    let (state, _) = error_of("marketing", "SELECT count(*) FROM sales.orders").await;
    assert_eq!(state, "42P01");
    let events = text_rows("marketing", "SELECT count(*) > 0 FROM web.events").await;
    assert_eq!(events, [[Some("t".to_owned())]]);
}

#[tokio::test]
async fn explain_hides_policy_expressions_from_non_admins() {
    let client = connect("emea_analyst").await;
    let plan = common::explain(&client, "SELECT count(*) FROM sales.orders").await;
    assert!(plan.contains("SecureScanExec"), "{plan}");
    for secret in ["EMEA", "card_number", "curated/", "lake_scan"] {
        assert!(!plan.contains(secret), "EXPLAIN shows {secret}: {plan}");
    }
}
