//! Type names as PostgreSQL's type-name parser reads them (`to_regtype`): SQL spellings
//! (`bigint`, `double precision`, `timestamp with time zone`), modifiers, `[]` arrays and the
//! `pg_catalog.` prefix, resolved against the static `pg_type`.

use std::collections::HashMap;
use std::sync::LazyLock;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int32Type;

/// typname → (oid, array type oid), read once from the static `pg_type`.
static TYPES: LazyLock<HashMap<String, (i32, i32)>> = LazyLock::new(|| {
    let mut types = HashMap::new();
    let Ok(tables) = super::static_tables() else {
        return types;
    };
    for batch in tables.pg_type.data() {
        let column = |name: &str| batch.column_by_name(name).map(|c| c.as_ref());
        let (Some(oid), Some(name), Some(array)) =
            (column("oid"), column("typname"), column("typarray"))
        else {
            return types;
        };
        let (oid, name) = (oid.as_primitive::<Int32Type>(), name.as_string::<i32>());
        let array = array.as_primitive::<Int32Type>();
        for row in 0..batch.num_rows() {
            if oid.is_valid(row) && name.is_valid(row) {
                let array_oid = if array.is_valid(row) {
                    array.value(row)
                } else {
                    0
                };
                types.insert(name.value(row).to_owned(), (oid.value(row), array_oid));
            }
        }
    }
    types
});

/// SQL spellings of built-in types → their `typname`.
const ALIASES: &[(&str, &str)] = &[
    ("bigint", "int8"),
    ("integer", "int4"),
    ("int", "int4"),
    ("smallint", "int2"),
    ("real", "float4"),
    ("float", "float8"),
    ("double precision", "float8"),
    ("boolean", "bool"),
    ("decimal", "numeric"),
    ("character varying", "varchar"),
    ("character", "bpchar"),
    ("char", "bpchar"),
    ("\"char\"", "char"),
    ("timestamp with time zone", "timestamptz"),
    ("timestamp without time zone", "timestamp"),
    ("time with time zone", "timetz"),
    ("time without time zone", "time"),
    ("bit varying", "varbit"),
];

/// A `typname` as `regtype` output names it (`int4` → `integer`, `_int4` → `integer[]`).
pub fn display_name(typname: &str) -> String {
    if let Some(element) = typname.strip_prefix('_') {
        return format!("{}[]", display_name(element));
    }
    let shown = match typname {
        "int4" => "integer",
        "int8" => "bigint",
        "int2" => "smallint",
        "float4" => "real",
        "float8" => "double precision",
        "bool" => "boolean",
        "varchar" => "character varying",
        "bpchar" => "character",
        "timestamptz" => "timestamp with time zone",
        "timestamp" => "timestamp without time zone",
        "timetz" => "time with time zone",
        "time" => "time without time zone",
        other => other,
    };
    shown.to_owned()
}

/// The OID of the type `name` names, if any.
pub fn regtype_oid(name: &str) -> Option<i32> {
    let (base, array) = normalize(name);
    let &(oid, array_oid) = TYPES.get(&base)?;
    match array {
        false => Some(oid),
        true => (array_oid != 0).then_some(array_oid),
    }
}

/// (`typname`, is an array) for a type name as written.
fn normalize(name: &str) -> (String, bool) {
    let mut text = name.trim().to_owned();
    let array = text.ends_with("[]");
    if array {
        text.truncate(text.len() - 2);
    }
    // Modifiers carry no type identity: numeric(12,2), timestamp(3) with time zone.
    while let (Some(open), Some(close)) = (text.find('('), text.find(')')) {
        if close < open {
            break;
        }
        text.replace_range(open..=close, "");
    }
    let lowered = match text
        .trim()
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
    {
        Some("char") => "\"char\"".to_owned(),
        Some(quoted) => quoted.to_owned(),
        None => text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase(),
    };
    let bare = lowered
        .strip_prefix("pg_catalog.")
        .unwrap_or(&lowered)
        .to_owned();
    let typname = ALIASES
        .iter()
        .find(|(alias, _)| *alias == bare)
        .map_or(bare.clone(), |(_, t)| (*t).to_owned());
    (typname, array)
}

#[cfg(test)]
mod tests {
    use super::regtype_oid;

    #[test]
    fn type_names_resolve_as_in_postgresql() {
        assert_eq!(regtype_oid("numeric"), Some(1700));
        assert_eq!(regtype_oid("numeric(12, 2)"), Some(1700));
        assert_eq!(regtype_oid("BIGINT"), Some(20));
        assert_eq!(regtype_oid("bigint[]"), Some(1016));
        assert_eq!(regtype_oid("pg_catalog.int4"), Some(23));
        assert_eq!(regtype_oid("timestamp(3) with time zone"), Some(1184));
        assert_eq!(regtype_oid("double  precision"), Some(701));
        assert_eq!(regtype_oid("no_such_type"), None);
    }
}
