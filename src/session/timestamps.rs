//! Timestamps in text results, as PostgreSQL prints them (D13, ISO DateStyle): in the session's
//! `TimeZone`, fractional seconds without trailing zeros, and the offset as `+HH[:MM]`.
//! (arrow-pg prints every instant in its column's zone with six fractional digits.)
//! Binary results are unaffected: they carry the instant itself.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Offset, TimeZone, Timelike};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
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
        let text: StringArray = (0..micros.len())
            .map(|i| {
                micros.is_valid(i).then(|| match with_zone {
                    true => DateTime::from_timestamp_micros(micros.value(i))
                        .map(|t| format_instant(&t.with_timezone(&self.zone))),
                    false => DateTime::from_timestamp_micros(micros.value(i))
                        .map(|t| format_naive(&t.naive_utc())),
                })?
            })
            .collect();
        Ok(Arc::new(text))
    }
}

/// A session `TimeZone` value as a zone; PostgreSQL's default spelling `UTC` included.
pub fn parse_zone(zone: &str) -> Option<Tz> {
    Tz::from_str(zone).ok().or_else(|| {
        zone.eq_ignore_ascii_case("utc")
            .then(|| Tz::from_str("+00:00").ok())?
    })
}

fn format_naive(time: &NaiveDateTime) -> String {
    let mut out = time.format("%Y-%m-%d %H:%M:%S").to_string();
    push_fraction(&mut out, time.nanosecond() / 1_000);
    out
}

fn format_instant<Z: TimeZone>(time: &DateTime<Z>) -> String {
    let mut out = format_naive(&time.naive_local());
    let seconds = time.offset().fix().local_minus_utc();
    let (sign, seconds) = if seconds < 0 {
        ('-', -seconds)
    } else {
        ('+', seconds)
    };
    out.push(sign);
    out.push_str(&format!("{:02}", seconds / 3600));
    if seconds % 3600 != 0 {
        out.push_str(&format!(":{:02}", (seconds % 3600) / 60));
    }
    if seconds % 60 != 0 {
        out.push_str(&format!(":{:02}", seconds % 60));
    }
    out
}

/// `.123` for 123000 µs; nothing for whole seconds.
fn push_fraction(out: &mut String, micros: u32) {
    if micros != 0 {
        let digits = format!("{micros:06}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_postgres() {
        let t = DateTime::from_timestamp_micros(1_704_146_318_085_000).unwrap();
        let utc = parse_zone("UTC").unwrap();
        assert_eq!(
            format_instant(&t.with_timezone(&utc)),
            "2024-01-01 21:58:38.085+00"
        );
        let kolkata = parse_zone("Asia/Kolkata").unwrap();
        assert_eq!(
            format_instant(&t.with_timezone(&kolkata)),
            "2024-01-02 03:28:38.085+05:30"
        );
        let whole = DateTime::from_timestamp(1_704_146_318, 0).unwrap();
        assert_eq!(format_naive(&whole.naive_utc()), "2024-01-01 21:58:38");
        assert!(parse_zone("Not/AZone").is_none());
    }
}
