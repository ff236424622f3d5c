//! Arrow results → PostgreSQL row descriptions and rows.
//!
//! arrow-pg does the value encoding (text and binary). Before it, result types it cannot encode
//! (or reports differently from PostgreSQL) are cast to ones it can, and each field gets the
//! table OID, column number and type modifier PostgreSQL would send (pgjdbc and others read
//! them from RowDescription).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::json::writer::{make_encoder, EncoderOptions};
use datafusion::error::Result;
use pgwire::api::portal::Format;
use pgwire::api::results::FieldInfo;
use pgwire::api::Type;
use pgwire::error::PgWireResult;
use pgwire::types::format::FormatOptions;

use super::origin::ColumnOrigin;
use super::settings::Settings;

/// The type a result column is sent as, when Arrow's type has no direct PostgreSQL encoding.
fn wire_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Null => DataType::Utf8, // PostgreSQL reports an untyped NULL as text
        DataType::Float16 => DataType::Float32,
        DataType::FixedSizeBinary(_) => DataType::Binary,
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => DataType::Decimal128(*p, *s),
        DataType::Decimal256(p, s) if *p <= 38 => DataType::Decimal128(*p, *s),
        DataType::Decimal256(..) => DataType::Utf8,
        DataType::Dictionary(_, value) => wire_type(value),
        // PostgreSQL has no map type; maps go out as JSON object text, as Athena's drivers
        // render them as text too.
        DataType::Map(..) => DataType::Utf8,
        DataType::ListView(f) | DataType::LargeListView(f) | DataType::LargeList(f) => {
            DataType::List(Arc::new(Field::new("item", wire_type(f.data_type()), true)))
        }
        other => other.clone(),
    }
}

/// Field metadata by which datafusion-pg-catalog marks `oid`/`regclass`/… columns.
const OID_ALIAS_KEY: &str = "pg.oid_alias";

/// The schema results are sent with.
pub fn wire_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<FieldRef> = schema
        .fields()
        .iter()
        .map(|f| {
            let ty = wire_type(f.data_type());
            // The marker survives casts (`CAST(c.oid AS BIGINT)`), but only an int4 is an oid.
            let stale_oid_marker =
                f.metadata().contains_key(OID_ALIAS_KEY) && ty != DataType::Int32;
            match (&ty == f.data_type(), stale_oid_marker) {
                (true, false) => Arc::clone(f),
                _ => {
                    let mut metadata = f.metadata().clone();
                    metadata.remove(OID_ALIAS_KEY);
                    Arc::new(
                        f.as_ref()
                            .clone()
                            .with_data_type(ty)
                            .with_metadata(metadata),
                    )
                }
            }
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// Casts a batch to the wire schema (a no-op when the types already match).
pub fn to_wire(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(
            |(column, field)| match (column.data_type(), field.data_type()) {
                (from, to) if from == to => Ok(Arc::clone(column)),
                (DataType::Map(..), DataType::Utf8) => json_text(column),
                (_, to) => cast(column, to),
            },
        )
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// Each value as JSON text (NULL stays NULL).
fn json_text(column: &ArrayRef) -> std::result::Result<ArrayRef, ArrowError> {
    let field = Arc::new(Field::new("value", column.data_type().clone(), true));
    let options = EncoderOptions::default();
    let mut encoder = make_encoder(&field, column.as_ref(), &options)?;
    let mut text = StringBuilder::new();
    let mut buffer = Vec::new();
    for row in 0..column.len() {
        if encoder.is_null(row) {
            text.append_null();
            continue;
        }
        buffer.clear();
        encoder.encode(row, &mut buffer);
        text.append_value(String::from_utf8_lossy(&buffer));
    }
    Ok(Arc::new(text.finish()))
}

/// PostgreSQL's type modifier: numeric(p,s) is ((p << 16) | s) + 4.
pub fn type_modifier(data_type: &DataType) -> i32 {
    match data_type {
        DataType::Decimal128(p, s) => ((i32::from(*p) << 16) | i32::from(*s as u8)) + 4,
        _ => -1,
    }
}

/// RowDescription fields for a wire schema.
pub fn field_infos(
    schema: &SchemaRef,
    names: &[String],
    origins: &[ColumnOrigin],
    format: &Format,
    options: Arc<FormatOptions>,
) -> PgWireResult<Vec<FieldInfo>> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let pg_type = oid_alias_array(field)
                .map_or_else(|| arrow_pg::datatypes::field_into_pg_type(field), Ok)?;
            let origin = origins.get(i).copied().flatten();
            let name = names.get(i).unwrap_or(field.name());
            let info = FieldInfo::new(
                name.clone(),
                origin.map(|o| o.table_oid),
                origin.map(|o| o.attnum),
                pg_type,
                format.format_for(i),
            );
            Ok(info
                .with_type_modifier(type_modifier(field.data_type()))
                .with_format_options(Arc::clone(&options)))
        })
        .collect()
}

/// An array of OIDs (`array_agg(atttypid)`, `'{…}'::oid[]`) is `oid[]`, not `int4[]`: arrow-pg
/// reads the OID-alias tag on scalar fields only. asyncpg's type introspection decodes only
/// `oid[]` and `text[]` before it knows any other type.
fn oid_alias_array(field: &Field) -> Option<Type> {
    let DataType::List(item) = field.data_type() else {
        return None;
    };
    let alias = item.metadata().get(OID_ALIAS_KEY)?;
    Some(match alias.as_str() {
        "regtype" => Type::REGTYPE_ARRAY,
        "regclass" => Type::REGCLASS_ARRAY,
        "regproc" => Type::REGPROC_ARRAY,
        "regnamespace" => Type::REGNAMESPACE_ARRAY,
        _ => Type::OID_ARRAY,
    })
}

/// Text-format options from the session's settings (DateStyle, IntervalStyle, …).
pub fn format_options(settings: &Settings) -> Arc<FormatOptions> {
    let value = |name: &str| {
        settings
            .get(name)
            .map(|(_, v)| v.to_owned())
            .unwrap_or_default()
    };
    let mut options = FormatOptions::default();
    options.date_style = value("DateStyle");
    options.interval_style = value("IntervalStyle");
    options.bytea_output = value("bytea_output");
    options.time_zone = value("TimeZone");
    options.extra_float_digits = value("extra_float_digits").parse().unwrap_or(1);
    Arc::new(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_typmod_matches_postgres() {
        // PostgreSQL: numeric(12,2) has atttypmod 786438.
        assert_eq!(type_modifier(&DataType::Decimal128(12, 2)), 786_438);
        assert_eq!(type_modifier(&DataType::Utf8), -1);
    }

    #[test]
    fn unencodable_types_are_cast() {
        let schema = Schema::new(vec![
            Field::new("n", DataType::Null, true),
            Field::new(
                "d",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                true,
            ),
        ]);
        let wire = wire_schema(&schema);
        assert_eq!(wire.field(0).data_type(), &DataType::Utf8);
        assert_eq!(wire.field(1).data_type(), &DataType::Utf8);
    }
}
