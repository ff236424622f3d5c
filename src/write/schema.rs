//! Result types → types that both the catalog (Glue type strings) and Delta can hold, chosen so
//! that reading the table back gives the client the same PostgreSQL types: timestamps become
//! UTC microsecond timestamps (timestamptz), strings plain Utf8, small or unsigned integers the
//! next signed type that holds them. What has no such type (intervals, times) is stored as text.

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::error::ArrowError;

/// The storable type of a result column.
pub fn storable(data_type: &DataType) -> DataType {
    use DataType as T;
    match data_type {
        T::Utf8View | T::LargeUtf8 | T::Null | T::Interval(_) | T::Time32(_) | T::Time64(_) => {
            T::Utf8
        }
        T::Dictionary(_, value) => storable(value),
        T::BinaryView | T::LargeBinary | T::FixedSizeBinary(_) => T::Binary,
        T::Int8 | T::UInt8 => T::Int16,
        T::UInt16 => T::Int32,
        T::UInt32 | T::UInt64 => T::Int64,
        T::Float16 => T::Float32,
        T::Date64 => T::Date32,
        T::Timestamp(_, _) => T::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        T::Decimal32(p, s) | T::Decimal64(p, s) => T::Decimal128(*p, *s),
        T::Decimal256(p, s) => T::Decimal128((*p).min(38), *s),
        T::List(item) | T::LargeList(item) | T::ListView(item) | T::FixedSizeList(item, _) => {
            T::List(Arc::new(Field::new(
                "item",
                storable(item.data_type()),
                true,
            )))
        }
        T::Struct(fields) => T::Struct(
            fields
                .iter()
                .map(|f| Field::new(f.name(), storable(f.data_type()), true))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The storable schema of a result, every column nullable, named as given.
pub fn storable_schema(schema: &Schema, names: &[String]) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(names)
        .map(|(f, name)| Field::new(name, storable(f.data_type()), true))
        .collect();
    Arc::new(Schema::new(fields))
}

/// A column cast to a stored type; a value that does not fit is an error (22P02, 22003), never
/// a NULL in its place.
pub fn cast_column(column: &ArrayRef, to: &DataType) -> Result<ArrayRef, ArrowError> {
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    cast_with_options(column, to, &options)
}

/// A batch cast column by column to `schema` (same column count and order).
pub fn cast_batch(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| cast_column(column, field.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(Arc::clone(schema), columns)
}

/// The Glue (Hive) type string of a storable type.
pub fn glue_type(data_type: &DataType) -> Result<String, String> {
    use DataType as T;
    Ok(match data_type {
        T::Boolean => "boolean".into(),
        T::Int16 => "smallint".into(),
        T::Int32 => "int".into(),
        T::Int64 => "bigint".into(),
        T::Float32 => "float".into(),
        T::Float64 => "double".into(),
        T::Utf8 => "string".into(),
        T::Binary => "binary".into(),
        T::Date32 => "date".into(),
        T::Timestamp(_, _) => "timestamp".into(),
        T::Decimal128(p, s) => format!("decimal({p},{s})"),
        T::List(item) => format!("array<{}>", glue_type(item.data_type())?),
        T::Struct(fields) => {
            let parts = fields
                .iter()
                .map(|f| Ok(format!("{}:{}", f.name(), glue_type(f.data_type())?)))
                .collect::<Result<Vec<_>, String>>()?;
            format!("struct<{}>", parts.join(","))
        }
        other => {
            return Err(format!(
                "a column of type {other} cannot be stored in the lake"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::glue_types::parse_glue_type;

    #[test]
    fn stored_types_read_back_as_written() {
        let results = [
            DataType::Int64,
            DataType::Utf8View,
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            DataType::Decimal128(12, 2),
            DataType::Date32,
            DataType::UInt8,
            DataType::Boolean,
            DataType::List(Arc::new(Field::new("x", DataType::Int32, false))),
        ];
        for result in results {
            let stored = storable(&result);
            let glue = glue_type(&stored).unwrap();
            assert_eq!(
                parse_glue_type(&glue).unwrap(),
                stored,
                "{result} as {glue}"
            );
        }
    }
}
