//! Athena partition projection: partitions computed from table properties instead of being read
//! from the catalog (`projection.enabled`, `projection.<key>.type` = integer | enum | date,
//! `projection.<key>.range|values|format|interval|interval.unit|digits`, and
//! `storage.location.template`). Tables with millions of partitions use it so that planning
//! never pages through GetPartitions.
//!
//! `injected` keys take their values from the query's `=` / `IN` predicates, as in Athena; a query
//! that does not restrict an injected key fails with a clear error rather than reading the table
//! unfiltered.

use std::collections::HashMap;

use chrono::{Duration, Months, NaiveDateTime, Utc};

use super::glue_model::{Partition, StorageDescriptor, Table};

/// Upper bound on projected partitions, so a mistyped range cannot exhaust memory.
pub const MAX_PROJECTED_PARTITIONS: usize = 1_000_000;

/// Values of injected keys, by key, from the query.
pub type InjectedValues = HashMap<String, Vec<String>>;

fn enabled(table: &Table) -> bool {
    table
        .parameters
        .get("projection.enabled")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The keys of a projected table whose values come from the query.
pub fn injected_keys(table: &Table) -> Vec<String> {
    if !enabled(table) {
        return Vec::new();
    }
    table
        .partition_keys
        .iter()
        .filter(|k| {
            property(table, &k.name, "type").is_some_and(|t| t.eq_ignore_ascii_case("injected"))
        })
        .map(|k| k.name.clone())
        .collect()
}

/// The projected partitions of `table`, or `None` when projection is not enabled.
pub fn projected_partitions(table: &Table) -> Result<Option<Vec<Partition>>, String> {
    projected_partitions_with(table, &InjectedValues::new())
}

/// As [`projected_partitions`], with the values of injected keys.
pub fn projected_partitions_with(
    table: &Table,
    injected: &InjectedValues,
) -> Result<Option<Vec<Partition>>, String> {
    if !enabled(table) {
        return Ok(None);
    }
    let keys: Vec<&str> = table
        .partition_keys
        .iter()
        .map(|k| k.name.as_str())
        .collect();
    let mut value_lists = Vec::with_capacity(keys.len());
    for key in &keys {
        value_lists.push(key_values(table, key, injected)?);
    }
    let total = value_lists
        .iter()
        .try_fold(1usize, |n, v| n.checked_mul(v.len()));
    if total.is_none_or(|n| n > MAX_PROJECTED_PARTITIONS) {
        return Err(format!(
            "partition projection yields more than {MAX_PROJECTED_PARTITIONS} partitions"
        ));
    }
    let location = |values: &[String]| location_for(table, &keys, values);
    Ok(Some(
        cartesian(&value_lists)
            .into_iter()
            .map(|values| Partition {
                storage_descriptor: StorageDescriptor {
                    location: Some(location(&values)),
                    ..Default::default()
                },
                values,
            })
            .collect(),
    ))
}

fn property<'a>(table: &'a Table, key: &str, name: &str) -> Option<&'a str> {
    table
        .parameters
        .get(&format!("projection.{key}.{name}"))
        .map(String::as_str)
}

fn required<'a>(table: &'a Table, key: &str, name: &str) -> Result<&'a str, String> {
    property(table, key, name)
        .ok_or_else(|| format!("partition projection: projection.{key}.{name} is missing"))
}

/// Every value of one key, as the partition value strings.
fn key_values(table: &Table, key: &str, injected: &InjectedValues) -> Result<Vec<String>, String> {
    match required(table, key, "type")?.to_ascii_lowercase().as_str() {
        "enum" => Ok(required(table, key, "values")?.split(',').map(|v| v.trim().to_owned()).collect()),
        "integer" => integer_values(table, key),
        "date" => date_values(table, key),
        "injected" => injected.get(key).cloned().ok_or_else(|| {
            format!(
                "partition key {key} is injected: the query must restrict it with = or IN on constants"
            )
        }),
        other => Err(format!("partition projection: key {key} has unknown type {other:?}")),
    }
}

fn integer_values(table: &Table, key: &str) -> Result<Vec<String>, String> {
    let bad = |what: &str| format!("partition projection: projection.{key}.{what} is not valid");
    let range = required(table, key, "range")?;
    let (low, high) = range.split_once(',').ok_or_else(|| bad("range"))?;
    let low: i64 = low.trim().parse().map_err(|_| bad("range"))?;
    let high: i64 = high.trim().parse().map_err(|_| bad("range"))?;
    let step: i64 = property(table, key, "interval")
        .unwrap_or("1")
        .parse()
        .map_err(|_| bad("interval"))?;
    let digits: usize = property(table, key, "digits")
        .unwrap_or("0")
        .parse()
        .map_err(|_| bad("digits"))?;
    if step <= 0 || high < low || ((high - low) / step) as usize >= MAX_PROJECTED_PARTITIONS {
        return Err(bad("range"));
    }
    Ok((low..=high)
        .step_by(step as usize)
        .map(|n| format!("{n:0digits$}"))
        .collect())
}

fn date_values(table: &Table, key: &str) -> Result<Vec<String>, String> {
    let bad = |what: &str| format!("partition projection: projection.{key}.{what} is not valid");
    let format = java_to_strftime(required(table, key, "format")?);
    let (start, end) = required(table, key, "range")?
        .split_once(',')
        .ok_or_else(|| bad("range"))?;
    let start = date_bound(start.trim(), &format).ok_or_else(|| bad("range"))?;
    let end = date_bound(end.trim(), &format).ok_or_else(|| bad("range"))?;
    let step: u32 = property(table, key, "interval")
        .unwrap_or("1")
        .parse()
        .map_err(|_| bad("interval"))?;
    let unit = property(table, key, "interval.unit")
        .unwrap_or("DAYS")
        .to_ascii_uppercase();
    let mut values = Vec::new();
    let mut at = start;
    while at <= end && step > 0 {
        values.push(at.format(&format).to_string());
        at = advance(at, step, &unit).ok_or_else(|| bad("interval.unit"))?;
        if values.len() > MAX_PROJECTED_PARTITIONS {
            return Err(bad("range"));
        }
    }
    Ok(values)
}

fn advance(at: NaiveDateTime, step: u32, unit: &str) -> Option<NaiveDateTime> {
    let step64 = i64::from(step);
    match unit {
        "YEARS" => at.checked_add_months(Months::new(step * 12)),
        "MONTHS" => at.checked_add_months(Months::new(step)),
        "WEEKS" => at.checked_add_signed(Duration::weeks(step64)),
        "DAYS" => at.checked_add_signed(Duration::days(step64)),
        "HOURS" => at.checked_add_signed(Duration::hours(step64)),
        "MINUTES" => at.checked_add_signed(Duration::minutes(step64)),
        "SECONDS" => at.checked_add_signed(Duration::seconds(step64)),
        _ => None,
    }
}

/// A range bound: a date in the key's format, or `NOW[+-N<UNIT>]` as Athena allows.
fn date_bound(text: &str, format: &str) -> Option<NaiveDateTime> {
    if let Some(relative) = text.strip_prefix("NOW") {
        let now = Utc::now().naive_utc();
        if relative.is_empty() {
            return Some(now);
        }
        let (sign, rest) = relative.split_at(1);
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let amount: u32 = rest[..digits].parse().ok()?;
        let unit = rest[digits..].to_ascii_uppercase();
        let unit = if unit.ends_with('S') {
            unit
        } else {
            format!("{unit}S")
        };
        return match sign {
            "+" => advance(now, amount, &unit),
            "-" => {
                let back =
                    advance(NaiveDateTime::default(), amount, &unit)? - NaiveDateTime::default();
                now.checked_sub_signed(back)
            }
            _ => None,
        };
    }
    // chrono needs hours and minutes to make a date-time: supply the missing ones as zeros.
    let (mut text, mut format) = (text.to_owned(), format.to_owned());
    for field in ["%H", "%M", "%S"] {
        if !format.contains(field) {
            format.push_str(&format!("|{field}"));
            text.push_str("|00");
        }
    }
    NaiveDateTime::parse_from_str(&text, &format).ok()
}

/// Java DateTimeFormatter letters (as Athena uses them) → strftime.
fn java_to_strftime(pattern: &str) -> String {
    [
        ("yyyy", "%Y"),
        ("MM", "%m"),
        ("dd", "%d"),
        ("HH", "%H"),
        ("mm", "%M"),
        ("ss", "%S"),
    ]
    .iter()
    .fold(pattern.to_owned(), |p, (java, strftime)| {
        p.replace(java, strftime)
    })
}

fn location_for(table: &Table, keys: &[&str], values: &[String]) -> String {
    match table.parameters.get("storage.location.template") {
        Some(template) => keys
            .iter()
            .zip(values)
            .fold(template.clone(), |loc, (k, v)| {
                loc.replace(&format!("${{{k}}}"), v)
            }),
        None => {
            let mut location = table
                .storage_descriptor
                .location
                .clone()
                .unwrap_or_default();
            for (key, value) in keys.iter().zip(values) {
                if !location.ends_with('/') {
                    location.push('/');
                }
                location.push_str(&format!("{key}={value}/"));
            }
            location
        }
    }
}

fn cartesian(lists: &[Vec<String>]) -> Vec<Vec<String>> {
    lists.iter().fold(vec![Vec::new()], |acc, values| {
        acc.iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push(v.clone());
                    next
                })
            })
            .collect()
    })
}

#[cfg(test)]
mod tests;
