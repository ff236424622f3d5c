//! The comparator for the partition benchmark: DataFusion's own listing table over the same
//! Hive layout (`k=<n>/part-0.parquet`), which finds partitions by listing directories.
//!
//! Usage: `cargo bench --bench partitions -- TABLE_DIR KEY RUNS`; for each run, a fresh
//! SessionContext (so no listing is reused, as lakegate's catalog cache is off in the same
//! benchmark) plans and executes the one-partition query `k = KEY` and the full scan, and prints
//! `one <plan ms> <total ms>` and `full <plan ms> <total ms>`.

use std::time::Instant;

use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

async fn timed(table_dir: &str, sql: &str) -> Result<(f64, f64)> {
    let start = Instant::now();
    let ctx = SessionContext::new();
    let options =
        ParquetReadOptions::default().table_partition_cols(vec![("k".to_owned(), DataType::Int32)]);
    ctx.register_parquet("t", table_dir, options).await?;
    let frame = ctx.sql(sql).await?;
    let plan = frame.create_physical_plan().await?;
    let planned = start.elapsed().as_secs_f64() * 1000.0;
    let task = ctx.task_ctx();
    datafusion::physical_plan::collect(plan, task).await?;
    Ok((planned, start.elapsed().as_secs_f64() * 1000.0))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let (Some(dir), Some(key), Some(runs)) = (
        args.get(1),
        args.get(2),
        args.get(3).and_then(|r| r.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: partitions TABLE_DIR KEY RUNS");
        std::process::exit(2);
    };
    for _ in 0..runs {
        let (plan, total) = timed(
            dir,
            &format!("SELECT count(*), sum(v) FROM t WHERE k = {key}"),
        )
        .await?;
        println!("one {plan:.3} {total:.3}");
        let (plan, total) = timed(dir, "SELECT count(*), sum(v) FROM t").await?;
        println!("full {plan:.3} {total:.3}");
    }
    Ok(())
}
