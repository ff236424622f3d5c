//! What one statement's scans read: partitions matched out of the table's total, files and bytes.
//! Each session puts a fresh report in its config at a statement's start; table providers add to
//! it when they plan a scan; EXPLAIN prints it (and the audit record will carry it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::catalog::Session;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::ExecutionPlan;

/// Partition pruning of one scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionCounts {
    /// Partitions whose values satisfy the query's partition predicates.
    pub matched: usize,
    /// Partitions the catalog returned for the scan (after its own expression filtering).
    pub fetched: usize,
    /// All partitions of the table, when known without asking the catalog for all of them.
    pub total: Option<usize>,
}

/// One table scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableScan {
    /// `database.table`.
    pub table: String,
    /// The Delta snapshot read.
    pub delta_version: Option<i64>,
    /// Columns read from the files (for a policy, also those its filter and masks need).
    pub columns: Vec<String>,
    pub partitions: Option<PartitionCounts>,
    pub files: usize,
    /// All data files of the table, when the scan knows them (a Delta snapshot does).
    pub files_total: Option<usize>,
    pub bytes: u64,
    /// The federated connection a remote table was read through.
    pub remote: Option<String>,
}

impl std::fmt::Display for TableScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.table)?;
        if let Some(connection) = &self.remote {
            return write!(f, ": federated source \"{connection}\"");
        }
        if let Some(version) = self.delta_version {
            write!(f, " (Delta version {version})")?;
        }
        write!(f, ":")?;
        if let Some(p) = &self.partitions {
            match p.total {
                Some(total) => write!(f, " partitions={}/{total}", p.matched)?,
                None => write!(f, " partitions={}/?", p.matched)?,
            }
            if p.fetched != p.matched || p.total.is_none() {
                write!(f, " (catalog returned {})", p.fetched)?;
            }
        }
        write!(f, " files={}", self.files)?;
        if let Some(total) = self.files_total {
            write!(f, "/{total}")?;
        }
        write!(f, " bytes={}", self.bytes)
    }
}

/// A table read through a principal's policy: what the audit record says about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyRead {
    pub table: String,
    /// The principal's columns the statement asked for.
    pub columns: Vec<String>,
    pub row_filter: Option<String>,
    pub masked: Vec<String>,
    pub cell_filtered: Vec<String>,
    pub hidden: Vec<String>,
    pub rules: Vec<String>,
}

/// The scans of the statement that is running.
#[derive(Debug, Default)]
pub struct ScanReport {
    scans: Mutex<Vec<TableScan>>,
    reads: Mutex<Vec<PolicyRead>>,
    /// Set by a scan whose plan must not be run again (it does its work while planning).
    uncacheable: AtomicBool,
}

impl ScanReport {
    pub fn record(&self, scan: TableScan) {
        self.scans.lock().expect("scan report").push(scan);
    }

    pub fn scans(&self) -> Vec<TableScan> {
        self.scans.lock().expect("scan report").clone()
    }

    pub fn policy_reads(&self) -> Vec<PolicyRead> {
        self.reads.lock().expect("scan report").clone()
    }

    pub fn uncacheable(&self) -> bool {
        self.uncacheable.load(Ordering::Relaxed)
    }
}

/// Records a scan in the statement's report, if the session keeps one.
pub fn record(state: &dyn Session, scan: TableScan) {
    if let Some(report) = state.config().get_extension::<ScanReport>() {
        report.record(scan);
    }
}

/// Records a read through a policy in the statement's report, if the session keeps one.
pub fn record_policy_read(state: &dyn Session, read: PolicyRead) {
    if let Some(report) = state.config().get_extension::<ScanReport>() {
        report.reads.lock().expect("scan report").push(read);
    }
}

/// Marks the statement's plan as one to make again at each execution.
pub fn mark_uncacheable(state: &dyn Session) {
    if let Some(report) = state.config().get_extension::<ScanReport>() {
        report.uncacheable.store(true, Ordering::Relaxed);
    }
}

/// The names of the projected columns of a schema.
pub fn projected_names(
    schema: &datafusion::arrow::datatypes::Schema,
    projection: Option<&Vec<usize>>,
) -> Vec<String> {
    match projection {
        Some(indices) => indices
            .iter()
            .map(|i| schema.field(*i).name().clone())
            .collect(),
        None => schema.fields().iter().map(|f| f.name().clone()).collect(),
    }
}

/// A fresh report for the statement that starts now.
pub fn start(config: &mut datafusion::prelude::SessionConfig) -> Arc<ScanReport> {
    let report = Arc::new(ScanReport::default());
    config.set_extension(Arc::clone(&report));
    report
}

/// Files and bytes that the file scans in a physical plan will read.
pub fn files_in_plan(plan: &Arc<dyn ExecutionPlan>) -> (usize, u64) {
    let mut totals = (0, 0);
    let _ = plan.apply(|node| {
        let config = node
            .downcast_ref::<DataSourceExec>()
            .and_then(|exec| exec.data_source().downcast_ref::<FileScanConfig>());
        if let Some(config) = config {
            for file in config.file_groups.iter().flat_map(|g| g.files()) {
                totals.0 += 1;
                totals.1 += file.object_meta.size;
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    totals
}
