//! PostgreSQL spellings that clients and their users write, and the catalog functions client
//! libraries call (client_traffic/SUMMARY.md's ranked list), each checked against a plain
//! query over the same data or against PostgreSQL's documented answer.

mod common;

use common::{connect, rows};
use tokio_postgres::Client;

/// The single value of a one-row, one-column query.
async fn value(client: &Client, sql: &str) -> Option<String> {
    let messages = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let rows = rows(&messages);
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows[0][0].clone()
}

async fn column(client: &Client, sql: &str) -> Vec<Option<String>> {
    let messages = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows(&messages)
        .into_iter()
        .map(|mut r| r.remove(0))
        .collect()
}

#[tokio::test]
async fn operators_and_literals_read_as_in_postgresql() {
    let client = connect("analyst").await;
    let ilike = "SELECT count(*) FROM sales.orders WHERE status ILIKE 'SHIP%'";
    let like = "SELECT count(*) FROM sales.orders WHERE status LIKE 'ship%'";
    assert_eq!(value(&client, ilike).await, value(&client, like).await);
    assert_eq!(
        value(&client, "SELECT E'a\\tb'").await.as_deref(),
        Some("a\tb")
    );
    let regex = "SELECT 'sales' OPERATOR(pg_catalog.~) '^sa', 'raw' !~ '^sa'";
    assert_eq!(column(&client, regex).await, [Some("t".into())]);
    let any = "SELECT order_id FROM sales.orders WHERE order_id = ANY(ARRAY[3, 1]) ORDER BY 1";
    assert_eq!(
        column(&client, any).await,
        [Some("1".into()), Some("3".into())]
    );
    let all = "SELECT count(*) FROM sales.orders WHERE status <> ALL('{placed,shipped}')";
    let not_in = "SELECT count(*) FROM sales.orders WHERE status NOT IN ('placed', 'shipped')";
    assert_eq!(value(&client, all).await, value(&client, not_in).await);
    assert_eq!(
        value(&client, "SELECT '42'::int + 1").await.as_deref(),
        Some("43")
    );
    let interval = "SELECT (DATE '2024-01-31' + INTERVAL '1 day')::date";
    assert_eq!(
        value(&client, interval).await.as_deref(),
        Some("2024-02-01")
    );
}

#[tokio::test]
async fn date_trunc_and_three_part_names_agree_with_plain_queries() {
    let client = connect("analyst").await;
    let truncated = "SELECT count(*) FROM sales.orders \
                     WHERE date_trunc('month', order_date) = DATE '2024-03-01'";
    let ranged = "SELECT count(*) FROM sales.orders \
                  WHERE order_date BETWEEN '2024-03-01' AND '2024-03-31'";
    assert_eq!(
        value(&client, truncated).await,
        value(&client, ranged).await
    );
    let three_part = "SELECT count(*) FROM \"lake\".\"sales\".\"orders\"";
    let two_part = "SELECT count(*) FROM sales.orders";
    assert_eq!(
        value(&client, three_part).await,
        value(&client, two_part).await
    );
    let info = "SELECT count(*) FROM \"lake\".INFORMATION_SCHEMA.columns \
                WHERE table_schema = 'sales' AND table_name = 'orders'";
    assert_eq!(value(&client, info).await.as_deref(), Some("8"));
}

#[tokio::test]
async fn catalog_functions_answer_like_postgresql() {
    let client = connect("analyst").await;
    let regclass = "SELECT 'sales.orders'::regclass::oid = \
                    (SELECT oid FROM pg_catalog.pg_class WHERE relname = 'orders')";
    assert_eq!(value(&client, regclass).await.as_deref(), Some("t"));
    let regtype = "SELECT to_regtype('numeric')::oid, 'bigint'::regtype::oid, to_regtype('nope')";
    let messages = client.simple_query(regtype).await.unwrap();
    assert_eq!(
        rows(&messages),
        [vec![Some("1700".into()), Some("20".into()), None]]
    );
    let comment = "SELECT obj_description('sales.orders'::regclass, 'pg_class')";
    assert_eq!(
        value(&client, comment).await.as_deref(),
        Some("Customer orders (curated zone)")
    );
    let column_comment = "SELECT col_description('sales.orders'::regclass, 1)";
    assert_eq!(
        value(&client, column_comment).await.as_deref(),
        Some("Order identifier, unique")
    );
    let json = "SELECT json_build_object('a', 1, 'b', 'x')::text";
    assert_eq!(
        value(&client, json).await.as_deref(),
        Some("{\"a\" : 1, \"b\" : \"x\"}")
    );
    // pgjdbc's spelling: the set-returning function in the select list, its fields read with
    // `(composite).field`.
    let expand = "SELECT (k).x, (k).n FROM (SELECT information_schema._pg_expandarray(ARRAY[10, 20]) AS k) e ORDER BY 2";
    let messages = client.simple_query(expand).await.unwrap();
    assert_eq!(
        rows(&messages),
        [
            vec![Some("10".into()), Some("1".into())],
            vec![Some("20".into()), Some("2".into())]
        ]
    );
    let keywords = "SELECT count(*) > 50 FROM pg_get_keywords() WHERE catcode = 'R'";
    assert_eq!(value(&client, keywords).await.as_deref(), Some("t"));
}

#[tokio::test]
async fn settings_read_and_change_through_functions() {
    let client = connect("analyst").await;
    let set = "SELECT set_config('application_name', 'renamed', false)";
    assert_eq!(value(&client, set).await.as_deref(), Some("renamed"));
    let shown = "SELECT current_setting('application_name')";
    assert_eq!(value(&client, shown).await.as_deref(), Some("renamed"));
    assert_eq!(
        value(&client, "SHOW application_name").await.as_deref(),
        Some("renamed")
    );
    let missing = "SELECT current_setting('no.such_setting', true)";
    assert_eq!(value(&client, missing).await, None);
}
