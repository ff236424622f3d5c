//! The catalog through the fixtures backend (a directory in Glue API JSON): partition pruning
//! shown by EXPLAIN, tables appearing without a restart once the cache TTL passed, and tables
//! that cannot be read failing with messages that name them and nothing internal.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use common::{connect_to, copy_dir, rows, sqlstate, start_gateway, test_lake, TestGateway};
use serde_json::{json, Value};

/// Seconds the test gateway reuses catalog answers.
const CACHE_SECONDS: u64 = 1;

struct Fixture {
    gateway: TestGateway,
    catalog: PathBuf,
    /// A directory outside the lake holding one Parquet file of `raw.fragile`.
    fragile: PathBuf,
}

/// The demo catalog plus three tables: one with a type lakegate cannot read, one Delta table
/// without a log, and one Parquet table at an absolute location.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("catalog-test");
        let _ = std::fs::remove_dir_all(&tmp);
        let catalog = tmp.join("catalog");
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog-fixtures"),
            &catalog,
        );
        let fragile = tmp.join("fragile");
        std::fs::create_dir_all(&fragile).unwrap();
        // The lake is generated on its own runtime, so not from inside this test's.
        let lake = std::thread::spawn(test_lake).join().unwrap();
        let one_partition = lake.join("curated/sales/orders/region=EMEA/order_date=2024-03-15");
        std::fs::copy(
            one_partition.join("part-0.parquet"),
            fragile.join("part-0.parquet"),
        )
        .unwrap();
        let broken = tmp.join("broken-delta");
        copy_dir(&lake.join("curated/sales/customers"), &broken);
        corrupt_latest_commit(&broken);
        add_tables(&catalog, &fragile, &broken);
        let dir = catalog.clone();
        let gateway = start_gateway(move |config| {
            config.catalog.fixtures = Some(dir);
            config.catalog.cache_seconds = CACHE_SECONDS;
        });
        Fixture {
            gateway,
            catalog,
            fragile,
        }
    })
}

fn edit_raw_tables(catalog: &Path, edit: impl FnOnce(&mut Vec<Value>)) {
    let path = catalog.join("tables/raw.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(doc["TableList"].as_array_mut().unwrap());
    std::fs::write(&path, doc.to_string()).unwrap();
}

fn table(name: &str, columns: Value, location: &str, parameters: Value) -> Value {
    json!({
        "Name": name,
        "Parameters": parameters,
        "StorageDescriptor": {"Columns": columns, "Location": location},
    })
}

/// Overwrites the newest commit of a Delta log with text that is not JSON, as a torn or
/// vandalised write would leave it.
fn corrupt_latest_commit(table: &Path) {
    let log = table.join("_delta_log");
    let newest = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .max()
        .expect("a Delta commit");
    std::fs::write(newest, "{\"add\":{\"path\":\"part-0001.parq").unwrap();
}

fn add_tables(catalog: &Path, fragile: &Path, broken: &Path) {
    let orders: Value =
        serde_json::from_str(&std::fs::read_to_string(catalog.join("tables/sales.json")).unwrap())
            .unwrap();
    let order_columns = orders["TableList"][0]["StorageDescriptor"]["Columns"].clone();
    edit_raw_tables(catalog, |tables| {
        tables.push(table(
            "odd",
            json!([{"Name": "id", "Type": "bigint"}, {"Name": "payload", "Type": "uniontype<int,string>"}]),
            "raw/odd/",
            json!({"classification": "parquet"}),
        ));
        tables.push(table(
            "ghost",
            json!([{"Name": "id", "Type": "bigint"}]),
            "raw/ghost/",
            json!({"table_type": "DELTA"}),
        ));
        tables.push(table(
            "broken_delta",
            json!([{"Name": "customer_id", "Type": "bigint"}]),
            broken.to_str().unwrap(),
            json!({"table_type": "DELTA"}),
        ));
        tables.push(table(
            "fragile",
            order_columns,
            fragile.to_str().unwrap(),
            json!({"classification": "parquet"}),
        ));
    });
}

#[tokio::test]
async fn one_day_of_orders_reads_only_that_days_partitions() {
    let client = connect_to(&fixture().gateway, "admin").await;
    let plan = common::explain(
        &client,
        "SELECT count(*) FROM sales.orders WHERE order_date = '2024-03-15'",
    )
    .await;
    // The fixtures backend returns every partition; the scan selects the day's four.
    assert!(plan.contains("sales.orders: partitions=4/2924 "), "{plan}");
    assert!(plan.contains(" files=4 "), "{plan}");
    let plan = common::explain(&client, "SELECT count(*) FROM sales.orders").await;
    assert!(
        plan.contains("sales.orders: partitions=2924/2924"),
        "{plan}"
    );
}

#[tokio::test]
async fn a_new_table_appears_once_the_cache_expires() {
    let fixture = fixture();
    let client = connect_to(&fixture.gateway, "admin").await;
    let sql = "SELECT count(*) FROM raw.clicks_copy";
    let error = client.simple_query(sql).await.unwrap_err();
    assert_eq!(sqlstate(&error), "42P01", "{error}");
    edit_raw_tables(&fixture.catalog, |tables| {
        let mut copy = tables
            .iter()
            .find(|t| t["Name"] == "clicks_json")
            .unwrap()
            .clone();
        copy["Name"] = json!("clicks_copy");
        tables.push(copy);
    });
    tokio::time::sleep(Duration::from_millis(CACHE_SECONDS * 1000 + 300)).await;
    let copied = rows(&client.simple_query(sql).await.unwrap());
    let original = rows(
        &client
            .simple_query("SELECT count(*) FROM raw.clicks_json")
            .await
            .unwrap(),
    );
    assert_eq!(copied, original);
}

#[tokio::test]
async fn a_type_that_cannot_be_read_names_the_table_and_column() {
    let client = connect_to(&fixture().gateway, "admin").await;
    let error = client
        .simple_query("SELECT * FROM raw.odd")
        .await
        .unwrap_err();
    let message = error.as_db_error().unwrap().message();
    assert_eq!(sqlstate(&error), "0A000", "{error}");
    assert!(
        message.contains("raw.odd") && message.contains("payload"),
        "{message}"
    );
    // The rest of the catalog is unaffected.
    client
        .simple_query("SELECT count(*) FROM raw.orders_csv")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_corrupt_delta_log_fails_its_table_alone_without_leaking_the_path() {
    let client = connect_to(&fixture().gateway, "admin").await;
    for _ in 0..2 {
        let error = client
            .simple_query("SELECT count(*) FROM raw.broken_delta")
            .await
            .unwrap_err();
        let message = error.as_db_error().unwrap().message().to_owned();
        assert_eq!(sqlstate(&error), "XX001", "{error}");
        assert!(message.contains("raw.broken_delta"), "{message}");
        assert!(
            !message.contains("broken-delta") && !message.contains("_delta_log"),
            "{message}"
        );
    }
    let customers = client
        .simple_query("SELECT count(*) FROM sales.customers")
        .await
        .unwrap();
    assert_eq!(rows(&customers).len(), 1);
}

#[tokio::test]
async fn missing_files_name_the_table_not_the_path() {
    let fixture = fixture();
    let client = connect_to(&fixture.gateway, "admin").await;
    let error = client
        .simple_query("SELECT * FROM raw.ghost")
        .await
        .unwrap_err();
    let message = error.as_db_error().unwrap().message().to_owned();
    assert_eq!(sqlstate(&error), "58P01", "{error}");
    assert!(
        message.contains("raw.ghost") && !message.contains('/'),
        "{message}"
    );

    // A filter on a data column, so that the file itself is read (a bare count(*) is answered
    // from cached Parquet footers).
    let sql = "SELECT sum(amount) FROM raw.fragile WHERE status <> 'none'";
    client.simple_query(sql).await.unwrap();
    // The listing is cached, so the next scan still expects the file.
    std::fs::remove_file(fixture.fragile.join("part-0.parquet")).unwrap();
    let error = client.simple_query(sql).await.unwrap_err();
    let message = error.as_db_error().unwrap().message().to_owned();
    assert_eq!(sqlstate(&error), "58P01", "{error}");
    assert!(message.contains("raw.fragile"), "{message}");
    assert!(
        !message.contains("part-0") && !message.contains("fragile/"),
        "{message}"
    );
    // The gateway keeps serving.
    client.simple_query("SELECT 1").await.unwrap();
}
