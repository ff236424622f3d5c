//! The Delta tables of the demo lake, written with deltalake: `sales.customers` and `web.events`
//! (partitioned by `event_date`).
//!
//! Rows are deterministic; Delta's own file names and commit timestamps are not (deltalake
//! names data files with random UUIDs), which does not change what any query returns.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{Days, NaiveDate};
use datafusion::arrow::array::{
    ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use deltalake::delta_datafusion::DeltaSessionContext;
use deltalake::protocol::SaveMode;
use deltalake::DeltaTable;

use super::rng::DemoRng;
use super::{DemoError, DemoSizes, Progress};
use crate::catalog::fixtures::FixtureCatalog;

const FIRST_NAMES: [&str; 8] = [
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken",
];
const LAST_NAMES: [&str; 8] = [
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson",
];
const COUNTRIES: [&str; 8] = ["US", "BR", "DE", "FR", "GB", "JP", "IN", "MX"];
const SEGMENTS: [&str; 3] = ["consumer", "small_business", "enterprise"];
const EVENT_TYPES: [&str; 4] = ["page_view", "search", "add_to_cart", "purchase"];
const URLS: [&str; 5] = ["/", "/products", "/products/42", "/cart", "/checkout"];
const DAYS: u64 = 731;
const BATCH_ROWS: u64 = 100_000;

fn epoch_day(date: NaiveDate) -> i32 {
    (date - NaiveDate::default()).num_days() as i32 // NaiveDate::default() is 1970-01-01
}

fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1).expect("valid date")
}

fn strings(values: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

fn customers_batch(first: u64, last: u64, rng: &mut DemoRng) -> Result<RecordBatch, DemoError> {
    let ids: Vec<i64> = (first..=last).map(|id| id as i64).collect();
    let mut names = Vec::new();
    let mut emails = Vec::new();
    let mut phones = Vec::new();
    let (mut countries, mut segments, mut signups) = (Vec::new(), Vec::new(), Vec::new());
    for id in &ids {
        let (first_name, last_name) = (rng.pick(&FIRST_NAMES), rng.pick(&LAST_NAMES));
        names.push(format!("{first_name} {last_name}"));
        emails.push(format!(
            "{}.{}{id}@example.com",
            first_name.to_lowercase(),
            last_name.to_lowercase()
        ));
        phones.push(format!(
            "+1-555-{:04}-{:04}",
            rng.below(10_000),
            rng.below(10_000)
        ));
        countries.push(rng.pick(&COUNTRIES).to_string());
        segments.push(rng.pick(&SEGMENTS).to_string());
        signups.push(epoch_day(first_day()) - rng.below(1_500) as i32);
    }
    let schema = Schema::new(vec![
        Field::new("customer_id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("email", DataType::Utf8, true),
        Field::new("phone", DataType::Utf8, true),
        Field::new("country", DataType::Utf8, true),
        Field::new("segment", DataType::Utf8, true),
        Field::new("signup_date", DataType::Date32, true),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids)),
        strings(names),
        strings(emails),
        strings(phones),
        strings(countries),
        strings(segments),
        Arc::new(Date32Array::from(signups)),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

fn events_batch(
    first: u64,
    last: u64,
    sizes: &DemoSizes,
    rng: &mut DemoRng,
) -> Result<RecordBatch, DemoError> {
    let ids: Vec<i64> = (first..=last).map(|id| id as i64).collect();
    let (mut users, mut types, mut urls) = (Vec::new(), Vec::new(), Vec::new());
    let (mut ts, mut props, mut dates) = (Vec::new(), Vec::new(), Vec::new());
    for id in &ids {
        // Events are spread evenly over the two years, in id order.
        let day = first_day() + Days::new((*id as u64 - 1) * DAYS / sizes.events);
        let midnight = day
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_micros();
        users.push(1 + rng.below(sizes.customers) as i64);
        let event_type = rng.pick(&EVENT_TYPES);
        types.push(event_type.to_string());
        urls.push(rng.pick(&URLS).to_string());
        ts.push(midnight + rng.below(86_400_000) as i64 * 1_000);
        props.push(format!(
            r#"{{"session":{},"type":"{event_type}"}}"#,
            rng.below(1_000_000)
        ));
        dates.push(epoch_day(day));
    }
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let schema = Schema::new(vec![
        Field::new("event_id", DataType::Int64, false),
        Field::new("user_id", DataType::Int64, true),
        Field::new("event_type", DataType::Utf8, true),
        Field::new("url", DataType::Utf8, true),
        Field::new("ts", utc, true),
        Field::new("properties", DataType::Utf8, true),
        Field::new("event_date", DataType::Date32, true),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids)),
        Arc::new(Int64Array::from(users)),
        strings(types),
        strings(urls),
        Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
        strings(props),
        Arc::new(Date32Array::from(dates)),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

async fn write_table(
    root: &Path,
    catalog: &FixtureCatalog,
    (db, name): (&str, &str),
    batches: Vec<RecordBatch>,
    partition_by: &[&str],
) -> Result<(), DemoError> {
    let table = catalog
        .table(db, name)
        .ok_or_else(|| DemoError::Catalog(format!("{db}.{name} is missing")))?;
    let dir = super::location_dir(root, &table.storage_descriptor.location)?;
    std::fs::create_dir_all(&dir)?;
    let url = url::Url::from_directory_path(std::fs::canonicalize(&dir)?)
        .map_err(|()| DemoError::Catalog(format!("{} is not an absolute path", dir.display())))?;
    // One partition, so rows land in files in the same order on every run.
    let overrides = HashMap::from([(
        "datafusion.execution.target_partitions".to_owned(),
        "1".to_owned(),
    )]);
    let session = DeltaSessionContext::new_with_session_overrides(&overrides)?.state();
    let mut write = DeltaTable::try_from_url(url)
        .await?
        .write(batches)
        .with_save_mode(SaveMode::Overwrite)
        .with_session_state(Arc::new(session))
        .with_table_name(name);
    if !partition_by.is_empty() {
        write = write.with_partition_columns(partition_by.iter().map(|c| c.to_string()));
    }
    write.await?;
    Ok(())
}

/// Batches of `total` rows, `BATCH_ROWS` at a time, from one seeded stream.
fn batches(
    total: u64,
    stream: &str,
    progress: &Progress,
    mut make: impl FnMut(u64, u64, &mut DemoRng) -> Result<RecordBatch, DemoError>,
) -> Result<Vec<RecordBatch>, DemoError> {
    let mut rng = DemoRng::for_stream(stream);
    progress.start(stream, total.div_ceil(BATCH_ROWS) + 1);
    let mut out = Vec::new();
    for start in (1..=total).step_by(BATCH_ROWS as usize) {
        out.push(make(start, (start + BATCH_ROWS - 1).min(total), &mut rng)?);
        progress.inc();
    }
    Ok(out)
}

pub async fn write_customers(
    root: &Path,
    catalog: &FixtureCatalog,
    sizes: &DemoSizes,
    progress: &Progress,
) -> Result<(), DemoError> {
    let data = batches(
        sizes.customers,
        "sales.customers",
        progress,
        customers_batch,
    )?;
    write_table(root, catalog, ("sales", "customers"), data, &[]).await?;
    progress.finish();
    Ok(())
}

pub async fn write_events(
    root: &Path,
    catalog: &FixtureCatalog,
    sizes: &DemoSizes,
    progress: &Progress,
) -> Result<(), DemoError> {
    let data = batches(sizes.events, "web.events", progress, |a, b, rng| {
        events_batch(a, b, sizes, rng)
    })?;
    write_table(root, catalog, ("web", "events"), data, &["event_date"]).await?;
    progress.finish();
    Ok(())
}
