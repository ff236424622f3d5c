//! Athena partition projection through the fixtures backend: a table whose partitions are
//! computed from its properties reads the same files as the catalog-listed `sales.orders`, and a
//! one-day predicate reads only that day's partitions.

mod common;

use std::sync::OnceLock;

use common::{connect_to, rows, start_gateway, TestGateway};
use serde_json::json;

/// The demo catalog plus `sales.orders_projected`: the same files, partitions by projection.
fn projected_catalog() -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("projection-catalog");
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog-fixtures");
    std::fs::create_dir_all(dir.join("tables")).unwrap();
    std::fs::copy(source.join("databases.json"), dir.join("databases.json")).unwrap();
    let mut sales: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(source.join("tables/sales.json")).unwrap())
            .unwrap();
    let mut projected = sales["TableList"][0].clone();
    assert_eq!(projected["Name"], "orders");
    projected["Name"] = json!("orders_projected");
    let parameters = projected["Parameters"].as_object_mut().unwrap();
    for (key, value) in [
        ("projection.enabled", "true"),
        ("projection.region.type", "enum"),
        ("projection.region.values", "AMER,EMEA,APAC,LATAM"),
        ("projection.order_date.type", "date"),
        ("projection.order_date.format", "yyyy-MM-dd"),
        ("projection.order_date.range", "2024-01-01,2025-12-31"),
    ] {
        parameters.insert(key.to_owned(), json!(value));
    }
    sales["TableList"].as_array_mut().unwrap().push(projected);
    std::fs::write(dir.join("tables/sales.json"), sales.to_string()).unwrap();
    std::fs::create_dir_all(dir.join("partitions/sales")).unwrap();
    std::fs::copy(
        source.join("partitions/sales/orders.json"),
        dir.join("partitions/sales/orders.json"),
    )
    .unwrap();
    dir
}

fn gateway() -> &'static TestGateway {
    static GATEWAY: OnceLock<TestGateway> = OnceLock::new();
    GATEWAY.get_or_init(|| {
        let catalog = projected_catalog();
        start_gateway(move |config| config.catalog.fixtures = Some(catalog))
    })
}

#[tokio::test]
async fn projected_table_reads_the_same_rows() {
    let client = connect_to(gateway(), "admin").await;
    let sql = |t: &str| {
        format!(
            "SELECT region, count(*), sum(amount) FROM sales.{t} GROUP BY region ORDER BY region"
        )
    };
    let listed = rows(&client.simple_query(&sql("orders")).await.unwrap());
    let projected = rows(&client.simple_query(&sql("orders_projected")).await.unwrap());
    assert_eq!(listed.len(), 4);
    assert_eq!(listed, projected);
}

#[tokio::test]
async fn one_day_reads_only_that_days_partitions() {
    let client = connect_to(gateway(), "admin").await;
    let text = common::explain(
        &client,
        // A sum: a bare count(*) is answered from the files' statistics, with no scan to show.
        "SELECT sum(amount) FROM sales.orders_projected WHERE order_date = '2024-03-15'",
    )
    .await;
    let files = text.matches("part-0.parquet").count();
    assert_eq!(files, 4, "one file per region for that day: {text}");
    assert!(text.contains("order_date=2024-03-15"), "{text}");
    assert!(!text.contains("order_date=2024-03-16"), "{text}");
}
