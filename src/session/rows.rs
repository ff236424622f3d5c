//! A batch of results → DataRow messages, written into one buffer: the common types by
//! [`super::values`], the rest by arrow-pg into the same buffer.

use bytes::{BufMut, BytesMut};
use datafusion::arrow::array::{Array, RecordBatch};
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::error::PgWireResult;
use pgwire::messages::data::DataRow;
use pgwire::types::ToSqlText;
use postgres_types::{IsNull, ToSql};

use super::values::{columns, Column};

/// Bytes reserved per value before a batch is written (the buffer grows past it if needed).
const ESTIMATED_VALUE_BYTES: usize = 16;

/// The batch's rows as DataRow messages; after an error, nothing more.
pub fn data_rows(batch: &RecordBatch, fields: &[FieldInfo]) -> Vec<PgWireResult<DataRow>> {
    let schema = batch.schema();
    let columns = columns(batch, &schema, fields, None);
    let rows = batch.num_rows();
    let mut out = RowBuffer(BytesMut::with_capacity(
        rows * columns.len() * ESTIMATED_VALUE_BYTES,
    ));
    let mut encoded = Vec::with_capacity(rows);
    for row in 0..rows {
        for (column, pg_field) in &columns {
            if let Err(e) = out.write(column, pg_field, row) {
                encoded.push(Err(e));
                return encoded;
            }
        }
        encoded.push(Ok(DataRow::new(out.0.split(), columns.len() as i16)));
    }
    encoded
}

/// Values as a DataRow (or a binary COPY row) holds them: each a length (-1 for NULL) and its
/// bytes.
pub(super) struct RowBuffer(pub(super) BytesMut);

impl RowBuffer {
    pub(super) fn write(
        &mut self,
        column: &Column,
        pg_field: &FieldInfo,
        row: usize,
    ) -> PgWireResult<()> {
        if column.array.is_null(row) {
            self.0.put_i32(-1);
            return Ok(());
        }
        let start = self.0.len();
        self.0.put_i32(0);
        if column.write_fast(row, &mut self.0) {
            self.patch_length(start);
            return Ok(());
        }
        self.0.truncate(start);
        arrow_pg::encoder::encode_value(self, column.array, row, column.arrow_field, pg_field)
    }

    fn patch_length(&mut self, start: usize) {
        let length = (self.0.len() - start - 4) as i32;
        self.0[start..start + 4].copy_from_slice(&length.to_be_bytes());
    }
}

/// For the values arrow-pg writes: as pgwire's `DataRowEncoder` does, into this buffer.
impl arrow_pg::encoder::Encoder for RowBuffer {
    type Item = ();

    fn encode_field<T>(&mut self, value: &T, pg_field: &FieldInfo) -> PgWireResult<()>
    where
        T: ToSql + ToSqlText + Sized,
    {
        let start = self.0.len();
        self.0.put_i32(-1);
        let ty = pg_field.datatype();
        let is_null = match pg_field.format() {
            FieldFormat::Text => value.to_sql_text(ty, &mut self.0, pg_field.format_options())?,
            FieldFormat::Binary => value.to_sql(ty, &mut self.0)?,
        };
        if let IsNull::No = is_null {
            self.patch_length(start);
        }
        Ok(())
    }

    fn take_row(&mut self) -> Self::Item {}
}

#[cfg(test)]
#[path = "rows_tests.rs"]
pub(super) mod tests;
