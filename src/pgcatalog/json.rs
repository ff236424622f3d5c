//! `json_build_object` and `jsonb_build_object`, printed as PostgreSQL prints them: json keeps
//! the keys in order with ` : ` between key and value; jsonb drops repeated keys (the last
//! wins), orders keys shorter first and prints `: `. The result is text: Arrow has no JSON type.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Signature, Volatility};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonFlavor {
    Json,
    Jsonb,
}

pub fn json_build_object(flavor: JsonFlavor) -> ScalarUDF {
    let name = match flavor {
        JsonFlavor::Json => "json_build_object",
        JsonFlavor::Jsonb => "jsonb_build_object",
    };
    let signature = Signature::variadic_any(Volatility::Stable);
    super::udf::new(name, signature, DataType::Utf8, move |args| {
        if args.len() % 2 != 0 {
            return exec_err!("argument list must have even number of elements");
        }
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let rows = arrays.first().map_or(1, |a| a.len());
        let mut out = Vec::with_capacity(rows);
        for row in 0..rows {
            let mut pairs = Vec::with_capacity(arrays.len() / 2);
            for pair in arrays.chunks(2) {
                let key = ScalarValue::try_from_array(&pair[0], row)?;
                if key.is_null() {
                    return exec_err!("null value not allowed for object key");
                }
                let value = ScalarValue::try_from_array(&pair[1], row)?;
                pairs.push((key_text(&key), json_value(&value)));
            }
            out.push(Some(print(pairs, flavor)));
        }
        let out: ArrayRef = Arc::new(StringArray::from(out));
        super::udf::shaped(args, out)
    })
}

fn key_text(key: &ScalarValue) -> String {
    match key {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => s.clone(),
        other => other.to_string(),
    }
}

fn json_value(value: &ScalarValue) -> String {
    use ScalarValue as S;
    match value {
        v if v.is_null() => "null".to_owned(),
        S::Boolean(Some(b)) => b.to_string(),
        S::Int8(_)
        | S::Int16(_)
        | S::Int32(_)
        | S::Int64(_)
        | S::UInt8(_)
        | S::UInt16(_)
        | S::UInt32(_)
        | S::UInt64(_)
        | S::Decimal128(..)
        | S::Decimal256(..) => value.to_string(),
        S::Float32(Some(f)) if f.is_finite() => f.to_string(),
        S::Float64(Some(f)) if f.is_finite() => f.to_string(),
        other => quote(&key_text(other)),
    }
}

fn quote(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

fn print(mut pairs: Vec<(String, String)>, flavor: JsonFlavor) -> String {
    let separator = match flavor {
        JsonFlavor::Json => " : ",
        JsonFlavor::Jsonb => {
            // The last of repeated keys wins; keys are ordered by length, then bytes.
            let mut unique: Vec<(String, String)> = Vec::with_capacity(pairs.len());
            for (key, value) in pairs.drain(..) {
                unique.retain(|(k, _)| *k != key);
                unique.push((key, value));
            }
            unique.sort_by(|(a, _), (b, _)| (a.len(), a.as_bytes()).cmp(&(b.len(), b.as_bytes())));
            pairs = unique;
            ": "
        }
    };
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}{separator}{v}", quote(k)))
        .collect();
    format!("{{{}}}", body.join(", "))
}

#[cfg(test)]
mod tests {
    use super::{print, JsonFlavor};

    #[test]
    fn objects_print_as_postgresql_prints_them() {
        let pairs = || {
            vec![
                ("b".into(), "1".into()),
                ("aa".into(), "\"x\"".into()),
                ("b".into(), "2".into()),
            ]
        };
        assert_eq!(
            print(pairs(), JsonFlavor::Json),
            r#"{"b" : 1, "aa" : "x", "b" : 2}"#
        );
        assert_eq!(print(pairs(), JsonFlavor::Jsonb), r#"{"b": 2, "aa": "x"}"#);
    }
}
