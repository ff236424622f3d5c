//! PostgreSQL functions that client libraries call and neither DataFusion nor
//! datafusion-pg-catalog provide (client_traffic/SUMMARY.md's ranked list): settings as
//! functions (`current_setting` with `missing_ok`, `set_config`), `to_regtype`, the JSON object
//! builders, `like_escape`, `pg_encoding_to_char` with PostgreSQL's encoding names, and the
//! no-op `pg_advisory_unlock_all` of asyncpg's pool reset.

use std::sync::{Arc, RwLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{exec_err, ScalarValue};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Signature, TypeSignature, Volatility};
use datafusion::prelude::create_udf;

use super::json::{json_build_object, JsonFlavor};
use super::type_names::regtype_oid;
use crate::session::settings::Settings;

pub fn register(ctx: &datafusion::prelude::SessionContext, settings: &Arc<RwLock<Settings>>) {
    for udf in [
        current_setting(Arc::clone(settings)),
        set_config(Arc::clone(settings)),
        to_regtype(),
        like_escape(),
        pg_encoding_to_char(),
        pg_advisory_unlock_all(),
        pg_is_other_temp_schema(),
        pg_typeof(),
        json_build_object(JsonFlavor::Json),
        json_build_object(JsonFlavor::Jsonb),
    ] {
        ctx.register_udf(udf);
    }
}

/// Runs `f` on each row of text arguments; a scalar in gives a scalar out.
fn map_rows(
    args: &[ColumnarValue],
    f: impl Fn(&[Option<&str>]) -> Result<Option<String>>,
) -> Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let texts: Vec<ArrayRef> = arrays
        .iter()
        .map(|a| cast(a, &DataType::Utf8))
        .collect::<std::result::Result<_, _>>()?;
    let rows = texts.first().map_or(1, |a| a.len());
    let mut out = Vec::with_capacity(rows);
    for row in 0..rows {
        let values: Vec<Option<&str>> = texts
            .iter()
            .map(|a| {
                let a = a.as_string::<i32>();
                a.is_valid(row).then(|| a.value(row))
            })
            .collect();
        out.push(f(&values)?);
    }
    let out: ArrayRef = Arc::new(StringArray::from(out));
    super::udf::shaped(args, out)
}

fn lakegate_error(e: crate::error::LakegateError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

fn text_signature(counts: &[Vec<DataType>]) -> Signature {
    let variants = counts.iter().cloned().map(TypeSignature::Exact).collect();
    Signature::one_of(variants, Volatility::Volatile)
}

/// `current_setting(name [, missing_ok])`: an unknown name is an error (42704) unless
/// `missing_ok`, then NULL.
fn current_setting(settings: Arc<RwLock<Settings>>) -> ScalarUDF {
    let signature = text_signature(&[
        vec![DataType::Utf8],
        vec![DataType::Utf8, DataType::Boolean],
    ]);
    super::udf::new("current_setting", signature, DataType::Utf8, move |args| {
        map_rows(args, |values| {
            let Some(name) = values[0] else {
                return Ok(None);
            };
            let missing_ok = values.get(1).copied().flatten() == Some("true");
            match settings.read().expect("settings lock").get(name) {
                Ok((_, value)) => Ok(Some(value.to_owned())),
                Err(_) if missing_ok => Ok(None),
                Err(e) => Err(lakegate_error(e)),
            }
        })
    })
}

/// `set_config(name, value, is_local)`: as SET, returning the new value. `is_local` is treated
/// as a session-level change, like `SET LOCAL` in this gateway (nothing is transactional here).
fn set_config(settings: Arc<RwLock<Settings>>) -> ScalarUDF {
    let signature = text_signature(&[vec![DataType::Utf8, DataType::Utf8, DataType::Boolean]]);
    super::udf::new("set_config", signature, DataType::Utf8, move |args| {
        map_rows(args, |values| {
            let (Some(name), value) = (values[0], values[1]) else {
                return exec_err!("set_config: the setting name must not be NULL");
            };
            let mut settings = settings.write().expect("settings lock");
            let (canonical, _) = settings.set(name, value).map_err(lakegate_error)?;
            let current = settings.get(canonical).map_err(lakegate_error)?.1;
            Ok(Some(current.to_owned()))
        })
    })
}

/// `to_regtype(name)`: the type's OID, NULL for a name that is no type.
fn to_regtype() -> ScalarUDF {
    create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let names = arrays[0].as_string::<i32>();
            let oids: Int32Array = names.iter().map(|n| n.and_then(regtype_oid)).collect();
            let oids: ArrayRef = Arc::new(oids);
            super::udf::shaped(args, oids)
        }),
    )
}

/// `like_escape(pattern, escape)`: the pattern rewritten for the default escape (backslash);
/// `LIKE … ESCAPE 'c'` is planned as `LIKE like_escape(…, 'c')` (DataFusion knows only `\`).
fn like_escape() -> ScalarUDF {
    let signature = text_signature(&[vec![DataType::Utf8, DataType::Utf8]]);
    super::udf::new("like_escape", signature, DataType::Utf8, |args| {
        map_rows(args, |values| {
            let (Some(pattern), Some(escape)) = (values[0], values[1]) else {
                return Ok(None);
            };
            convert_escape(pattern, escape).map(Some)
        })
    })
}

fn convert_escape(pattern: &str, escape: &str) -> Result<String> {
    let mut escapes = escape.chars();
    let escape = match (escapes.next(), escapes.next()) {
        (Some(c), None) => Some(c),
        (None, _) => None, // an empty escape turns escaping off
        _ => return exec_err!("invalid escape string: it must be empty or one character"),
    };
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            let Some(next) = chars.next() else {
                return exec_err!("LIKE pattern must not end with escape character");
            };
            out.push('\\');
            out.push(next);
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// `pg_encoding_to_char(int)` with PostgreSQL's names (psql's `\l` shows them).
fn pg_encoding_to_char() -> ScalarUDF {
    let signature = Signature::any(1, Volatility::Immutable);
    super::udf::new("pg_encoding_to_char", signature, DataType::Utf8, |args| {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let codes = cast(&arrays[0], &DataType::Int64)?;
        let names: StringArray = codes
            .as_primitive::<Int64Type>()
            .iter()
            .map(|code| {
                code.map(|c| match c {
                    0 => "SQL_ASCII",
                    6 => "UTF8",
                    8 => "LATIN1",
                    _ => "",
                })
            })
            .collect();
        let names: ArrayRef = Arc::new(names);
        super::udf::shaped(args, names)
    })
}

/// `pg_is_other_temp_schema(oid)`: always false, since a session's temporary tables are not in
/// pg_namespace at all (dbt's catalog query filters with it).
fn pg_is_other_temp_schema() -> ScalarUDF {
    let signature = Signature::any(1, Volatility::Stable);
    super::udf::new(
        "pg_is_other_temp_schema",
        signature,
        DataType::Boolean,
        |args| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let answers: ArrayRef = Arc::new(datafusion::arrow::array::BooleanArray::from(vec![
            Some(false);
            arrays[0].len()
        ]));
            super::udf::shaped(args, answers)
        },
    )
}

/// `pg_typeof(any)`: the PostgreSQL type a value has on the wire, named as `regtype` prints it
/// (`integer`, `timestamp with time zone`).
fn pg_typeof() -> ScalarUDF {
    let signature = Signature::any(1, Volatility::Immutable);
    super::udf::new("pg_typeof", signature, DataType::Utf8, |args| {
        let field = datafusion::arrow::datatypes::Field::new("v", args[0].data_type(), true);
        let name = arrow_pg::datatypes::field_into_pg_type(&std::sync::Arc::new(field))
            .map(|t| super::type_names::display_name(t.name()))
            .unwrap_or_else(|_| "unknown".to_owned());
        let rows = match &args[0] {
            ColumnarValue::Array(a) => a.len(),
            ColumnarValue::Scalar(_) => 1,
        };
        let names: ArrayRef = Arc::new(StringArray::from(vec![name.as_str(); rows]));
        super::udf::shaped(args, names)
    })
}

/// The gateway takes no advisory locks, so there are none to release.
fn pg_advisory_unlock_all() -> ScalarUDF {
    create_udf(
        "pg_advisory_unlock_all",
        vec![],
        DataType::Utf8,
        Volatility::Volatile,
        Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_escape_rewrites_to_backslash() {
        assert_eq!(super::convert_escape("pg/_%", "/").unwrap(), "pg\\_%");
        assert_eq!(super::convert_escape("a\\b", "/").unwrap(), "a\\\\b");
        assert_eq!(super::convert_escape("a_b", "").unwrap(), "a_b");
        assert!(super::convert_escape("ab/", "/").is_err());
    }
}
