//! The fast rows must be arrow-pg's rows, byte for byte, in both formats.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int16Array,
    Int32Array, Int64Array, Int8Array, LargeStringArray, StringArray, StringViewArray, UInt16Array,
    UInt32Array, UInt64Array, UInt8Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use pgwire::types::format::FormatOptions;

use super::*;

/// Every fast type, with NULLs and the values at the edges of the fast paths.
pub(crate) fn batch() -> RecordBatch {
    let decimal = |values: Vec<Option<i128>>, scale: i8| {
        Arc::new(
            Decimal128Array::from(values)
                .with_precision_and_scale(38, scale)
                .unwrap(),
        ) as ArrayRef
    };
    let columns: Vec<(&str, ArrayRef, bool)> = vec![
        (
            "b",
            Arc::new(BooleanArray::from(vec![
                Some(true),
                None,
                Some(false),
                Some(true),
            ])) as ArrayRef,
            true,
        ),
        (
            "i8",
            Arc::new(Int8Array::from(vec![Some(-128), Some(0), None, Some(127)])) as ArrayRef,
            true,
        ),
        (
            "i16",
            Arc::new(Int16Array::from(vec![
                Some(i16::MIN),
                Some(-1),
                Some(7),
                None,
            ])) as ArrayRef,
            true,
        ),
        (
            "i32",
            Arc::new(Int32Array::from(vec![
                Some(i32::MIN),
                None,
                Some(0),
                Some(i32::MAX),
            ])) as ArrayRef,
            true,
        ),
        (
            "i64",
            Arc::new(Int64Array::from(vec![
                Some(i64::MIN),
                Some(42),
                None,
                Some(i64::MAX),
            ])) as ArrayRef,
            true,
        ),
        (
            "u8",
            Arc::new(UInt8Array::from(vec![Some(255), Some(0), None, Some(1)])) as ArrayRef,
            true,
        ),
        (
            "u16",
            Arc::new(UInt16Array::from(vec![
                Some(u16::MAX),
                None,
                Some(0),
                Some(9),
            ])) as ArrayRef,
            true,
        ),
        (
            "u32",
            Arc::new(UInt32Array::from(vec![
                Some(u32::MAX),
                Some(3),
                None,
                Some(0),
            ])) as ArrayRef,
            true,
        ),
        (
            "u64",
            Arc::new(UInt64Array::from(vec![
                Some(u64::MAX),
                Some(3),
                None,
                Some(0),
            ])) as ArrayRef,
            true,
        ),
        (
            "f32",
            Arc::new(Float32Array::from(vec![
                Some(1.5),
                Some(f32::NAN),
                None,
                Some(-0.1),
            ])) as ArrayRef,
            true,
        ),
        (
            "f64",
            Arc::new(Float64Array::from(vec![
                Some(1e300),
                Some(f64::INFINITY),
                Some(0.1),
                None,
            ])) as ArrayRef,
            true,
        ),
        (
            "s",
            Arc::new(StringArray::from(vec![
                Some("a,\"b\""),
                None,
                Some(""),
                Some("é{}"),
            ])) as ArrayRef,
            true,
        ),
        (
            "ls",
            Arc::new(LargeStringArray::from(vec![
                Some("x"),
                Some("null"),
                None,
                Some(" "),
            ])) as ArrayRef,
            true,
        ),
        (
            "sv",
            Arc::new(StringViewArray::from(vec![
                Some("a long string past twelve bytes"),
                None,
                Some("s"),
                Some(""),
            ])) as ArrayRef,
            true,
        ),
        // 1970-01-01, 2000-02-29, year 1 (the first fast one), 1 BC and year 10000 (arrow-pg's).
        (
            "d",
            Arc::new(Date32Array::from(vec![
                Some(0),
                Some(11_016),
                Some(-719_162),
                None,
            ])) as ArrayRef,
            true,
        ),
        (
            "d_far",
            Arc::new(Date32Array::from(vec![
                Some(-719_163),
                Some(2_932_897),
                None,
                Some(-1),
            ])) as ArrayRef,
            true,
        ),
        (
            "n2",
            decimal(vec![Some(-5), Some(0), None, Some(123_456_789_012)], 2),
            true,
        ),
        (
            "n0",
            decimal(vec![Some(-1), Some(10), Some(99_999_999_999), None], 0),
            true,
        ),
        (
            // Whole zero groups after the point, a fraction within one group, a mid value.
            "n4",
            decimal(
                vec![
                    Some(10_000_000),
                    Some(1_000_000_000_000),
                    Some(-12_345_678),
                    Some(50),
                ],
                4,
            ),
            true,
        ),
        (
            "n28",
            decimal(
                vec![Some(1), None, Some(-(10i128.pow(27))), Some(10i128.pow(28))],
                28,
            ),
            true,
        ),
    ];
    let mut fields = Vec::new();
    let mut arrays = Vec::new();
    for (name, array, nullable) in columns {
        fields.push(Field::new(name, array.data_type().clone(), nullable));
        arrays.push(array);
    }
    let oid = Field::new("oid", DataType::Int32, true).with_metadata(HashMap::from([(
        "pg.oid_alias".to_owned(),
        "oid".to_owned(),
    )]));
    fields.push(oid);
    arrays.push(Arc::new(Int32Array::from(vec![
        Some(-1),
        Some(16_384),
        None,
        Some(0),
    ])));
    let char_field = Field::new("typtype", DataType::Utf8, true)
        .with_metadata(HashMap::from([("pg.char".to_owned(), "true".to_owned())]));
    fields.push(char_field);
    arrays.push(Arc::new(StringArray::from(vec![
        Some("b"),
        Some("c"),
        None,
        Some("d"),
    ])));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

fn field_infos(batch: &RecordBatch, format: FieldFormat, date_style: &str) -> Vec<FieldInfo> {
    let mut options = FormatOptions::default();
    options.date_style = date_style.to_owned();
    let options = Arc::new(options);
    batch
        .schema()
        .fields()
        .iter()
        .map(|field| {
            let ty = arrow_pg::datatypes::field_into_pg_type(field).unwrap();
            FieldInfo::new(field.name().clone(), None, None, ty, format)
                .with_format_options(Arc::clone(&options))
        })
        .collect()
}

fn rendered(rows: Vec<PgWireResult<DataRow>>) -> Vec<Result<(i16, Vec<u8>), String>> {
    rows.into_iter()
        .map(|row| {
            row.map(|r| (r.field_count, r.data.to_vec()))
                .map_err(|e| e.to_string())
        })
        .collect()
}

fn assert_same_as_arrow_pg(batch: &RecordBatch, format: FieldFormat, date_style: &str) {
    let fields = field_infos(batch, format, date_style);
    let ours = rendered(data_rows(batch, &fields));
    // arrow-pg's iterator repeats an error for ever: up to the first one.
    let mut theirs_rows = Vec::new();
    for row in arrow_pg::datatypes::encode_recordbatch(Arc::new(fields), batch.clone()) {
        let failed = row.is_err();
        theirs_rows.push(row);
        if failed {
            break;
        }
    }
    let theirs = rendered(theirs_rows);
    assert_eq!(ours.len(), theirs.len(), "{format:?} {date_style}");
    for (row, (ours, theirs)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(
            ours, theirs,
            "row {row}, {format:?}, DateStyle {date_style}"
        );
    }
}

#[test]
fn text_and_binary_rows_are_arrow_pgs() {
    let batch = batch();
    assert_same_as_arrow_pg(&batch, FieldFormat::Text, "ISO, MDY");
    assert_same_as_arrow_pg(&batch, FieldFormat::Binary, "ISO, MDY");
    // Another DateStyle: dates go through arrow-pg, the rest stays fast.
    assert_same_as_arrow_pg(&batch, FieldFormat::Text, "German, DMY");
}

#[test]
fn a_decimal_beyond_96_bits_fails_as_arrow_pg_fails() {
    let values = Decimal128Array::from(vec![Some(1), Some(1i128 << 100)])
        .with_precision_and_scale(38, 2)
        .unwrap();
    let schema = Schema::new(vec![Field::new("n", values.data_type().clone(), true)]);
    let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(values)]).unwrap();
    let fields = field_infos(&batch, FieldFormat::Text, "ISO, MDY");
    let rows = data_rows(&batch, &fields);
    assert_eq!(rows.len(), 2, "one row, then the error");
    assert!(rows[0].is_ok());
    assert!(rows[1]
        .as_ref()
        .is_err_and(|e| e.to_string().contains("22003") || format!("{e:?}").contains("22003")));
    assert_same_as_arrow_pg(&batch, FieldFormat::Text, "ISO, MDY");
}
