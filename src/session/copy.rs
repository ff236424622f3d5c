//! `COPY … TO STDOUT` in text, CSV and binary: an ordinary read (D10) whose rows are encoded as
//! CopyData messages instead of DataRows, streamed the same way.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use futures::{Stream, StreamExt};
use pgwire::api::results::{CopyCsvOptions, CopyEncoder, CopyResponse, CopyTextOptions, FieldInfo};
use pgwire::error::PgWireResult;
use pgwire::messages::copy::CopyData;

use crate::error::LakegateError;
use crate::statement::CopyFormat;

/// The COPY OUT response for a stream of wire-schema batches.
pub fn copy_response(
    batches: impl Stream<Item = Result<RecordBatch, LakegateError>> + Send + 'static,
    fields: Arc<Vec<FieldInfo>>,
    format: CopyFormat,
) -> CopyResponse {
    let columns = fields.len();
    let header = match format {
        CopyFormat::Csv { header: true } => {
            let names: Vec<String> = fields.iter().map(|f| csv_quote(f.name())).collect();
            Some(CopyData::new(Bytes::from(names.join(",") + "\n")))
        }
        _ => None,
    };
    let mut encoder = new_encoder(Arc::clone(&fields), format);
    let rows = batches.flat_map(move |batch| {
        let rows: Vec<PgWireResult<CopyData>> = match batch {
            Ok(batch) => encode_batch(&mut encoder, &fields, &batch),
            Err(e) => vec![Err(e.into_pgwire())],
        };
        futures::stream::iter(rows)
    });
    let data = futures::stream::iter(header.map(Ok)).chain(rows);
    let format_code = if format == CopyFormat::Binary { 1 } else { 0 };
    CopyResponse::new(format_code, columns, data)
}

fn new_encoder(fields: Arc<Vec<FieldInfo>>, format: CopyFormat) -> CopyEncoder {
    match format {
        CopyFormat::Text => CopyEncoder::new_text(fields, CopyTextOptions::default()),
        CopyFormat::Csv { .. } => CopyEncoder::new_csv(fields, CopyCsvOptions::default()),
        CopyFormat::Binary => CopyEncoder::new_binary(fields),
    }
}

fn encode_batch(
    encoder: &mut CopyEncoder,
    fields: &[FieldInfo],
    batch: &RecordBatch,
) -> Vec<PgWireResult<CopyData>> {
    let schema = batch.schema();
    (0..batch.num_rows())
        .map(|row| {
            for (column, (array, field)) in batch.columns().iter().zip(fields).enumerate() {
                arrow_pg::encoder::encode_value(encoder, array, row, schema.field(column), field)?;
            }
            Ok(encoder.take_copy())
        })
        .collect()
}

fn csv_quote(name: &str) -> String {
    if name.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", name.replace('"', "\"\""))
    } else {
        name.to_owned()
    }
}
