//! EXPLAIN output gains one row, `lake_scan`, with what each table scan reads: partitions
//! matched out of the table's total, files and bytes. DataFusion's plan text shows the files
//! but not how many partitions the catalog pruned, which is what users check first.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::error::Result;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;

use crate::policy::Access;
use crate::scan::report::ScanReport;

/// The plan type of the added row.
const PLAN_TYPE: &str = "lake_scan";

/// Appends the scan report to an EXPLAIN result (plan_type, plan). The report is complete once
/// the stream exists: scans are planned when the physical plan is created.
///
/// Scans of tables the principal reads through a row filter are left out: how many partitions
/// and files exist beyond the filter is not theirs to know (security.md MD-08).
pub fn with_scan_report(
    stream: SendableRecordBatchStream,
    report: &ScanReport,
    access: &Access,
) -> Result<SendableRecordBatchStream> {
    let mut scans = report.scans();
    scans.retain(|scan| !access.hides_scan_of(&scan.table));
    if scans.is_empty() {
        return Ok(stream);
    }
    let schema = stream.schema();
    let text = scans
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let value = if i == 0 { PLAN_TYPE } else { text.as_str() };
            Arc::new(StringArray::from(vec![value])) as ArrayRef
        })
        .collect();
    let row = RecordBatch::try_new(Arc::clone(&schema), columns)?;
    let chained = stream.chain(futures::stream::once(async move { Ok(row) }));
    Ok(Box::pin(RecordBatchStreamAdapter::new(schema, chained)))
}
