//! The comparator for the gateway's aggregate benchmark: the same query on the same files in
//! plain in-process DataFusion (a Hive-partitioned listing table, no catalog, no wire).
//!
//! Usage: `cargo bench --bench inprocess -- LAKE_ROOT RUNS`; prints one wall time in
//! milliseconds per run.

use std::time::Instant;

use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

const QUERY: &str =
    "SELECT region, count(*), sum(amount) FROM orders GROUP BY region ORDER BY region";

#[tokio::main]
async fn main() -> datafusion::error::Result<()> {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let (Some(root), Some(runs)) = (
        args.get(1),
        args.get(2).and_then(|r| r.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: inprocess LAKE_ROOT RUNS");
        std::process::exit(2);
    };
    let ctx = SessionContext::new();
    let options = ParquetReadOptions::default().table_partition_cols(vec![
        ("region".to_owned(), DataType::Utf8),
        ("order_date".to_owned(), DataType::Date32),
    ]);
    ctx.register_parquet("orders", format!("{root}/curated/sales/orders/"), options)
        .await?;
    for _ in 0..runs {
        let start = Instant::now();
        let batches = ctx.sql(QUERY).await?.collect().await?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        println!("{:.3} {rows}", start.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(())
}
