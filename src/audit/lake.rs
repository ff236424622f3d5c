//! The lake sink: closed segments become Parquet files in the audit zone of the object store,
//! one per segment and table, and the catalog gets an `audit` database whose tables read them
//! (`audit.queries`: one row per statement; `audit.logins`: one row per login attempt). They
//! are ordinary catalog tables to everything else, so grants and policies apply to them as to
//! any table. Reading them first ships what has been recorded so far (`publish`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::json::ReaderBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::sync::{mpsc, Mutex};

use super::rows::{login_row, query_row, LOGIN_COLUMNS, QUERY_COLUMNS};
use super::segments::{file_name, segment_files, written_part};
use crate::catalog::glue_model::{Column, Database, StorageDescriptor, Table};
use crate::scan::stores::{ObjectStores, ResolvedLocation};

/// The catalog database the audit tables live in.
pub const AUDIT_DATABASE: &str = "audit";
/// Table parameter that marks an audit table (its reads publish first, its files are listed
/// on every read).
pub const AUDIT_TABLE_PARAMETER: &str = "lakegate.audit_table";

/// Where shipped segments go.
#[derive(Debug, Clone)]
pub struct ShipTarget {
    pub stores: Arc<ObjectStores>,
    /// The audit zone: a path or `s3://bucket/prefix`.
    pub location: String,
}

#[derive(Debug)]
pub struct Shipper {
    store: Arc<dyn ObjectStore>,
    zone: ObjectPath,
    dir: PathBuf,
    /// Segment names already in the zone; `None` until the zone was listed.
    shipped: Mutex<Option<HashSet<String>>>,
    closed: mpsc::UnboundedSender<PathBuf>,
}

impl Shipper {
    /// Ships each segment the writer closes, in the background; `start` fails only on an
    /// unusable location.
    pub fn start(target: ShipTarget, dir: PathBuf) -> Result<Arc<Self>, String> {
        let resolved = resolve(&target)?;
        let store = target
            .stores
            .store(&resolved)
            .map_err(|e| format!("audit.lake_location: {e}"))?;
        let (closed, mut segments) = mpsc::unbounded_channel::<PathBuf>();
        let shipper = Arc::new(Self {
            store,
            zone: resolved.prefix,
            dir,
            shipped: Mutex::new(None),
            closed,
        });
        let background = Arc::clone(&shipper);
        tokio::spawn(async move {
            // Segments closed before this run that never reached the lake go first.
            if let Err(e) = background.ship_closed().await {
                tracing::warn!(error = %e, "audit segments not shipped to the lake yet");
            }
            while let Some(segment) = segments.recv().await {
                if let Err(e) = background.ship(&segment).await {
                    tracing::warn!(error = %e, "audit segment not shipped to the lake yet");
                }
            }
        });
        Ok(shipper)
    }

    pub fn closed_segments(&self) -> mpsc::UnboundedSender<PathBuf> {
        self.closed.clone()
    }

    /// Ships every closed segment not yet in the zone (all but the newest, which is open).
    pub async fn ship_closed(&self) -> Result<(), String> {
        let mut files = segment_files(&self.dir).map_err(|e| e.to_string())?;
        files.pop();
        self.ship_files(files).await
    }

    /// Ships every segment, the newest too: the writer has closed it (the gateway stops).
    pub async fn ship_all(&self) -> Result<(), String> {
        let files = segment_files(&self.dir).map_err(|e| e.to_string())?;
        self.ship_files(files).await
    }

    async fn ship_files(&self, files: Vec<std::path::PathBuf>) -> Result<(), String> {
        // One segment that cannot be shipped does not hold back the others.
        let mut problems = Vec::new();
        for file in files {
            if let Err(e) = self.ship(&file).await {
                problems.push(e);
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    async fn ship(&self, segment: &Path) -> Result<(), String> {
        let name = file_name(segment);
        let stem = name.trim_end_matches(".jsonl").to_owned();
        let mut shipped = self.shipped.lock().await;
        if shipped.is_none() {
            *shipped = Some(self.list_shipped().await?);
        }
        let done = shipped.as_mut().expect("listed above");
        if done.contains(&stem) {
            return Ok(());
        }
        let (queries, logins) = read_segment(segment).map_err(|e| format!("{name}: {e}"))?;
        // Logins first: a segment counts as shipped once its queries file exists.
        for (table, rows, columns) in [
            ("logins", logins, LOGIN_COLUMNS),
            ("queries", queries, QUERY_COLUMNS),
        ] {
            let bytes = to_parquet(&rows, columns).map_err(|e| format!("{name}: {e}"))?;
            let path = self
                .zone
                .clone()
                .join(table)
                .join(format!("{stem}.parquet").as_str());
            self.store
                .put(&path, PutPayload::from(bytes))
                .await
                .map_err(|e| format!("cannot write {path}: {e}"))?;
        }
        tracing::debug!(segment = %name, "audit segment shipped to the lake");
        done.insert(stem);
        Ok(())
    }

    async fn list_shipped(&self) -> Result<HashSet<String>, String> {
        let prefix = self.zone.clone().join("queries");
        let objects: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| format!("cannot list the audit zone: {e}"))?;
        Ok(objects
            .iter()
            .filter_map(|o| {
                o.location
                    .filename()?
                    .strip_suffix(".parquet")
                    .map(str::to_owned)
            })
            .collect())
    }
}

fn resolve(target: &ShipTarget) -> Result<ResolvedLocation, String> {
    target
        .stores
        .resolve(&target.location)
        .map_err(|e| format!("audit.lake_location {}: {e}", target.location))
}

/// The rows of one segment's records for each table, as JSON objects.
type Rows = Vec<serde_json::Value>;

fn read_segment(path: &Path) -> std::io::Result<(Rows, Rows)> {
    let segment = file_name(path);
    let (mut queries, mut logins) = (Vec::new(), Vec::new());
    let bytes = std::fs::read(path)?;
    for line in written_part(&bytes).split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        let Ok(sealed) = serde_json::from_slice::<super::rows::SealedRecord>(line) else {
            tracing::warn!(%segment, "an audit line does not parse; run `lakegate audit verify`");
            continue;
        };
        if let Some(row) = query_row(&sealed, &segment) {
            queries.push(row);
        } else if let Some(row) = login_row(&sealed, &segment) {
            logins.push(row);
        }
    }
    Ok((queries, logins))
}

fn to_parquet(rows: &Rows, columns: &[(&str, &str)]) -> Result<Vec<u8>, String> {
    let schema = arrow_schema(columns)?;
    let mut decoder = ReaderBuilder::new(Arc::clone(&schema))
        .build_decoder()
        .map_err(|e| e.to_string())?;
    decoder.serialize(rows).map_err(|e| e.to_string())?;
    let batch = decoder.flush().map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut bytes, Arc::clone(&schema), None).map_err(|e| e.to_string())?;
    if let Some(batch) = batch {
        writer.write(&batch).map_err(|e| e.to_string())?;
    }
    writer.close().map_err(|e| e.to_string())?;
    Ok(bytes)
}

fn arrow_schema(columns: &[(&str, &str)]) -> Result<SchemaRef, String> {
    let fields = columns
        .iter()
        .map(|(name, glue)| {
            let ty = crate::catalog::glue_types::parse_glue_type(glue)?;
            Ok(datafusion::arrow::datatypes::Field::new(*name, ty, true))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// The `audit` database and its tables, as catalog entries over the audit zone.
pub fn catalog_entries(location: &str) -> (Database, Vec<Table>) {
    let database = Database {
        name: AUDIT_DATABASE.to_owned(),
        description: Some("Audit records of this gateway: statements and logins".to_owned()),
        ..Database::default()
    };
    let base = location.trim_end_matches('/');
    let table = |name: &str, description: &str, columns: &[(&str, &str)]| Table {
        name: name.to_owned(),
        database_name: AUDIT_DATABASE.to_owned(),
        description: Some(description.to_owned()),
        table_type: Some("EXTERNAL_TABLE".to_owned()),
        parameters: [
            ("classification".to_owned(), "parquet".to_owned()),
            (AUDIT_TABLE_PARAMETER.to_owned(), name.to_owned()),
        ]
        .into(),
        storage_descriptor: StorageDescriptor {
            columns: columns
                .iter()
                .map(|(n, t)| Column {
                    name: (*n).to_owned(),
                    type_name: (*t).to_owned(),
                    ..Column::default()
                })
                .collect(),
            location: Some(format!("{base}/{name}/")),
            ..StorageDescriptor::default()
        },
        ..Table::default()
    };
    let tables = vec![
        table(
            "queries",
            "One row per statement: who, what, through which policies, outcome",
            QUERY_COLUMNS,
        ),
        table("logins", "One row per login attempt", LOGIN_COLUMNS),
    ];
    (database, tables)
}
