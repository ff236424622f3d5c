//! The in-process comparator of the TPC-H benchmark (`benches/tpch.py`): DataFusion with its
//! default SessionConfig over the same Parquet directories, as listing tables (the Hive
//! partition keys of lineitem and orders declared as strings).
//!
//! Usage: `cargo bench --bench tpch -- PARQUET_DIR [--plain-strings] [--join-in-lists]`, then
//! one query per line on stdin; answers `<wall ms> <rows>` per query on stdout (planning and
//! execution, results collected). The options set what the gateway's sessions set
//! (`src/session/mod.rs`), to tell their cost apart from the wire's: `--plain-strings` reads
//! strings as `Utf8` rather than `Utf8View`, `--join-in-lists` hands join keys to scans as IN
//! lists of up to 4,096 values.

use std::io::{BufRead, Write};
use std::time::Instant;

use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};

/// The allocator the gateway uses (`src/main.rs`), as datafusion-cli does: the comparison is of
/// the gateway's work, not of two allocators.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TABLES: [(&str, Option<&str>); 8] = [
    ("nation", None),
    ("region", None),
    ("part", None),
    ("supplier", None),
    ("partsupp", None),
    ("customer", None),
    ("orders", Some("o_orderstatus")),
    ("lineitem", Some("l_shipmode")),
];

async fn run(ctx: &SessionContext, sql: &str) -> Result<(f64, usize)> {
    let start = Instant::now();
    let batches = ctx.sql(sql).await?.collect().await?;
    let rows = batches.iter().map(|b| b.num_rows()).sum();
    Ok((start.elapsed().as_secs_f64() * 1000.0, rows))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let Some(root) = args.get(1) else {
        eprintln!(
            "usage: tpch PARQUET_DIR [--plain-strings] [--join-in-lists] [--set KEY=VALUE]…  (queries on stdin, one per line)"
        );
        std::process::exit(2);
    };
    let mut config = SessionConfig::new();
    let options = config.options_mut();
    if args.iter().any(|a| a == "--plain-strings") {
        options.sql_parser.map_string_types_to_utf8view = false;
        options.execution.parquet.schema_force_view_types = false;
    }
    if args.iter().any(|a| a == "--join-in-lists") {
        options
            .optimizer
            .hash_join_inlist_pushdown_max_distinct_values = 4096;
    }
    // `--set KEY=VALUE`: any other DataFusion option (`tpch_options.py` compares them).
    for pair in args.windows(2).filter(|w| w[0] == "--set").map(|w| &w[1]) {
        let Some((key, value)) = pair.split_once('=') else {
            eprintln!("--set takes KEY=VALUE, not {pair}");
            std::process::exit(2);
        };
        options.set(key, value)?;
    }
    let ctx = SessionContext::new_with_config(config);
    for (table, key) in TABLES {
        let keys = key.map(|k| vec![(k.to_owned(), DataType::Utf8)]);
        let options = ParquetReadOptions::default().table_partition_cols(keys.unwrap_or_default());
        ctx.register_parquet(table, format!("{root}/{table}/"), options)
            .await?;
    }
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let (ms, rows) = run(&ctx, &line?).await?;
        writeln!(out, "{ms:.3} {rows}")?;
        out.flush()?;
    }
    Ok(())
}
