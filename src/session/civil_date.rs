//! Calendar dates from day numbers, without chrono's formatting machinery (which parses its
//! format string for every value written).

use bytes::{BufMut, BytesMut};

/// The proleptic Gregorian (year, month, day) of a day counted from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD` for a year from 1 to 9999.
pub fn write_iso_date(out: &mut BytesMut, year: i64, month: u32, day: u32) {
    let year = year as u32;
    let digits = [
        b'0' + (year / 1000) as u8,
        b'0' + (year / 100 % 10) as u8,
        b'0' + (year / 10 % 10) as u8,
        b'0' + (year % 10) as u8,
        b'-',
        b'0' + (month / 10) as u8,
        b'0' + (month % 10) as u8,
        b'-',
        b'0' + (day / 10) as u8,
        b'0' + (day % 10) as u8,
    ];
    out.put_slice(&digits);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, NaiveDate};

    #[test]
    fn agrees_with_chrono_across_four_centuries_and_far_out() {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        let days = (-800_000..800_000)
            .step_by(7)
            .chain([-719_162, 0, 10_957, 2_932_896]);
        for day in days {
            let date = epoch + chrono::Duration::days(day);
            let expected = (i64::from(date.year()), date.month(), date.day());
            assert_eq!(civil_from_days(day), expected, "day {day}");
        }
    }

    #[test]
    fn writes_iso_dates_zero_padded() {
        let mut out = BytesMut::new();
        write_iso_date(&mut out, 7, 3, 9);
        assert_eq!(&out[..], b"0007-03-09");
    }
}
