//! The write path (issue 8): CREATE SCHEMA, CTAS as Delta registered in the catalog, views
//! expanded with the reader's rights, rename, drop, temporary tables, INSERT and DELETE on Delta
//! tables, write grants (42501) and the audit of writes. dbt itself runs in tests/dbt.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{connect_to, rows, sqlstate, start_gateway, TestGateway};
use serde_json::Value;
use tokio_postgres::{Client, SimpleQueryMessage};

/// A gateway over the shared test lake whose catalog store and new tables are its own.
fn gateway() -> &'static TestGateway {
    static GATEWAY: OnceLock<TestGateway> = OnceLock::new();
    GATEWAY.get_or_init(|| {
        let dir = scratch();
        start_gateway(move |config| {
            config.catalog.store_dir = Some(dir.join("catalog"));
            config.catalog.create_location = dir.join("curated").display().to_string();
        })
    })
}

/// This test binary's directory for catalog entries and table data.
fn scratch() -> PathBuf {
    let dir = scratch_dir();
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn scratch_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("writes")
        .join(std::process::id().to_string())
}

/// The tables of the gateway's catalog store (Glue's GetTables shape).
fn store_tables() -> Vec<Value> {
    let text =
        std::fs::read_to_string(catalog_file()).unwrap_or_else(|_| "{\"TableList\":[]}".into());
    let value: Value = serde_json::from_str(&text).unwrap();
    value["TableList"].as_array().cloned().unwrap_or_default()
}

fn catalog_file() -> PathBuf {
    scratch_dir().join("catalog").join("tables.json")
}

/// The directory of a table lakegate wrote, from the catalog store.
fn location_of(database: &str, table: &str) -> PathBuf {
    let entry = store_tables()
        .into_iter()
        .find(|t| t["DatabaseName"] == database && t["Name"] == table)
        .unwrap_or_else(|| panic!("{database}.{table} is not in the catalog store"));
    PathBuf::from(entry["StorageDescriptor"]["Location"].as_str().unwrap())
}

fn delta_versions(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("_delta_log"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count()
}

async fn one(client: &Client, sql: &str) -> String {
    let got = rows(&client.simple_query(sql).await.unwrap());
    got[0][0].clone().unwrap_or_default()
}

/// The row count of a statement's command tag (`SELECT n`, `INSERT 0 n`, `DELETE n`; 0 for
/// tags without one).
async fn affected(client: &Client, sql: &str) -> String {
    let messages = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(n.to_string()),
            _ => None,
        })
        .unwrap_or_default()
}

async fn refused(client: &Client, sql: &str) -> String {
    let error = client.simple_query(sql).await.unwrap_err();
    sqlstate(&error)
}

#[tokio::test]
async fn models_are_built_swapped_and_dropped_as_dbt_does() {
    let dbt = connect_to(gateway(), "dbt").await;
    dbt.simple_query("create schema if not exists \"analytics\"")
        .await
        .unwrap();
    dbt.simple_query("create schema if not exists analytics")
        .await
        .unwrap();
    dbt.simple_query(
        "create view \"lake\".\"analytics\".\"delivered__dbt_tmp\" as (select order_id, customer_id, amount from \"lake\".\"sales\".\"orders\" where status = 'delivered')",
    )
    .await
    .unwrap();
    dbt.simple_query(
        "alter table \"lake\".\"analytics\".\"delivered__dbt_tmp\" rename to \"delivered\"",
    )
    .await
    .unwrap();
    let expected = one(
        &dbt,
        "select count(*) from sales.orders where status = 'delivered'",
    )
    .await;
    assert_eq!(
        one(&dbt, "select count(*) from analytics.delivered").await,
        expected
    );

    let created = affected(
        &dbt,
        "create table analytics.revenue__dbt_tmp as (select customer_id, sum(amount) as revenue, count(*) as n from analytics.delivered group by 1)",
    )
    .await;
    let customers = one(
        &dbt,
        "select count(distinct customer_id) from analytics.delivered",
    )
    .await;
    assert_eq!(created, customers);
    dbt.simple_query("alter table analytics.revenue__dbt_tmp rename to revenue")
        .await
        .unwrap();
    let total = one(
        &dbt,
        "select sum(amount) from sales.orders where status = 'delivered'",
    )
    .await;
    assert_eq!(
        one(&dbt, "select sum(revenue) from analytics.revenue").await,
        total
    );
    let columns = dbt
        .prepare("select * from analytics.revenue")
        .await
        .unwrap();
    let types: Vec<String> = columns
        .columns()
        .iter()
        .map(|c| c.type_().name().to_owned())
        .collect();
    assert_eq!(types, ["int8", "numeric", "int8"]);

    // dbt lists tables and views apart.
    let listed = rows(
        &dbt.simple_query("select 'table', tablename from pg_tables where schemaname = 'analytics' and tablename in ('delivered', 'revenue') union all select 'view', viewname from pg_views where schemaname = 'analytics' and viewname in ('delivered', 'revenue') order by 2")
            .await
            .unwrap(),
    );
    assert_eq!(
        listed,
        [
            vec![Some("view".into()), Some("delivered".into())],
            vec![Some("table".into()), Some("revenue".into())]
        ]
    );

    // A failed CTAS leaves nothing behind and the previous model readable.
    let error = refused(
        &dbt,
        "create table analytics.broken as (select 1/0 as x from analytics.delivered)",
    )
    .await;
    assert_eq!(error, "22012");
    assert_eq!(
        refused(&dbt, "select * from analytics.broken").await,
        "42P01"
    );
    assert_eq!(
        one(&dbt, "select sum(revenue) from analytics.revenue").await,
        total
    );

    assert_eq!(
        refused(&dbt, "drop table analytics.delivered").await,
        "42809"
    );
    assert_eq!(refused(&dbt, "drop view analytics.revenue").await, "42809");
    let dir = location_of("analytics", "revenue");
    assert!(dir.join("_delta_log").exists());
    affected(&dbt, "drop table if exists analytics.revenue cascade").await;
    assert!(!dir.exists(), "the dropped table's files are deleted");
    affected(&dbt, "drop view if exists analytics.nope cascade").await;
    dbt.simple_query("drop view analytics.delivered")
        .await
        .unwrap();
    assert_eq!(
        refused(&dbt, "select * from analytics.delivered").await,
        "42P01"
    );
}

#[tokio::test]
async fn incremental_models_delete_and_insert_through_a_temporary_table() {
    let dbt = connect_to(gateway(), "dbt").await;
    dbt.simple_query("create schema if not exists analytics")
        .await
        .unwrap();
    dbt.simple_query(
        "create table analytics.orders_inc as (select order_id, customer_id, amount from sales.orders where order_id <= 3000)",
    )
    .await
    .unwrap();
    let dir = location_of("analytics", "orders_inc");
    let first = one(&dbt, "select count(*) from analytics.orders_inc").await;
    assert_eq!(first, "3000");
    let staged = affected(
        &dbt,
        "create temporary table \"orders_inc__dbt_tmp1\" as (select order_id, customer_id, amount * 2 as amount from sales.orders where order_id between 2901 and 3100)",
    )
    .await;
    assert_eq!(staged, "200");
    let described = rows(
        &dbt.simple_query("select column_name from INFORMATION_SCHEMA.columns where table_name = 'orders_inc__dbt_tmp1' order by ordinal_position")
            .await
            .unwrap(),
    );
    assert_eq!(described.len(), 3);
    let deleted = affected(
        &dbt,
        "delete from \"lake\".\"analytics\".\"orders_inc\" as DBT_INTERNAL_DEST where (order_id) in (select distinct order_id from \"orders_inc__dbt_tmp1\" as DBT_INTERNAL_SOURCE)",
    )
    .await;
    assert_eq!(deleted, "100");
    let inserted = affected(
        &dbt,
        "insert into \"lake\".\"analytics\".\"orders_inc\" (\"order_id\", \"customer_id\", \"amount\") (select \"order_id\", \"customer_id\", \"amount\" from \"orders_inc__dbt_tmp1\")",
    )
    .await;
    assert_eq!(inserted, "200");
    assert_eq!(
        one(&dbt, "select count(*) from analytics.orders_inc").await,
        "3100"
    );
    assert_eq!(
        one(
            &dbt,
            "select count(distinct order_id) from analytics.orders_inc"
        )
        .await,
        "3100"
    );
    let doubled = one(
        &dbt,
        "select count(*) from analytics.orders_inc i join sales.orders o using (order_id) where i.amount = o.amount * 2",
    )
    .await;
    assert_eq!(doubled, "200");
    // Create, delete, insert: three commits in the table's Delta log.
    assert_eq!(delta_versions(&dir), 3);
    // A DELETE that matches nothing still answers, and the temporary table is the session's.
    assert_eq!(
        affected(&dbt, "delete from analytics.orders_inc where order_id < 0").await,
        "0"
    );
    let other = connect_to(gateway(), "dbt").await;
    assert_eq!(
        refused(&other, "select * from orders_inc__dbt_tmp1").await,
        "42P01"
    );
}

#[tokio::test]
async fn writes_need_their_grants_and_change_nothing_without_them() {
    let admin = connect_to(gateway(), "admin").await;
    admin
        .simple_query("create schema if not exists sandbox")
        .await
        .unwrap();
    admin
        .simple_query("create table if not exists sandbox.t as select 1 as a")
        .await
        .unwrap();
    let analyst = connect_to(gateway(), "analyst").await;
    assert_eq!(
        refused(&analyst, "create table sandbox.x as select 1 as a").await,
        "42501"
    );
    // Tables the analyst cannot see do not exist for them (D2).
    assert_eq!(
        refused(&analyst, "insert into sandbox.t select 2").await,
        "42P01"
    );
    let dbt = connect_to(gateway(), "dbt").await;
    let before = one(&dbt, "select count(*) from sales.customers").await;
    assert_eq!(
        refused(
            &dbt,
            "insert into sales.customers select * from sales.customers limit 1"
        )
        .await,
        "42501"
    );
    assert_eq!(refused(&dbt, "delete from sales.customers").await, "42501");
    assert_eq!(refused(&dbt, "drop table sales.customers").await, "42501");
    assert_eq!(
        refused(&dbt, "alter table sales.customers rename to c2").await,
        "42501"
    );
    assert_eq!(refused(&dbt, "create schema forbidden").await, "42501");
    assert_eq!(
        refused(&dbt, "create table sales.x as select 1 as a").await,
        "42501"
    );
    assert_eq!(
        one(&dbt, "select count(*) from sales.customers").await,
        before
    );
    let schemas = rows(
        &admin
            .simple_query("select nspname from pg_namespace")
            .await
            .unwrap(),
    );
    assert!(!schemas.iter().any(|r| r[0].as_deref() == Some("forbidden")));
    assert_eq!(
        refused(&admin, "create table sandbox.t as select 1 as a").await,
        "42P07"
    );
    assert_eq!(
        refused(&admin, "create table nowhere.t as select 1 as a").await,
        "3F000"
    );
}

#[tokio::test]
async fn writes_are_audited_with_target_and_rows() {
    let admin = connect_to(gateway(), "admin").await;
    admin
        .simple_query("create schema if not exists audited")
        .await
        .unwrap();
    let ctas =
        "create table audited.small as select order_id from sales.orders where order_id <= 25";
    admin.simple_query(ctas).await.unwrap();
    let delete = "delete from audited.small where order_id > 20";
    admin.simple_query(delete).await.unwrap();
    let dir = gateway().audit_dir.clone();
    let terminal = |text: &'static str| {
        let dir = dir.clone();
        async move {
            let mut found = None;
            common::wait_until(std::time::Duration::from_secs(20), || {
                let hit = common::audit_segments(&dir).iter().find_map(|file| {
                    common::segment_text(file).lines().find_map(|l| {
                        let record: Value = serde_json::from_str(l).unwrap();
                        (record["event"] == "statement" && record["statement"]["text"] == text)
                            .then_some(record)
                    })
                });
                found = hit.clone();
                async move { hit.is_some() }
            })
            .await;
            found.unwrap()
        }
    };
    let created = terminal(ctas).await;
    assert_eq!(created["statement"]["class"], "DDL");
    assert_eq!(created["writes"][0]["table"], "audited.small");
    assert_eq!(created["writes"][0]["operation"], "create");
    assert_eq!(created["writes"][0]["rows"], 25);
    assert_eq!(created["rows"], 25);
    assert_eq!(created["tables"][0]["table"], "sales.orders");
    let deleted = terminal(delete).await;
    assert_eq!(deleted["statement"]["class"], "WRITE");
    assert_eq!(deleted["writes"][0]["operation"], "delete");
    assert_eq!(deleted["rows"], 5);
}

#[tokio::test]
async fn a_model_swapped_in_a_transaction_never_disappears() {
    let dbt = connect_to(gateway(), "dbt").await;
    let reader = connect_to(gateway(), "dbt").await;
    dbt.simple_query("create schema if not exists analytics")
        .await
        .unwrap();
    dbt.simple_query("create table analytics.swapped as select 1 as version")
        .await
        .unwrap();
    dbt.simple_query("create table analytics.swapped__dbt_tmp as select 2 as version")
        .await
        .unwrap();
    dbt.simple_query("begin").await.unwrap();
    dbt.simple_query("alter table analytics.swapped rename to swapped__dbt_backup")
        .await
        .unwrap();
    // Held until the transaction's next statement: other sessions still read the model.
    assert_eq!(
        one(&reader, "select version from analytics.swapped").await,
        "1"
    );
    dbt.simple_query("alter table analytics.swapped__dbt_tmp rename to swapped")
        .await
        .unwrap();
    assert_eq!(
        one(&reader, "select version from analytics.swapped").await,
        "1"
    );
    dbt.simple_query("commit").await.unwrap();
    assert_eq!(
        one(&reader, "select version from analytics.swapped").await,
        "2"
    );
    assert_eq!(
        one(&reader, "select version from analytics.swapped__dbt_backup").await,
        "1"
    );
    // A rolled-back rename never happens; one followed by a query is seen by that query.
    dbt.simple_query("begin").await.unwrap();
    dbt.simple_query("alter table analytics.swapped rename to gone")
        .await
        .unwrap();
    dbt.simple_query("rollback").await.unwrap();
    assert_eq!(
        one(&reader, "select version from analytics.swapped").await,
        "2"
    );
    dbt.simple_query("begin").await.unwrap();
    dbt.simple_query("alter table analytics.swapped__dbt_backup rename to swapped_old")
        .await
        .unwrap();
    assert_eq!(
        one(&dbt, "select version from analytics.swapped_old").await,
        "1"
    );
    dbt.simple_query("commit").await.unwrap();
    assert_eq!(
        refused(&reader, "select * from analytics.swapped__dbt_backup").await,
        "42P01"
    );
}

#[tokio::test]
async fn write_statements_are_checked_as_postgres_checks_them() {
    let dbt = connect_to(gateway(), "dbt").await;
    dbt.simple_query("create schema if not exists analytics")
        .await
        .unwrap();
    let admin = connect_to(gateway(), "admin").await;
    assert_eq!(refused(&admin, "create schema pg_mine").await, "42939");
    // A column named twice in an INSERT's list is 42701.
    dbt.simple_query("create table analytics.named as select 1 as x, 'a' as y")
        .await
        .unwrap();
    assert_eq!(
        one(&dbt, "select y from analytics.named where x = 1").await,
        "a"
    );
    assert_eq!(
        refused(&dbt, "insert into analytics.named (x, x) select 1, 2").await,
        "42701"
    );
    assert_eq!(
        refused(&dbt, "insert into analytics.named (nope) select 1").await,
        "42703"
    );
    // A value that does not fit the column fails; it never becomes NULL.
    assert_eq!(
        refused(&dbt, "insert into analytics.named (x) select 'abc'").await,
        "22P02"
    );
    assert_eq!(one(&dbt, "select count(*) from analytics.named").await, "1");
    // A quoted name cannot place data outside the schema's directory.
    dbt.simple_query("create table analytics.\"../../escape\" as select 1 as a")
        .await
        .unwrap();
    let location = location_of("analytics", "../../escape");
    assert!(
        !location.to_string_lossy().contains(".."),
        "{}",
        location.display()
    );
    assert!(
        location.starts_with(scratch_dir()),
        "{}",
        location.display()
    );
    // Views: never over a session's temporary tables; definitions only for their creator.
    dbt.simple_query("create temporary table staged as select 1 as a")
        .await
        .unwrap();
    assert_eq!(
        refused(
            &dbt,
            "create view analytics.over_temp as select * from staged"
        )
        .await,
        "0A000"
    );
    admin
        .simple_query("create view analytics.admins_view as select 'secret literal' as s")
        .await
        .unwrap();
    dbt.simple_query("create view analytics.dbts_view as select 1 as a")
        .await
        .unwrap();
    let definitions = rows(
        &dbt.simple_query("select viewname, definition from pg_views where viewname in ('admins_view', 'dbts_view') order by 1")
            .await
            .unwrap(),
    );
    assert_eq!(definitions[0], [Some("admins_view".into()), None]);
    assert!(
        definitions[1][1]
            .as_deref()
            .unwrap_or_default()
            .contains("SELECT 1"),
        "{definitions:?}"
    );
}

#[tokio::test]
async fn seeds_create_typed_tables_and_truncate_them() {
    let dbt = connect_to(gateway(), "dbt").await;
    dbt.simple_query("create schema if not exists analytics")
        .await
        .unwrap();
    dbt.simple_query("create table \"lake\".\"analytics\".\"seeded\" (\"code\" text,\"n\" integer,\"at\" timestamp without time zone)")
        .await
        .unwrap();
    let columns = dbt.prepare("select * from analytics.seeded").await.unwrap();
    let types: Vec<String> = columns
        .columns()
        .iter()
        .map(|c| c.type_().name().to_owned())
        .collect();
    assert_eq!(types, ["text", "int4", "timestamptz"]);
    let inserted = affected(
        &dbt,
        "insert into \"lake\".\"analytics\".\"seeded\" (code, n, at) values ('a', 1, '2024-01-01 00:00:00'), ('b', 2, NULL)",
    )
    .await;
    assert_eq!(inserted, "2");
    assert_eq!(one(&dbt, "select sum(n) from analytics.seeded").await, "3");
    let typed = rows(
        &dbt.simple_query("select pg_typeof(n), pg_typeof(at) from analytics.seeded limit 1")
            .await
            .unwrap(),
    );
    assert_eq!(
        typed,
        [[
            Some("integer".into()),
            Some("timestamp with time zone".into())
        ]]
    );
    assert_eq!(
        affected(&dbt, "truncate table \"lake\".\"analytics\".\"seeded\"").await,
        "2"
    );
    assert_eq!(
        one(&dbt, "select count(*) from analytics.seeded").await,
        "0"
    );
    assert_eq!(
        refused(&dbt, "create table analytics.keyed (id int primary key)").await,
        "0A000"
    );
}
