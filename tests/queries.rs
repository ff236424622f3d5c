//! SQL through the gateway: answers checked against values computed independently from the
//! generated files, partition pruning, catalog queries, settings, SQLSTATEs and refusals.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{connect, gateway, rows, sqlstate};
use datafusion::arrow::array::{AsArray, Decimal128Array};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// (count, sum of amount in cents) per region for March 2024, read straight from the Parquet
/// files with the parquet crate: no SQL engine involved.
fn march_2024_from_files(root: &Path) -> BTreeMap<String, (i64, i128)> {
    let mut totals = BTreeMap::new();
    for region in ["AMER", "APAC", "EMEA", "LATAM"] {
        for day in 1..=31 {
            let file = root.join(format!(
                "curated/sales/orders/region={region}/order_date=2024-03-{day:02}/part-0.parquet"
            ));
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).unwrap())
                    .unwrap()
                    .build()
                    .unwrap();
            let entry = totals.entry(region.to_owned()).or_insert((0i64, 0i128));
            for batch in reader {
                let batch = batch.unwrap();
                let amounts: &Decimal128Array =
                    batch.column_by_name("amount").unwrap().as_primitive();
                entry.0 += batch.num_rows() as i64;
                entry.1 += amounts.iter().flatten().sum::<i128>();
            }
        }
    }
    totals
}

fn cents(text: &str) -> i128 {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    whole.parse::<i128>().unwrap() * 100 + format!("{fraction:0<2}")[..2].parse::<i128>().unwrap()
}

#[tokio::test]
async fn march_revenue_by_region_matches_the_files() {
    let expected = march_2024_from_files(&gateway().lake_root);
    let client = connect("analyst").await;
    let sql = "SELECT region, count(*), sum(amount) FROM sales.orders \
               WHERE order_date BETWEEN '2024-03-01' AND '2024-03-31' GROUP BY region ORDER BY region";
    let got: BTreeMap<String, (i64, i128)> = rows(&client.simple_query(sql).await.unwrap())
        .into_iter()
        .map(|r| {
            let r: Vec<String> = r.into_iter().map(Option::unwrap).collect();
            (r[0].clone(), (r[1].parse().unwrap(), cents(&r[2])))
        })
        .collect();
    assert_eq!(got, expected);
    assert!(got.values().all(|(count, _)| *count > 0));
}

#[tokio::test]
async fn result_column_names_follow_postgres() {
    let client = connect("analyst").await;
    let statement = client
        .prepare("SELECT count(*), sum(amount), 1 + 1, region FROM sales.orders GROUP BY region")
        .await
        .unwrap();
    let names: Vec<&str> = statement.columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["count", "sum", "?column?", "region"]);
}

#[tokio::test]
async fn partition_pruning_reads_only_matching_partitions() {
    // A sum, not a bare count(*), which the files' statistics answer without a scan.
    let sql =
        "SELECT sum(amount) FROM sales.orders WHERE region = 'EMEA' AND order_date = '2024-03-15'";
    // File paths show in admin's plan only; EXPLAIN hides them from policy-bound principals.
    let text = common::explain(&connect("admin").await, sql).await;
    assert!(text.contains("region=EMEA/order_date=2024-03-15"), "{text}");
    assert!(
        !text.contains("region=AMER"),
        "other partitions are scanned: {text}"
    );
    // The user's partition filters reach the scan below the policy too: the same pruning.
    let scan_report = |plan: &str| {
        let start = plan.find("sales.orders:").expect("a lake_scan row");
        plan[start..].lines().next().unwrap().to_owned()
    };
    let analyst = common::explain(&connect("analyst").await, sql).await;
    assert_eq!(scan_report(&analyst), scan_report(&text));
}

/// A filter on a Delta table's data column runs above deltalake's scan, where the optimizer can
/// estimate the rows that pass (join planning), not inside its Parquet read.
#[tokio::test]
async fn a_filter_on_a_delta_data_column_stays_above_the_scan() {
    let sql = "SELECT name FROM sales.customers WHERE signup_date >= '2020-01-01'";
    let text = common::explain(&connect("admin").await, sql).await;
    let filter = text.find("FilterExec: signup_date").expect(&text);
    let scan = text.find("DeltaScanExec").expect(&text);
    assert!(filter < scan, "the filter is above the scan: {text}");
}

/// A CTE read twice (its rows, and their maximum) is computed once, under the principal's row
/// filter, with the answer of the same question asked without a CTE.
#[tokio::test]
async fn a_cte_read_twice_is_computed_once() {
    let client = connect("analyst").await;
    let sql =
        "WITH totals AS (SELECT region, sum(amount) AS total FROM sales.orders GROUP BY region) \
               SELECT region FROM totals WHERE total = (SELECT max(total) FROM totals)";
    let plan = common::explain(&client, sql).await;
    assert_eq!(plan.matches("SharedSubqueryExec").count(), 2, "{plan}");
    let top = "SELECT region FROM sales.orders GROUP BY region ORDER BY sum(amount) DESC LIMIT 1";
    let answer = |rows: Vec<tokio_postgres::Row>| -> Vec<String> {
        rows.iter().map(|row| row.get(0)).collect()
    };
    let shared = answer(client.query(sql, &[]).await.unwrap());
    assert_eq!(shared, answer(client.query(top, &[]).await.unwrap()));
}

#[tokio::test]
async fn every_demo_table_is_readable() {
    let client = connect("admin").await;
    for table in [
        "sales.orders",
        "sales.customers",
        "web.events",
        "raw.orders_csv",
        "raw.clicks_json",
    ] {
        let row = client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap();
        assert!(row.get::<_, i64>(0) > 0, "{table} is empty");
    }
}

#[tokio::test]
async fn every_order_has_a_customer() {
    let client = connect("admin").await;
    let row = client
        .query_one(
            "SELECT count(*) FROM sales.orders o LEFT JOIN sales.customers c ON o.customer_id = c.customer_id \
             WHERE c.customer_id IS NULL",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 0);
}

#[tokio::test]
async fn csv_landing_copy_matches_curated_orders() {
    let client = connect("admin").await;
    let curated = client
        .query_one(
            "SELECT count(*) FROM sales.orders WHERE order_date = '2024-06-01'",
            &[],
        )
        .await
        .unwrap();
    let raw = client
        .query_one(
            "SELECT count(*) FROM raw.orders_csv WHERE ingest_date = '2024-06-02'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(curated.get::<_, i64>(0), raw.get::<_, i64>(0));
}

#[tokio::test]
async fn catalog_lists_schemas_tables_and_columns() {
    let client = connect("admin").await;
    let schemas = rows(
        &client
            .simple_query("SELECT nspname FROM pg_catalog.pg_namespace ORDER BY 1")
            .await
            .unwrap(),
    );
    let schemas: Vec<String> = schemas.into_iter().map(|r| r[0].clone().unwrap()).collect();
    for expected in ["pg_catalog", "public", "raw", "sales", "web"] {
        assert!(schemas.contains(&expected.to_owned()), "{schemas:?}");
    }
    let columns = rows(
        &client
            .simple_query(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a \
                 JOIN pg_catalog.pg_class c ON a.attrelid = c.oid JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid \
                 WHERE n.nspname = 'sales' AND c.relname = 'orders' ORDER BY a.attnum",
            )
            .await
            .unwrap(),
    );
    let names: Vec<String> = columns.iter().map(|r| r[0].clone().unwrap()).collect();
    assert_eq!(
        names,
        [
            "order_id",
            "customer_id",
            "order_ts",
            "amount",
            "currency",
            "status",
            "card_number",
            "region",
            "order_date"
        ]
    );
}

#[tokio::test]
async fn row_description_names_the_source_table() {
    let client = connect("analyst").await;
    let statement = client
        .prepare("SELECT o.amount, 1 AS one FROM sales.orders o")
        .await
        .unwrap();
    let oid = client
        .query_one(
            "SELECT CAST(c.oid AS BIGINT) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n \
             ON c.relnamespace = n.oid WHERE n.nspname = 'sales' AND c.relname = 'orders'",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(statement.columns()[0].table_oid(), Some(oid as u32));
    assert_eq!(statement.columns()[0].column_id(), Some(4));
    assert_eq!(statement.columns()[1].table_oid(), None);
}

#[tokio::test]
async fn version_and_settings() {
    let client = connect("analyst").await;
    let version: String = client
        .query_one("SELECT version()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(version.starts_with("PostgreSQL 15.0"), "{version}");
    client
        .batch_execute("SET application_name = 'tests'; SET search_path TO sales")
        .await
        .unwrap();
    let row = client
        .query_one(
            "SELECT current_setting('application_name'), current_schema()",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        ("tests".to_owned(), "sales".to_owned())
    );
    // Unqualified names now resolve in sales.
    client
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap();
    client.batch_execute("RESET search_path").await.unwrap();
    let error = client
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error), "42P01");
    let error = client
        .batch_execute("SET no_such_setting = 1")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error), "42704");
    client
        .batch_execute("SET extra_float_digits = 3; SET DateStyle = 'ISO, MDY'; DISCARD ALL")
        .await
        .unwrap();
}

#[tokio::test]
async fn errors_carry_their_sqlstate() {
    let client = connect("analyst").await;
    let cases = [
        ("SELECT * FROM sales.nope", "42P01"),
        ("SELECT nope FROM sales.orders", "42703"),
        ("SELEC 1", "42601"),
        ("SELECT 1/0", "22012"),
        ("SELECT CAST('abc' AS INTEGER)", "22P02"),
        ("SELECT no_such_function(1)", "42883"),
        ("SHOW no_such_setting", "42704"),
        ("SET server_version = '1'", "55P02"),
    ];
    for (sql, expected) in cases {
        let error = client.simple_query(sql).await.unwrap_err();
        assert_eq!(sqlstate(&error), expected, "{sql}: {error:?}");
    }
    let error = client
        .simple_query("SELECT * FROM sales.nope")
        .await
        .unwrap_err();
    let message = error.as_db_error().unwrap().message();
    assert_eq!(message, "relation \"sales.nope\" does not exist");
}

#[tokio::test]
async fn statements_that_escape_the_gateway_are_refused() {
    let client = connect("admin").await;
    let cases = [
        "CREATE EXTERNAL TABLE leak STORED AS CSV LOCATION '/etc/passwd'",
        "COPY (SELECT 1) TO '/tmp/lakegate-leak.csv'",
        "SET datafusion.execution.batch_size = 1",
    ];
    for sql in cases {
        let error = client.simple_query(sql).await.unwrap_err();
        assert_eq!(sqlstate(&error), "42501", "{sql}: {error:?}");
    }
    // Writes the lake cannot take, even from a superuser: no schema chosen, a Parquet table,
    // a table of the read-only demo catalog files.
    let cases = [
        ("CREATE TABLE t AS SELECT 1", "3F000"),
        (
            "INSERT INTO sales.orders SELECT * FROM sales.orders",
            "0A000",
        ),
        ("DROP TABLE sales.orders", "0A000"),
    ];
    for (sql, expected) in cases {
        let error = client.simple_query(sql).await.unwrap_err();
        assert_eq!(sqlstate(&error), expected, "{sql}: {error:?}");
    }
    assert!(!Path::new("/tmp/lakegate-leak.csv").exists());
    let error = client
        .simple_query("SELECT * FROM '/etc/passwd'")
        .await
        .unwrap_err();
    assert!(
        matches!(sqlstate(&error).as_str(), "42P01" | "42501"),
        "{error:?}"
    );
}

#[tokio::test]
async fn copy_to_stdout_streams_csv() {
    use futures::TryStreamExt;
    let client = connect("analyst").await;
    let stream = client
        .copy_out("COPY (SELECT order_id, status FROM sales.orders ORDER BY order_id LIMIT 3) TO STDOUT WITH (FORMAT csv, HEADER true)")
        .await
        .unwrap();
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await.unwrap();
    let text = String::from_utf8(chunks.concat()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "order_id,status");
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[1].starts_with("1,"), "{text}");
}

#[tokio::test]
async fn cancel_request_stops_a_running_query() {
    let client = connect("analyst").await;
    let token = client.cancel_token();
    let slow = tokio::spawn(async move {
        client
            .simple_query("SELECT count(*) FROM sales.orders a CROSS JOIN sales.orders b WHERE a.amount + b.amount < 0")
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !slow.is_finished(),
        "the query is still running when canceled"
    );
    let canceled = std::time::Instant::now();
    token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let error = slow.await.unwrap().unwrap_err();
    assert_eq!(sqlstate(&error), "57014");
    // The bound: the scan stops within a second of the cancel request.
    let stopped = canceled.elapsed();
    assert!(stopped < std::time::Duration::from_secs(1), "{stopped:?}");
}

#[tokio::test]
async fn statement_timeout_stops_a_query() {
    let client = connect("analyst").await;
    client
        .batch_execute("SET statement_timeout = '300ms'")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let error = client
        .simple_query("SELECT count(*) FROM sales.orders a CROSS JOIN sales.orders b WHERE a.amount + b.amount < 0")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error), "57014");
    // Stopped within a second of the timeout.
    let stopped = started.elapsed();
    assert!(
        stopped < std::time::Duration::from_millis(1300),
        "{stopped:?}"
    );
    client
        .batch_execute("SET statement_timeout = 0")
        .await
        .unwrap();
    client.simple_query("SELECT 1").await.unwrap();
}

/// PostgreSQL's ISO text form of an instant at a fixed offset of `+hh:mm`.
fn postgres_text(instant: chrono::DateTime<chrono::Utc>, offset_minutes: i32) -> String {
    let offset = chrono::FixedOffset::east_opt(offset_minutes * 60).unwrap();
    let local = instant.with_timezone(&offset);
    let mut text = local.format("%Y-%m-%d %H:%M:%S").to_string();
    let micros = local.timestamp_subsec_micros();
    if micros > 0 {
        text.push_str(format!(".{micros:06}").trim_end_matches('0'));
    }
    let (h, m) = (offset_minutes / 60, offset_minutes % 60);
    text.push_str(&if m == 0 {
        format!("+{h:02}")
    } else {
        format!("+{h:02}:{m:02}")
    });
    text
}

#[tokio::test]
async fn timestamps_print_in_the_session_time_zone() {
    let client = connect("analyst").await;
    let sql = "SELECT order_ts FROM sales.orders WHERE order_id = 1";
    let instant: chrono::DateTime<chrono::Utc> = client.query_one(sql, &[]).await.unwrap().get(0);
    let text = |rows: Vec<Vec<Option<String>>>| rows[0][0].clone().unwrap();
    assert_eq!(
        text(rows(&client.simple_query(sql).await.unwrap())),
        postgres_text(instant, 0)
    );
    client
        .batch_execute("SET TIME ZONE 'Asia/Kolkata'")
        .await
        .unwrap();
    assert_eq!(
        text(rows(&client.simple_query(sql).await.unwrap())),
        postgres_text(instant, 330)
    );
    let error = client
        .batch_execute("SET TIME ZONE 'Nowhere/Special'")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error), "22023");
}

#[tokio::test]
async fn sql_prepare_and_execute() {
    let client = connect("analyst").await;
    client
        .batch_execute("PREPARE by_id(bigint) AS SELECT order_id, status FROM sales.orders WHERE order_id = $1")
        .await
        .unwrap();
    let got = rows(&client.simple_query("EXECUTE by_id(3)").await.unwrap());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0][0].as_deref(), Some("3"));
    client.batch_execute("DEALLOCATE by_id").await.unwrap();
    let error = client.simple_query("EXECUTE by_id(3)").await.unwrap_err();
    assert!(!sqlstate(&error).starts_with("XX"), "{error:?}");
}
