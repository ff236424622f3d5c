//! `sales.orders` (Hive-partitioned Parquet) and its landing copy `raw.orders_csv` (CSV).
//!
//! Files go exactly where the catalog's partitions point; rows come from one seeded stream per
//! partition, so the same scale always gives the same files.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use datafusion::arrow::array::{
    ArrayRef, Decimal128Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;

use super::rng::DemoRng;
use super::{DemoError, DemoSizes, Progress};
use crate::catalog::fixtures::FixtureCatalog;

pub const REGIONS: [&str; 4] = ["AMER", "EMEA", "APAC", "LATAM"];
pub const STATUSES: [&str; 5] = ["placed", "shipped", "delivered", "returned", "cancelled"];
pub const CURRENCIES: [&str; 5] = ["USD", "EUR", "GBP", "JPY", "BRL"];

/// One order as generated (partition values are the caller's).
struct Order {
    order_id: i64,
    customer_id: i64,
    order_ts_micros: i64,
    amount_cents: i128,
    currency: &'static str,
    status: &'static str,
    card_number: String,
}

/// Share of orders per region, in percent.
fn region_weight(region: &str) -> u64 {
    match region {
        "AMER" => 35,
        "EMEA" => 30,
        "APAC" => 20,
        _ => 15,
    }
}

fn currency_for(region: &str, rng: &mut DemoRng) -> &'static str {
    let choices: &[&'static str] = match region {
        "AMER" => &["USD", "USD", "USD", "BRL"],
        "EMEA" => &["EUR", "EUR", "GBP"],
        "APAC" => &["JPY", "JPY", "USD"],
        _ => &["BRL", "USD"],
    };
    choices[rng.below(choices.len() as u64) as usize]
}

fn status(rng: &mut DemoRng) -> &'static str {
    match rng.below(100) {
        0..=9 => "placed",
        10..=24 => "shipped",
        25..=84 => "delivered",
        85..=92 => "returned",
        _ => "cancelled",
    }
}

fn generate(
    region: &str,
    date: NaiveDate,
    first_id: i64,
    count: u64,
    customers: u64,
) -> Vec<Order> {
    let mut rng = DemoRng::for_stream(&format!("orders/{region}/{date}"));
    let midnight = date
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    (0..count as i64)
        .map(|i| Order {
            order_id: first_id + i,
            customer_id: 1 + rng.below(customers) as i64,
            order_ts_micros: midnight.timestamp_micros() + rng.below(86_400_000) as i64 * 1_000,
            amount_cents: i128::from(rng.between(500, 200_000)),
            currency: currency_for(region, &mut rng),
            status: status(&mut rng),
            card_number: format!("4{:015}", rng.below(1_000_000_000_000_000)),
        })
        .collect()
}

/// The Parquet files' schema: the table's columns without the partition keys (Hive layout).
pub fn file_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Int64, false),
        Field::new("customer_id", DataType::Int64, false),
        Field::new(
            "order_ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("amount", DataType::Decimal128(12, 2), false),
        Field::new("currency", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("card_number", DataType::Utf8, false),
    ]))
}

fn to_batch(orders: &[Order]) -> Result<RecordBatch, DemoError> {
    let column = |f: &dyn Fn(&Order) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(orders.iter().map(f)))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(
            orders.iter().map(|o| o.order_id),
        )),
        Arc::new(Int64Array::from_iter_values(
            orders.iter().map(|o| o.customer_id),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(orders.iter().map(|o| o.order_ts_micros))
                .with_timezone("UTC"),
        ),
        Arc::new(
            Decimal128Array::from_iter_values(orders.iter().map(|o| o.amount_cents))
                .with_precision_and_scale(12, 2)?,
        ),
        column(&|o| o.currency),
        column(&|o| o.status),
        column(&|o| &o.card_number),
    ];
    Ok(RecordBatch::try_new(file_schema(), columns)?)
}

fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<(), DemoError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by("lakegate demo".to_owned())
        .build();
    let file = std::fs::File::create(path)?;
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(())
}

fn csv_lines(out: &mut String, orders: &[Order], region: &str, date: NaiveDate) {
    for o in orders {
        let ts = chrono::DateTime::from_timestamp_micros(o.order_ts_micros).expect("valid ts");
        let amount = format!("{}.{:02}", o.amount_cents / 100, o.amount_cents % 100);
        let _ = writeln!(
            out,
            "{},{},{},{amount},{},{},{},{region},{date}",
            o.order_id,
            o.customer_id,
            ts.format("%Y-%m-%d %H:%M:%S%.3f+00"),
            o.currency,
            o.status,
            o.card_number
        );
    }
}

const CSV_HEADER: &str =
    "order_id,customer_id,order_ts,amount,currency,status,card_number,region,order_date\n";

/// Writes every `sales.orders` partition and, per day, the `raw.orders_csv` landing file.
pub fn write(
    root: &Path,
    catalog: &FixtureCatalog,
    sizes: &DemoSizes,
    progress: &Progress,
) -> Result<(), DemoError> {
    let partitions = catalog.table_partitions("sales", "orders");
    let total_weight: u64 = partitions.iter().map(|p| region_weight(&p.values[0])).sum();
    let (mut cumulative, mut next_id) = (0u64, 1i64);
    let mut csv_day: Option<(NaiveDate, String)> = None;
    progress.start("sales.orders + raw.orders_csv", partitions.len() as u64);
    for partition in partitions {
        let (region, date) = (&partition.values[0], parse_date(&partition.values[1])?);
        let before = sizes.orders * cumulative / total_weight;
        cumulative += region_weight(region);
        let count = sizes.orders * cumulative / total_weight - before;
        let orders = generate(region, date, next_id, count, sizes.customers);
        next_id += count as i64;
        let dir = super::location_dir(root, &partition.storage_descriptor.location)?;
        std::fs::create_dir_all(&dir)?;
        write_parquet(&dir.join("part-0.parquet"), &to_batch(&orders)?)?;
        if csv_day.as_ref().is_some_and(|(day, _)| *day != date) {
            flush_csv(root, catalog, csv_day.take())?;
        }
        let (_, text) = csv_day.get_or_insert_with(|| (date, CSV_HEADER.to_owned()));
        csv_lines(text, &orders, region, date);
        progress.inc();
    }
    flush_csv(root, catalog, csv_day)?;
    progress.finish();
    Ok(())
}

/// The landing copy of one day's orders arrives the next day: `ingest_date = order_date + 1`.
fn flush_csv(
    root: &Path,
    catalog: &FixtureCatalog,
    day: Option<(NaiveDate, String)>,
) -> Result<(), DemoError> {
    let Some((date, text)) = day else {
        return Ok(());
    };
    let ingest = (date + Duration::days(1)).to_string();
    let partition = catalog
        .table_partitions("raw", "orders_csv")
        .iter()
        .find(|p| p.values.first() == Some(&ingest))
        .ok_or_else(|| DemoError::Catalog(format!("raw.orders_csv has no partition {ingest}")))?;
    let dir = super::location_dir(root, &partition.storage_descriptor.location)?;
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("part-0.csv"), text)?;
    Ok(())
}

fn parse_date(text: &str) -> Result<NaiveDate, DemoError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|e| DemoError::Catalog(format!("partition value {text:?} is not a date: {e}")))
}
