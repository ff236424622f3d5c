//! `COPY … TO STDOUT` in text, CSV and binary: an ordinary read (D10) whose rows are encoded as
//! CopyData messages instead of DataRows, streamed the same way. Text is written by
//! [`text_rows`] and binary by [`binary_rows`] (the common types directly, as DataRows are);
//! CSV by pgwire's encoder.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use datafusion::arrow::array::{Array, RecordBatch};
use futures::{Stream, StreamExt};
use pgwire::api::results::{
    CopyCsvOptions, CopyEncoder, CopyResponse, CopyTextOptions, FieldFormat, FieldInfo,
};
use pgwire::error::PgWireResult;
use pgwire::messages::copy::CopyData;
use pgwire::types::format::FormatOptions;
use pgwire::types::ToSqlText;
use postgres_types::{IsNull, ToSql};

use super::rows::RowBuffer;
use super::values::{columns, Column};

use crate::error::LakegateError;
use crate::statement::CopyFormat;

/// PGCOPY's signature, flags and header extension length.
const BINARY_HEADER: &[u8] = b"PGCOPY\n\xFF\r\n\0\0\0\0\0\0\0\0\0";

/// The COPY OUT response for a stream of wire-schema batches.
pub fn copy_response(
    batches: impl Stream<Item = Result<RecordBatch, LakegateError>> + Send + 'static,
    fields: Arc<Vec<FieldInfo>>,
    format: CopyFormat,
) -> CopyResponse {
    let columns = fields.len();
    if format == CopyFormat::Binary {
        return binary_copy(batches, &fields);
    }
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
    CopyResponse::new(0, columns, data)
}

/// Binary COPY framed as PostgreSQL frames it: the header in the first message, with the first
/// row or, for no rows, with the trailer (psycopg reads the signature and a row, or the
/// trailer, from one message). pgwire's `CopyResponse::new` would send the trailer alone.
fn binary_copy(
    batches: impl Stream<Item = Result<RecordBatch, LakegateError>> + Send + 'static,
    fields: &[FieldInfo],
) -> CopyResponse {
    let binary = binary_fields(fields);
    let columns = binary.len();
    let header_sent = Arc::new(AtomicBool::new(false));
    let sent = Arc::clone(&header_sent);
    let rows = batches.flat_map(move |batch| {
        let rows = match batch {
            Ok(batch) => {
                let header = batch.num_rows() > 0 && !sent.swap(true, Ordering::Relaxed);
                binary_rows(&batch, &binary, header)
            }
            Err(e) => vec![Err(e.into_pgwire())],
        };
        futures::stream::iter(rows)
    });
    let trailer = futures::stream::once(async move {
        let mut last = BytesMut::with_capacity(BINARY_HEADER.len() + 2);
        if !header_sent.load(Ordering::Relaxed) {
            last.put_slice(BINARY_HEADER);
        }
        last.put_i16(-1);
        Ok(CopyData::new(last.freeze()))
    });
    // Made as text and then marked binary: `new` appends its own trailer to binary responses.
    let mut response = CopyResponse::new(0, columns, rows.chain(trailer));
    response.format = 1;
    response
}

/// The fields in binary format (a COPY statement's result is described in text).
fn binary_fields(fields: &[FieldInfo]) -> Vec<FieldInfo> {
    let binary = |f: &FieldInfo| {
        let (name, ty) = (f.name().to_owned(), f.datatype().clone());
        FieldInfo::new(name, f.table_id(), f.column_id(), ty, FieldFormat::Binary)
    };
    fields.iter().map(binary).collect()
}

/// Binary COPY rows: a field count, then each value as a DataRow holds it; `header` goes
/// before the first. After an error, nothing more.
fn binary_rows(
    batch: &RecordBatch,
    fields: &[FieldInfo],
    header: bool,
) -> Vec<PgWireResult<CopyData>> {
    let schema = batch.schema();
    let columns = columns(batch, &schema, fields, None);
    let rows = batch.num_rows();
    let mut out = RowBuffer(BytesMut::with_capacity(
        BINARY_HEADER.len() + rows * (2 + columns.len() * 12),
    ));
    if header {
        out.0.put_slice(BINARY_HEADER);
    }
    let mut encoded = Vec::with_capacity(rows);
    for row in 0..rows {
        out.0.put_i16(columns.len() as i16);
        for (column, pg_field) in &columns {
            if let Err(e) = out.write(column, pg_field, row) {
                encoded.push(Err(e));
                return encoded;
            }
        }
        encoded.push(Ok(CopyData::new(out.0.split().freeze())));
    }
    encoded
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

    fn bytes(rows: Vec<PgWireResult<CopyData>>) -> Vec<Bytes> {
        rows.into_iter().map(|r| r.unwrap().data).collect()
    }

    #[test]
    fn binary_rows_are_pgwires_copy_binary() {
        let batch = super::super::rows::tests::batch();
        let fields = binary_fields(&fields(&batch));
        let mut encoder = new_encoder(Arc::new(fields.clone()), CopyFormat::Binary);
        let theirs = bytes(encode_batch(&mut encoder, &fields, &batch));
        let ours = bytes(binary_rows(&batch, &fields, true));
        assert!(ours[0].starts_with(BINARY_HEADER));
        assert_eq!(ours, theirs);
    }

    /// The messages of a binary COPY of `batches`.
    fn binary_messages(batches: Vec<RecordBatch>) -> Vec<Bytes> {
        let fields = Arc::new(fields(&batches[0]));
        let stream = futures::stream::iter(batches.into_iter().map(Ok));
        let mut response = copy_response(stream, fields, CopyFormat::Binary);
        let messages = futures::executor::block_on(response.data_stream().collect::<Vec<_>>());
        bytes(messages)
    }

    #[test]
    fn binary_copy_starts_with_the_header_even_without_rows() {
        let batch = super::super::rows::tests::batch();
        let trailer = Bytes::from_static(b"\xFF\xFF");
        let messages = binary_messages(vec![batch.slice(0, 0), batch.clone()]);
        assert!(messages[0].starts_with(BINARY_HEADER));
        assert_eq!(messages.len(), batch.num_rows() + 1);
        assert_eq!(messages.last(), Some(&trailer));

        let empty = binary_messages(vec![batch.slice(0, 0)]);
        assert_eq!(
            empty,
            vec![Bytes::from([BINARY_HEADER, &trailer[..]].concat())]
        );
    }
}
