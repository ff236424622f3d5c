//! Vectors in the catalog: `int2vector`/`oidvector` columns (`pg_index.indkey`,
//! `pg_proc.proargtypes`) are text here ("1 2"), and `oid[]` columns text as the static tables
//! stored them ("[2276]"). Clients read them as arrays: `proargtypes::regtype[]` (pgcli) and
//! `information_schema._pg_expandarray(indkey)` (pgjdbc's key and index metadata), and
//! `indkey[i]` (psqlODBC).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, ListArray, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::exec_err;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Signature, Volatility};
use datafusion_pg_catalog::pg_catalog::oid_field::OID_ALIAS_KEY;

/// Name of the function `X::regtype[]` and `X::oid[]` are planned as (`statement::rewrite`).
pub const OID_ARRAY: &str = "lakegate_oid_array";
/// Name of the scalar behind `information_schema._pg_expandarray`, planned as `unnest(…)`.
pub const EXPAND_ARRAY: &str = "lakegate_expand_array";
/// Name of the function `vector[i]` is planned as (0-based, as PostgreSQL's vectors).
pub const VECTOR_ELEMENT: &str = "lakegate_vector_element";
/// Name of the function that types an aggregate of OID columns as `oid[]`.
pub const OID_LIST: &str = "lakegate_oid_list";

pub fn register(ctx: &datafusion::prelude::SessionContext) {
    ctx.register_udf(oid_array());
    ctx.register_udf(expand_array());
    ctx.register_udf(vector_element());
    ctx.register_udf(oid_list());
    ctx.register_udf(generate_subscripts());
    ctx.register_udf(super::conditional::when());
}

/// `oid[]` as the wire sees it: a list whose items carry datafusion-pg-catalog's OID tag, so
/// RowDescription says `oid[]` (1028) rather than `int4[]`. `array_agg(atttypid)` loses the
/// tag of its input; asyncpg's type introspection query aggregates `atttypid` and can decode
/// only `oid[]` and `text[]` before it knows other types.
fn oid_list() -> ScalarUDF {
    let item = Field::new_list_field(DataType::Int32, true).with_metadata(
        [(OID_ALIAS_KEY.to_owned(), "oid".to_owned())]
            .into_iter()
            .collect(),
    );
    let list = DataType::List(Arc::new(item));
    let signature = Signature::any(1, Volatility::Immutable);
    let target = list.clone();
    super::udf::new(OID_LIST, signature, list, move |args| {
        map_list(args, |vectors| {
            Ok(cast(&(Arc::new(vectors) as ArrayRef), &target)?)
        })
    })
}

/// `generate_subscripts(v, 1)` as a list (planned as `unnest(…)`): vectors count from 0,
/// arrays from 1, as in PostgreSQL.
fn generate_subscripts() -> ScalarUDF {
    let signature = Signature::any(2, Volatility::Immutable);
    super::udf::new("generate_subscripts", signature, int_list_type(), |args| {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let first = match arrays[0].data_type() {
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => 0,
            _ => 1,
        };
        map_list(&args[..1], move |vectors| {
            let rows = (0..vectors.len()).map(|row| {
                (!vectors.is_null(row)).then(|| {
                    let len = vectors.value_length(row);
                    (first..first + len).map(Some).collect::<Vec<_>>()
                })
            });
            let out = ListArray::from_iter_primitive::<datafusion::arrow::datatypes::Int32Type, _, _>(
                rows,
            );
            Ok(Arc::new(out) as ArrayRef)
        })
    })
}

/// Element `i` (from 0) of each vector; NULL past either end.
fn vector_element() -> ScalarUDF {
    let signature = Signature::any(2, Volatility::Immutable);
    super::udf::new(VECTOR_ELEMENT, signature, DataType::Int32, |args| {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let vectors = int_vectors(&arrays[0])?;
        let indexes = cast(&arrays[1], &DataType::Int64)?;
        let indexes = indexes.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let elements: Int32Array = (0..vectors.len())
            .map(|row| {
                if vectors.is_null(row) || indexes.is_null(row) {
                    return None;
                }
                let values = vectors.value(row);
                let values = values.as_primitive::<datafusion::arrow::datatypes::Int32Type>();
                let index = usize::try_from(indexes.value(row)).ok()?;
                (index < values.len() && values.is_valid(index)).then(|| values.value(index))
            })
            .collect();
        let out: ArrayRef = Arc::new(elements);
        super::udf::shaped(args, out)
    })
}

fn int_list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Int32, true)))
}

fn expanded_type() -> DataType {
    let fields = Fields::from(vec![
        Field::new("x", DataType::Int32, true),
        Field::new("n", DataType::Int32, true),
    ]);
    DataType::List(Arc::new(Field::new_list_field(
        DataType::Struct(fields),
        true,
    )))
}

/// Any vector spelling or array → `int4[]`.
fn oid_array() -> ScalarUDF {
    let signature = Signature::any(1, Volatility::Immutable);
    super::udf::new(OID_ARRAY, signature, int_list_type(), |args| {
        map_list(args, |list| Ok(Arc::new(list) as ArrayRef))
    })
}

/// Each vector → its elements with their 1-based positions, `{(x, n)}`; unnested by the
/// rewrite, this is `_pg_expandarray`'s set of rows.
fn expand_array() -> ScalarUDF {
    let signature = Signature::any(1, Volatility::Immutable);
    super::udf::new(EXPAND_ARRAY, signature, expanded_type(), |args| {
        map_list(args, |list| {
            let offsets = list.offsets().clone();
            let positions: Int32Array = offsets
                .windows(2)
                .flat_map(|w| 1..=(w[1] - w[0]))
                .map(Some)
                .collect();
            let DataType::List(item) = expanded_type() else {
                unreachable!("expanded_type is a list")
            };
            let DataType::Struct(fields) = item.data_type() else {
                unreachable!("its items are structs")
            };
            let start = offsets[0] as usize;
            let values = list.values().slice(start, positions.len());
            let pairs =
                StructArray::try_new(fields.clone(), vec![values, Arc::new(positions)], None)?;
            let rebased = OffsetBuffer::new(offsets.iter().map(|o| o - offsets[0]).collect());
            let out = ListArray::try_new(item, rebased, Arc::new(pairs), list.nulls().cloned())?;
            Ok(Arc::new(out) as ArrayRef)
        })
    })
}

fn map_list(
    args: &[ColumnarValue],
    f: impl Fn(ListArray) -> Result<ArrayRef>,
) -> Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let out = f(int_vectors(&arrays[0])?)?;
    super::udf::shaped(args, out)
}

/// Vectors as `int4[]`: lists are cast, text is parsed ("1 2", "{1,2}", "[1, 2]").
pub(super) fn int_vectors(array: &ArrayRef) -> Result<ListArray> {
    match array.data_type() {
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            Ok(cast(array, &int_list_type())?.as_list::<i32>().clone())
        }
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
            let text = cast(array, &DataType::Utf8)?;
            let rows: Vec<Option<Vec<Option<i32>>>> = text
                .as_string::<i32>()
                .iter()
                .map(|v| v.map(parse_vector).transpose())
                .collect::<Result<_>>()?;
            Ok(ListArray::from_iter_primitive::<
                datafusion::arrow::datatypes::Int32Type,
                _,
                _,
            >(rows))
        }
        DataType::Null => Ok(ListArray::new_null(
            Arc::new(Field::new_list_field(DataType::Int32, true)),
            array.len(),
        )),
        other => exec_err!("cannot read {other} as an array of integers"),
    }
}

fn parse_vector(text: &str) -> Result<Vec<Option<i32>>> {
    let inner = text
        .trim()
        .trim_start_matches(['{', '['])
        .trim_end_matches(['}', ']']);
    inner
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .map(|part| match part {
            "NULL" | "null" => Ok(None),
            number => number
                .parse::<i32>()
                .map(Some)
                .or_else(|_| exec_err!("invalid integer in vector: \"{number}\"")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn vectors_parse_in_every_spelling() {
        for text in ["1 2", "{1,2}", "[1, 2]"] {
            assert_eq!(
                super::parse_vector(text).unwrap(),
                [Some(1), Some(2)],
                "{text}"
            );
        }
        assert!(super::parse_vector("").unwrap().is_empty());
        assert!(super::parse_vector("1 x").is_err());
    }
}
