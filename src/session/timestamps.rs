//! Timestamps in text results, as PostgreSQL prints them (D13, ISO DateStyle): in the session's
//! `TimeZone`, fractional seconds without trailing zeros, and the offset as `+HH[:MM]`.
//! (arrow-pg prints every instant in its column's zone with six fractional digits.)
//! Binary results are unaffected: they carry the instant itself.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDateTime, Offset, TimeZone, Timelike};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit, TimestampMicrosecondType};
use datafusion::arrow::error::ArrowError;

/// Which columns of a result are text-format timestamps, and the zone to print them in.
#[derive(Debug, Clone)]
pub struct TextTimestamps {
    columns: Vec<bool>,
    zone: Tz,
}

impl TextTimestamps {
    /// `None` when no column needs it.
    pub fn new(types: &[&DataType], is_text: impl Fn(usize) -> bool, zone: &str) -> Option<Self> {
        let columns: Vec<bool> = types
            .iter()
            .enumerate()
            .map(|(i, t)| is_text(i) && matches!(t, DataType::Timestamp(..)))
            .collect();
        let zone = parse_zone(zone)?;
        columns.iter().any(|c| *c).then_some(Self { columns, zone })
    }

    pub fn render(&self, batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
        let mut columns = batch.columns().to_vec();
        for (index, column) in columns.iter_mut().enumerate() {
            if self.columns.get(index).copied().unwrap_or(false) {
                *column = self.render_column(column)?;
            }
        }
        // The batch now holds text; RowDescription, built before, still says timestamp(tz).
        let fields: Vec<Field> = batch
            .schema()
            .fields()
            .iter()
            .zip(&columns)
            .map(|(field, column)| {
                field
                    .as_ref()
                    .clone()
                    .with_data_type(column.data_type().clone())
            })
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
    }

    fn render_column(&self, column: &ArrayRef) -> Result<ArrayRef, ArrowError> {
        let DataType::Timestamp(_, column_zone) = column.data_type() else {
            return Ok(Arc::clone(column));
        };
        let with_zone = column_zone.is_some();
        let micros = cast(
            column,
            &DataType::Timestamp(TimeUnit::Microsecond, column_zone.clone()),
        )?;
        let micros = micros.as_primitive::<TimestampMicrosecondType>();
        let mut text = StringBuilder::with_capacity(micros.len(), micros.len() * 32);
        let mut buffer = String::with_capacity(40);
        for i in 0..micros.len() {
            let Some(utc) = micros
                .is_valid(i)
                .then(|| DateTime::from_timestamp_micros(micros.value(i)))
                .flatten()
            else {
                text.append_null();
                continue;
            };
            buffer.clear();
            if with_zone {
                let offset = self
                    .zone
                    .offset_from_utc_datetime(&utc.naive_utc())
                    .fix()
                    .local_minus_utc();
                push_datetime(
                    &mut buffer,
                    &(utc.naive_utc() + chrono::Duration::seconds(offset.into())),
                );
                push_offset(&mut buffer, offset);
            } else {
                push_datetime(&mut buffer, &utc.naive_utc());
            }
            text.append_value(&buffer);
        }
        Ok(Arc::new(text.finish()))
    }
}

/// A session `TimeZone` value as a zone; PostgreSQL's default spelling `UTC` included.
pub fn parse_zone(zone: &str) -> Option<Tz> {
    Tz::from_str(zone).ok().or_else(|| {
        zone.eq_ignore_ascii_case("utc")
            .then(|| Tz::from_str("+00:00").ok())?
    })
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]`, written digit by digit: this runs once per value of
/// every text-format timestamp column, and chrono's `format` costs several times more.
fn push_datetime(out: &mut String, time: &NaiveDateTime) {
    push_digits(out, time.year().unsigned_abs(), 4);
    out.push('-');
    push_digits(out, time.month(), 2);
    out.push('-');
    push_digits(out, time.day(), 2);
    out.push(' ');
    push_digits(out, time.hour(), 2);
    out.push(':');
    push_digits(out, time.minute(), 2);
    out.push(':');
    push_digits(out, time.second(), 2);
    let micros = time.nanosecond() / 1_000;
    if micros != 0 {
        // Fractional seconds without trailing zeros: .085, not .085000.
        let (mut digits, mut value) = (6, micros);
        while value % 10 == 0 {
            value /= 10;
            digits -= 1;
        }
        out.push('.');
        push_digits(out, value, digits);
    }
    if time.year() < 0 {
        out.push_str(" BC");
    }
}

/// `+HH`, `+HH:MM` or `+HH:MM:SS`, as PostgreSQL abbreviates offsets.
fn push_offset(out: &mut String, seconds: i32) {
    out.push(if seconds < 0 { '-' } else { '+' });
    let seconds = seconds.unsigned_abs();
    push_digits(out, seconds / 3600, 2);
    if !seconds.is_multiple_of(3600) {
        out.push(':');
        push_digits(out, (seconds % 3600) / 60, 2);
    }
    if !seconds.is_multiple_of(60) {
        out.push(':');
        push_digits(out, seconds % 60, 2);
    }
}

/// `value` zero-padded to `width` digits, without allocating.
fn push_digits(out: &mut String, mut value: u32, width: u32) {
    let mut digits = [b'0'; 10];
    let mut len = 0;
    while value > 0 || len == 0 {
        digits[len] = b'0' + (value % 10) as u8;
        value /= 10;
        len += 1;
    }
    for _ in len..width as usize {
        out.push('0');
    }
    for digit in digits[..len].iter().rev() {
        out.push(char::from(*digit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instant(t: &DateTime<chrono::Utc>, zone: &Tz) -> String {
        let offset = zone
            .offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc();
        let mut out = String::new();
        push_datetime(
            &mut out,
            &(t.naive_utc() + chrono::Duration::seconds(offset.into())),
        );
        push_offset(&mut out, offset);
        out
    }

    #[test]
    fn formats_like_postgres() {
        let t = DateTime::from_timestamp_micros(1_704_146_318_085_000).unwrap();
        assert_eq!(
            instant(&t, &parse_zone("UTC").unwrap()),
            "2024-01-01 21:58:38.085+00"
        );
        assert_eq!(
            instant(&t, &parse_zone("Asia/Kolkata").unwrap()),
            "2024-01-02 03:28:38.085+05:30"
        );
        let whole = DateTime::from_timestamp(1_704_146_318, 0).unwrap();
        let mut naive = String::new();
        push_datetime(&mut naive, &whole.naive_utc());
        assert_eq!(naive, "2024-01-01 21:58:38");
        assert!(parse_zone("Not/AZone").is_none());
    }
}
