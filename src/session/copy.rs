//! `COPY … TO STDOUT` in text, CSV and binary: an ordinary read (D10) whose rows are encoded as
//! CopyData messages instead of DataRows, streamed the same way. Text is written by
//! [`text_rows`] (the common types directly); CSV and binary by pgwire's encoder.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use datafusion::arrow::array::{Array, RecordBatch};
use futures::{Stream, StreamExt};
use pgwire::api::results::{CopyCsvOptions, CopyEncoder, CopyResponse, CopyTextOptions, FieldInfo};
use pgwire::error::PgWireResult;
use pgwire::messages::copy::CopyData;
use pgwire::types::format::FormatOptions;
use pgwire::types::ToSqlText;
use postgres_types::{IsNull, ToSql};

use super::values::{columns, Column};

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
            Ok(batch) if format == CopyFormat::Text => text_rows(&batch, &fields),
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

/// COPY's text format as pgwire's encoder writes it: tab-separated, `\N` for NULL, backslash
/// escapes, one CopyData per row, values in the default format options (as pgwire's).
fn text_rows(batch: &RecordBatch, fields: &[FieldInfo]) -> Vec<PgWireResult<CopyData>> {
    let options = FormatOptions::default();
    let schema = batch.schema();
    let columns = columns(batch, &schema, fields, Some(&options));
    let mut out = TextRowBuffer {
        out: BytesMut::with_capacity(batch.num_rows() * columns.len() * 12),
        value: BytesMut::new(),
        options: &options,
    };
    let mut encoded = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        for (i, (column, pg_field)) in columns.iter().enumerate() {
            if i > 0 {
                out.out.put_u8(b'\t');
            }
            if let Err(e) = out.write(column, pg_field, row) {
                encoded.push(Err(e));
                return encoded;
            }
        }
        out.out.put_u8(b'\n');
        encoded.push(Ok(CopyData::new(out.out.split().freeze())));
    }
    encoded
}

/// A COPY text row being written, and the value being escaped into it.
struct TextRowBuffer<'a> {
    out: BytesMut,
    value: BytesMut,
    options: &'a FormatOptions,
}

impl TextRowBuffer<'_> {
    fn write(&mut self, column: &Column, pg_field: &FieldInfo, row: usize) -> PgWireResult<()> {
        if column.array.is_null(row) {
            self.out.put_slice(b"\\N");
            return Ok(());
        }
        // Digits, signs, points and dates need no escapes: straight into the row.
        if !column.is_string() && column.write_fast(row, &mut self.out) {
            return Ok(());
        }
        self.value.clear();
        if column.write_fast(row, &mut self.value) {
            escape_into(&mut self.out, &self.value);
            return Ok(());
        }
        arrow_pg::encoder::encode_value(self, column.array, row, column.arrow_field, pg_field)
    }
}

/// For the values arrow-pg writes: rendered as text, then escaped.
impl arrow_pg::encoder::Encoder for TextRowBuffer<'_> {
    type Item = ();

    fn encode_field<T>(&mut self, value: &T, pg_field: &FieldInfo) -> PgWireResult<()>
    where
        T: ToSql + ToSqlText + Sized,
    {
        self.value.clear();
        match value.to_sql_text(pg_field.datatype(), &mut self.value, self.options)? {
            IsNull::Yes => self.out.put_slice(b"\\N"),
            IsNull::No => escape_into(&mut self.out, &self.value),
        }
        Ok(())
    }

    fn take_row(&mut self) -> Self::Item {}
}

/// COPY text's escapes: newline, carriage return, tab (the delimiter) and backslash.
fn escape_into(out: &mut BytesMut, value: &[u8]) {
    let mut rest = value;
    while let Some(at) = rest
        .iter()
        .position(|b| matches!(b, b'\n' | b'\r' | b'\t' | b'\\'))
    {
        out.put_slice(&rest[..at]);
        out.put_slice(match rest[at] {
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => b"\\\\",
        });
        rest = &rest[at + 1..];
    }
    out.put_slice(rest);
}

fn csv_quote(name: &str) -> String {
    if name.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", name.replace('"', "\"\""))
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use pgwire::api::results::FieldFormat;

    use super::*;

    fn fields(batch: &RecordBatch) -> Vec<FieldInfo> {
        let schema = batch.schema();
        schema
            .fields()
            .iter()
            .map(|f| {
                let ty = arrow_pg::datatypes::field_into_pg_type(f).unwrap();
                FieldInfo::new(f.name().clone(), None, None, ty, FieldFormat::Text)
            })
            .collect()
    }

    fn pgwire_rows(batch: &RecordBatch) -> Vec<PgWireResult<CopyData>> {
        let fields = fields(batch);
        let mut encoder = new_encoder(Arc::new(fields.clone()), CopyFormat::Text);
        encode_batch(&mut encoder, &fields, batch)
    }

    fn same_as_pgwire(batch: &RecordBatch) {
        let ours: Vec<_> = text_rows(batch, &fields(batch))
            .into_iter()
            .map(|r| r.map(|c| c.data).map_err(|e| e.to_string()))
            .collect();
        let theirs: Vec<_> = pgwire_rows(batch)
            .into_iter()
            .map(|r| r.map(|c| c.data).map_err(|e| e.to_string()))
            .collect();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn text_rows_are_pgwires_copy_text() {
        same_as_pgwire(&super::super::rows::tests::batch());
        let escapes: ArrayRef = Arc::new(StringArray::from(vec![
            Some("tab\there"),
            Some("line\nbreak\r\\slash"),
            None,
            Some("\\N"),
        ]));
        let schema = Schema::new(vec![Field::new("s", escapes.data_type().clone(), true)]);
        same_as_pgwire(&RecordBatch::try_new(Arc::new(schema), vec![escapes]).unwrap());
    }
}
