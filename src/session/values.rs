//! Result values written directly, for the common scalar types.
//!
//! arrow-pg encodes each value through pgwire's generic `encode_field`: per value it downcasts
//! the array again and goes through `ToSql`/`ToSqlText`, which in text formats writes integers
//! with `fmt`, dates with chrono's strftime (parsing the format string each time) and decimals
//! via `rust_decimal`; pgwire's COPY text encoder also allocates a buffer and default format
//! options per value. Text results cost two to three times the CPU of binary ones for that
//! (suite B). The types here are written with the bytes arrow-pg would write (the tests of
//! `rows` and `copy` compare them); any other column, or a value outside a fast path's range,
//! is left to arrow-pg by the caller.

use bytes::{BufMut, BytesMut};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
    Float64Array, GenericStringArray, PrimitiveArray, RecordBatch, StringViewArray,
};
use datafusion::arrow::datatypes::{
    DataType, Field, Int16Type, Int32Type, Int64Type, Int8Type, Schema, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::api::Type;
use pgwire::types::format::date_style::DateStyle;
use pgwire::types::format::FormatOptions;

use super::civil_date::{civil_from_days, write_iso_date};

/// One result column: its array, and its fast writer if it has one.
pub struct Column<'a> {
    pub array: &'a ArrayRef,
    pub arrow_field: &'a Field,
    fast: Option<Fast<'a>>,
}

/// How a column's values are written.
pub struct Encoding<'a> {
    pub text: bool,
    pub pg_type: &'a Type,
    pub options: &'a FormatOptions,
}

/// The columns written here rather than by arrow-pg.
enum Fast<'a> {
    Bool(&'a BooleanArray, bool),
    /// Integers in text: their decimal digits.
    IntegerText(Integers<'a>),
    /// Integers in binary: big-endian, at the width PostgreSQL's type has.
    IntegerBinary(Integers<'a>),
    Float32Binary(&'a Float32Array),
    Float64Binary(&'a Float64Array),
    Utf8(&'a GenericStringArray<i32>),
    LargeUtf8(&'a GenericStringArray<i64>),
    Utf8View(&'a StringViewArray),
    /// `DateStyle` ISO only; other styles go through arrow-pg.
    Date32Text(&'a Date32Array),
    Date32Binary(&'a Date32Array),
    DecimalText(&'a Decimal128Array, u32),
    DecimalBinary(&'a Decimal128Array, u32),
}

/// The integer arrays arrow-pg sends as PostgreSQL integers (widened where unsigned).
enum Integers<'a> {
    I8(&'a PrimitiveArray<Int8Type>),
    I16(&'a PrimitiveArray<Int16Type>),
    I32(&'a PrimitiveArray<Int32Type>),
    I64(&'a PrimitiveArray<Int64Type>),
    U8(&'a PrimitiveArray<UInt8Type>),
    U16(&'a PrimitiveArray<UInt16Type>),
    U32(&'a PrimitiveArray<UInt32Type>),
    U64(&'a PrimitiveArray<UInt64Type>),
}

/// The batch's columns beside their fields: written in each field's own format and options, or
/// all as text in `text_options` (COPY's text format).
pub fn columns<'a>(
    batch: &'a RecordBatch,
    schema: &'a Schema,
    fields: &'a [FieldInfo],
    text_options: Option<&FormatOptions>,
) -> Vec<(Column<'a>, &'a FieldInfo)> {
    batch
        .columns()
        .iter()
        .zip(schema.fields())
        .zip(fields)
        .map(|((array, arrow_field), pg_field)| {
            let encoding = Encoding {
                text: text_options.is_some() || pg_field.format() == FieldFormat::Text,
                pg_type: pg_field.datatype(),
                options: text_options.unwrap_or(pg_field.format_options()),
            };
            (Column::new(array, arrow_field, &encoding), pg_field)
        })
        .collect()
}

impl<'a> Column<'a> {
    pub fn new(array: &'a ArrayRef, arrow_field: &'a Field, encoding: &Encoding) -> Self {
        Self {
            array,
            arrow_field,
            fast: fast_path(array, arrow_field, encoding),
        }
    }

    /// Whether the column's text may hold bytes COPY's text format escapes.
    pub fn is_string(&self) -> bool {
        matches!(
            self.fast,
            None | Some(Fast::Utf8(_) | Fast::LargeUtf8(_) | Fast::Utf8View(_))
        )
    }

    /// Writes the non-NULL value at `row`, without a length; false (nothing written) when it
    /// is arrow-pg's to write.
    pub fn write_fast(&self, row: usize, out: &mut BytesMut) -> bool {
        let Some(fast) = &self.fast else {
            return false;
        };
        match fast {
            Fast::Bool(array, text) => out.put_u8(match (array.value(row), *text) {
                (true, true) => b't',
                (false, true) => b'f',
                (value, false) => u8::from(value),
            }),
            Fast::IntegerText(integers) => integers.text(row, out),
            Fast::IntegerBinary(integers) => integers.binary(row, out),
            Fast::Float32Binary(array) => out.put_f32(array.value(row)),
            Fast::Float64Binary(array) => out.put_f64(array.value(row)),
            Fast::Utf8(array) => out.put_slice(array.value(row).as_bytes()),
            Fast::LargeUtf8(array) => out.put_slice(array.value(row).as_bytes()),
            Fast::Utf8View(array) => out.put_slice(array.value(row).as_bytes()),
            Fast::Date32Text(array) => return date_text(array.value(row), out),
            Fast::Date32Binary(array) => return date_binary(array.value(row), out),
            Fast::DecimalText(array, scale) => return decimal_text(array.value(row), *scale, out),
            Fast::DecimalBinary(array, scale) => {
                return decimal_binary(array.value(row), *scale, out)
            }
        }
        true
    }
}

/// The fast writer for a column, if its type (and, for binary, its PostgreSQL type) has one.
fn fast_path<'a>(array: &'a ArrayRef, arrow: &Field, encoding: &Encoding) -> Option<Fast<'a>> {
    let text = encoding.text;
    // arrow-pg gives columns tagged `pg.…` their own encodings (a `"char"` is one byte in
    // binary): those stay with it. An OID's bytes are an int4's either way.
    let tagged = arrow
        .metadata()
        .keys()
        .any(|key| key.starts_with("pg.") && key != arrow_pg::datatypes::PG_OID_ALIAS_KEY);
    if tagged && !(text && arrow_pg::datatypes::is_pg_char_field(arrow)) {
        return None;
    }
    let string = text || is_text_type(encoding.pg_type);
    let fast = match (arrow.data_type(), text) {
        (DataType::Boolean, _) => Fast::Bool(array.as_boolean(), text),
        (DataType::Float32, false) => Fast::Float32Binary(array.as_primitive()),
        (DataType::Float64, false) => Fast::Float64Binary(array.as_primitive()),
        (DataType::Utf8, _) if string => Fast::Utf8(array.as_string()),
        (DataType::LargeUtf8, _) if string => Fast::LargeUtf8(array.as_string()),
        (DataType::Utf8View, _) if string => Fast::Utf8View(array.as_string_view()),
        (DataType::Date32, true) if iso_dates(encoding.options) => {
            Fast::Date32Text(array.as_primitive())
        }
        (DataType::Date32, false) => Fast::Date32Binary(array.as_primitive()),
        (DataType::Decimal128(_, scale), true) if (0..=28).contains(scale) => {
            Fast::DecimalText(array.as_primitive(), *scale as u32)
        }
        (DataType::Decimal128(_, scale), false) if (0..=28).contains(scale) => {
            Fast::DecimalBinary(array.as_primitive(), *scale as u32)
        }
        (_, true) => Fast::IntegerText(integers(array)?),
        // An unsigned 64-bit integer is a numeric in binary: arrow-pg's.
        (DataType::UInt64, false) => return None,
        (_, false) => Fast::IntegerBinary(integers(array)?),
    };
    Some(fast)
}

fn integers(array: &ArrayRef) -> Option<Integers<'_>> {
    Some(match array.data_type() {
        DataType::Int8 => Integers::I8(array.as_primitive()),
        DataType::Int16 => Integers::I16(array.as_primitive()),
        DataType::Int32 => Integers::I32(array.as_primitive()),
        DataType::Int64 => Integers::I64(array.as_primitive()),
        DataType::UInt8 => Integers::U8(array.as_primitive()),
        DataType::UInt16 => Integers::U16(array.as_primitive()),
        DataType::UInt32 => Integers::U32(array.as_primitive()),
        DataType::UInt64 => Integers::U64(array.as_primitive()),
        _ => return None,
    })
}

/// PostgreSQL types whose binary form is the UTF-8 bytes (not `jsonb`, which adds a version).
fn is_text_type(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
    )
}

fn iso_dates(options: &FormatOptions) -> bool {
    DateStyle::new(&options.date_style).date_format_str() == "%Y-%m-%d"
}

impl Integers<'_> {
    fn text(&self, row: usize, out: &mut BytesMut) {
        let mut digits = itoa::Buffer::new();
        let text = match self {
            Integers::I8(a) => digits.format(a.value(row)),
            Integers::I16(a) => digits.format(a.value(row)),
            Integers::I32(a) => digits.format(a.value(row)),
            Integers::I64(a) => digits.format(a.value(row)),
            Integers::U8(a) => digits.format(a.value(row)),
            Integers::U16(a) => digits.format(a.value(row)),
            Integers::U32(a) => digits.format(a.value(row)),
            Integers::U64(a) => digits.format(a.value(row)),
        };
        out.put_slice(text.as_bytes());
    }

    /// arrow-pg's widths: `"char"` for i8, int2 for u8, int4 for u16, int8 for u32.
    fn binary(&self, row: usize, out: &mut BytesMut) {
        match self {
            Integers::I8(a) => out.put_i8(a.value(row)),
            Integers::I16(a) => out.put_i16(a.value(row)),
            Integers::I32(a) => out.put_i32(a.value(row)),
            Integers::I64(a) => out.put_i64(a.value(row)),
            Integers::U8(a) => out.put_i16(i16::from(a.value(row))),
            Integers::U16(a) => out.put_i32(i32::from(a.value(row))),
            Integers::U32(a) => out.put_i64(i64::from(a.value(row))),
            Integers::U64(_) => unreachable!("fast_path leaves binary u64 to arrow-pg"),
        }
    }
}

/// Days since 1970-01-01 as `YYYY-MM-DD`, for years 1 to 9999 (chrono's and PostgreSQL's
/// renderings differ outside them, and arrow-pg's is kept there).
fn date_text(days: i32, out: &mut BytesMut) -> bool {
    let (year, month, day) = civil_from_days(i64::from(days));
    if !(1..=9999).contains(&year) {
        return false;
    }
    write_iso_date(out, year, month, day);
    true
}

/// PostgreSQL's binary date: days since 2000-01-01, as an int4.
fn date_binary(days: i32, out: &mut BytesMut) -> bool {
    const DAYS_1970_TO_2000: i32 = 10_957;
    // Beyond chrono's range arrow-pg sends NULL; that stays its decision.
    const CHRONO_DAYS: i32 = 95_000_000;
    if !(-CHRONO_DAYS..=CHRONO_DAYS).contains(&days) {
        return false;
    }
    out.put_i32(days - DAYS_1970_TO_2000);
    true
}

/// A decimal in `numeric`'s binary form as rust_decimal writes it: base-10000 digit groups
/// (the fraction's scaled to whole groups), trailing zero groups after the point dropped, the
/// display scale kept; zero is all zeros. Beyond 96 bits arrow-pg reports 22003, which is kept.
fn decimal_binary(value: i128, scale: u32, out: &mut BytesMut) -> bool {
    const MAX_MANTISSA: u128 = (1 << 96) - 1;
    let magnitude = value.unsigned_abs();
    if magnitude > MAX_MANTISSA {
        return false;
    }
    if magnitude == 0 {
        out.put_bytes(0, 8);
        return true;
    }
    // At most 96 bits times 1000: 32 decimal digits, 8 groups.
    let mut rest = magnitude * 10u128.pow((4 - scale % 4) % 4);
    let mut groups = [0i16; 10];
    let mut count = 0;
    while rest > 0 {
        groups[count] = (rest % 10_000) as i16;
        rest /= 10_000;
        count += 1;
    }
    groups[..count].reverse();
    let weight = count as i16 - scale.div_ceil(4) as i16 - 1;
    if weight >= 0 {
        let integer_groups = weight as usize + 1;
        while count > integer_groups && groups[count - 1] == 0 {
            count -= 1;
        }
    }
    out.put_u16(count as u16);
    out.put_i16(weight);
    out.put_u16(if value < 0 { 0x4000 } else { 0 });
    out.put_u16(scale as u16);
    for group in &groups[..count] {
        out.put_i16(*group);
    }
    true
}

/// A decimal as rust_decimal prints it (all `scale` digits after the point). Beyond
/// rust_decimal's 96-bit range arrow-pg reports 22003, which is kept.
fn decimal_text(value: i128, scale: u32, out: &mut BytesMut) -> bool {
    const MAX_MANTISSA: u128 = (1 << 96) - 1;
    let magnitude = value.unsigned_abs();
    if magnitude > MAX_MANTISSA {
        return false;
    }
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(magnitude).as_bytes();
    let scale = scale as usize;
    if value < 0 {
        out.put_u8(b'-');
    }
    match digits.len().checked_sub(scale) {
        _ if scale == 0 => out.put_slice(digits),
        Some(0) | None => {
            out.put_slice(b"0.");
            out.put_bytes(b'0', scale - digits.len());
            out.put_slice(digits);
        }
        Some(integer) => {
            out.put_slice(&digits[..integer]);
            out.put_u8(b'.');
            out.put_slice(&digits[integer..]);
        }
    }
    true
}
