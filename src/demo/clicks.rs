//! `raw.clicks_json`: semi-structured click events as JSON lines (some keys absent, as in the
//! raw zone).

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, NaiveDate};
use serde_json::json;

use super::rng::DemoRng;
use super::{DemoError, DemoSizes, Progress};
use crate::catalog::fixtures::FixtureCatalog;

const PAGES: [&str; 6] = [
    "/",
    "/products",
    "/products/42",
    "/cart",
    "/checkout",
    "/help",
];
const REFERRERS: [&str; 3] = [
    "https://search.example",
    "https://social.example",
    "https://news.example",
];
const DEVICES: [(&str, &str); 4] = [
    ("mobile", "ios"),
    ("mobile", "android"),
    ("desktop", "windows"),
    ("desktop", "macos"),
];
const FILE_ROWS: u64 = 50_000;

/// Writes the click events in files of at most 50,000 lines.
pub fn write(
    root: &Path,
    catalog: &FixtureCatalog,
    sizes: &DemoSizes,
    progress: &Progress,
) -> Result<(), DemoError> {
    let table = catalog
        .table("raw", "clicks_json")
        .ok_or_else(|| DemoError::Catalog("raw.clicks_json is missing".into()))?;
    let dir = super::location_dir(root, &table.storage_descriptor.location)?;
    std::fs::create_dir_all(&dir)?;
    let mut rng = DemoRng::for_stream("clicks");
    let start = NaiveDate::from_ymd_opt(2024, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
    let start = start.expect("valid date").and_utc().timestamp();
    let files = sizes.clicks.div_ceil(FILE_ROWS);
    progress.start("raw.clicks_json", files);
    for file in 0..files {
        let mut text = String::new();
        let first = file * FILE_ROWS;
        for click_id in first..(first + FILE_ROWS).min(sizes.clicks) {
            let ts =
                DateTime::from_timestamp(start + rng.below(731 * 86_400) as i64, 0).expect("ts");
            let (kind, os) = *rng.pick(&DEVICES);
            let mut click = json!({
                "click_id": click_id + 1,
                "user_id": 1 + rng.below(sizes.customers),
                "ts": ts.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "url": rng.pick(&PAGES),
                "device": {"type": kind, "os": os},
            });
            if rng.chance(60) {
                click["referrer"] = json!(rng.pick(&REFERRERS));
            }
            let _ = writeln!(text, "{click}");
        }
        std::fs::write(dir.join(format!("part-{file}.json")), text)?;
        progress.inc();
    }
    progress.finish();
    Ok(())
}
