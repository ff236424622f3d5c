//! The embedded demo lake: deterministic data written where the demo catalog says.
//!
//! Scale 1 is about one million orders. Tables (DESIGN.md): `sales.orders` (Parquet, partitioned by
//! region and day), `sales.customers` and `web.events` (Delta), `raw.orders_csv` (CSV) and
//! `raw.clicks_json` (JSON lines). A marker file records the scale once every table is written,
//! so an interrupted generation is redone rather than served half-written.

mod clicks;
mod delta;
pub mod orders;
pub mod rng;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

use crate::catalog::fixtures::FixtureCatalog;

/// Written last; its presence means the lake is complete.
pub const MARKER_FILE: &str = "lakegate-demo.json";

/// Bumped whenever the generator writes different data, so older demo lakes are regenerated.
const GENERATOR_VERSION: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("{0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    #[error("{0}")]
    Delta(#[from] deltalake::DeltaTableError),
    #[error("demo catalog: {0}")]
    Catalog(String),
}

/// Row counts for one scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoSizes {
    pub orders: u64,
    pub customers: u64,
    pub events: u64,
    pub clicks: u64,
}

impl DemoSizes {
    pub fn for_scale(scale: f64) -> Self {
        let rows = |per_unit: f64, minimum: u64| ((per_unit * scale).round() as u64).max(minimum);
        Self {
            orders: rows(1_000_000.0, 1_000),
            customers: rows(50_000.0, 100),
            events: rows(500_000.0, 1_000),
            clicks: rows(100_000.0, 100),
        }
    }
}

/// Generates the demo lake under `root`, replacing any earlier demo data there.
pub async fn generate(root: &Path, scale: f64, show_progress: bool) -> Result<(), DemoError> {
    let catalog = Arc::new(FixtureCatalog::embedded().map_err(DemoError::Catalog)?);
    let sizes = DemoSizes::for_scale(scale);
    let progress = Arc::new(Progress::new(show_progress));
    let _ = std::fs::remove_file(root.join(MARKER_FILE));
    for zone in ["landing", "raw", "curated"] {
        let dir = root.join(zone);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
    }
    std::fs::create_dir_all(root.join("landing"))?;
    let (root_buf, files_catalog, files_progress) = (
        root.to_path_buf(),
        Arc::clone(&catalog),
        Arc::clone(&progress),
    );
    // Parquet, CSV and JSON writing is blocking file I/O and CPU work.
    tokio::task::spawn_blocking(move || {
        orders::write(&root_buf, &files_catalog, &sizes, &files_progress)?;
        clicks::write(&root_buf, &files_catalog, &sizes, &files_progress)
    })
    .await
    .map_err(|e| DemoError::Catalog(format!("the file writer stopped: {e}")))??;
    delta::write_customers(root, &catalog, &sizes, &progress).await?;
    delta::write_events(root, &catalog, &sizes, &progress).await?;
    let marker =
        serde_json::json!({ "scale": scale, "orders": sizes.orders, "version": GENERATOR_VERSION });
    std::fs::write(root.join(MARKER_FILE), format!("{marker}\n"))?;
    Ok(())
}

/// The scale of a complete demo lake under `root`, if there is one.
pub fn existing_scale(root: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(root.join(MARKER_FILE)).ok()?;
    let marker = serde_json::from_str::<serde_json::Value>(&text).ok()?;
    (marker["version"].as_u64() == Some(GENERATOR_VERSION)).then(|| marker["scale"].as_f64())?
}

/// A catalog location as a directory under the lake root (relative locations only).
pub(crate) fn location_dir(root: &Path, location: &Option<String>) -> Result<PathBuf, DemoError> {
    let location = location
        .as_deref()
        .ok_or_else(|| DemoError::Catalog("a demo table or partition has no Location".into()))?;
    if location.contains("://") || location.starts_with('/') || location.contains("..") {
        return Err(DemoError::Catalog(format!(
            "demo locations must be relative to the lake root, not {location:?}"
        )));
    }
    Ok(root.join(location))
}

/// A progress bar on stderr (hidden in tests and when stderr is not a terminal).
pub struct Progress {
    visible: bool,
    bar: std::sync::Mutex<Option<ProgressBar>>,
}

impl Progress {
    pub fn new(visible: bool) -> Self {
        Self {
            visible,
            bar: std::sync::Mutex::new(None),
        }
    }

    pub fn start(&self, label: &str, total: u64) {
        if !self.visible {
            return;
        }
        let bar = ProgressBar::new(total).with_message(label.to_owned());
        let style = ProgressStyle::with_template("{msg:32} [{bar:40}] {pos}/{len} {elapsed}")
            .expect("valid template")
            .progress_chars("=> ");
        bar.set_style(style);
        *self.bar.lock().expect("progress lock") = Some(bar);
    }

    pub fn inc(&self) {
        if let Some(bar) = self.bar.lock().expect("progress lock").as_ref() {
            bar.inc(1);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = self.bar.lock().expect("progress lock").take() {
            bar.finish();
        }
    }
}
