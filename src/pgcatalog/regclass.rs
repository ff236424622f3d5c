//! `to_regclass(name)`, and `'name'::regclass` planned as it: a relation's OID from its name,
//! as PostgreSQL's name parser reads it (quotes, case, an optional schema). System catalogs
//! have PostgreSQL's fixed OIDs (`'pg_class'::regclass` = 1259, which pgjdbc and dbt compare
//! `classoid`s with); the lake's tables the OIDs this principal's `pg_catalog` gave them.

use std::sync::{Arc, RwLock};

use datafusion::arrow::array::{ArrayRef, AsArray, Int32Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility};
use datafusion::prelude::create_udf;

use super::PG_CATALOG_SCHEMA;
use crate::session::settings::Settings;
use crate::session::view::ViewHandle;

/// PostgreSQL 15's OIDs of the system catalogs clients name.
const SYSTEM_CATALOGS: &[(&str, i32)] = &[
    ("pg_type", 1247),
    ("pg_attribute", 1249),
    ("pg_proc", 1255),
    ("pg_class", 1259),
    ("pg_authid", 1260),
    ("pg_database", 1262),
    ("pg_tablespace", 1213),
    ("pg_am", 2601),
    ("pg_attrdef", 2604),
    ("pg_cast", 2605),
    ("pg_constraint", 2606),
    ("pg_depend", 2608),
    ("pg_description", 2609),
    ("pg_index", 2610),
    ("pg_inherits", 2611),
    ("pg_language", 2612),
    ("pg_largeobject", 2613),
    ("pg_namespace", 2615),
    ("pg_opclass", 2616),
    ("pg_operator", 2617),
    ("pg_rewrite", 2618),
    ("pg_trigger", 2620),
    ("pg_sequence", 2224),
    ("pg_extension", 3079),
    ("pg_policy", 3256),
    ("pg_statistic_ext", 3381),
    ("pg_collation", 3456),
    ("pg_enum", 3501),
    ("pg_range", 3541),
    ("pg_publication", 6104),
];

pub fn to_regclass(view: ViewHandle, settings: Arc<RwLock<Settings>>) -> ScalarUDF {
    create_udf(
        "to_regclass",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let search_path = settings.read().expect("settings lock").search_path();
            let view = view.load();
            let lake_oid = |schema: &str, table: &str| view.pg_catalog.table_oid(schema, table);
            let oids: Int32Array = arrays[0]
                .as_string::<i32>()
                .iter()
                .map(|name| resolve(name?, &search_path, &lake_oid))
                .collect();
            let oids: ArrayRef = Arc::new(oids);
            super::udf::shaped(args, oids)
        }),
    )
}

/// `pg_catalog` comes first in every search path, as in PostgreSQL.
fn resolve(
    name: &str,
    search_path: &[String],
    lake_oid: &dyn Fn(&str, &str) -> Option<i32>,
) -> Option<i32> {
    let parts = identifier_parts(name)?;
    let system = |table: &str| {
        SYSTEM_CATALOGS
            .iter()
            .find(|(n, _)| *n == table)
            .map(|(_, oid)| *oid)
    };
    match parts.as_slice() {
        [schema, table] if schema == PG_CATALOG_SCHEMA => system(table),
        [schema, table] => lake_oid(schema, table),
        [table] => system(table).or_else(|| {
            search_path
                .iter()
                .find_map(|schema| lake_oid(schema, table))
        }),
        _ => None,
    }
}

/// `a.b` / `"A"."b"`: unquoted parts fold to lower case, quoted parts keep theirs.
fn identifier_parts(name: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut chars = name.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next()? {
                    '"' if chars.next_if_eq(&'"').is_some() => part.push('"'),
                    '"' => break,
                    c => part.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != '.') {
                part.push(c.to_ascii_lowercase());
            }
            part = part.trim().to_owned();
        }
        if part.is_empty() {
            return None;
        }
        parts.push(part);
        match chars.next() {
            None => return Some(parts),
            Some('.') => continue,
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn names_resolve_as_in_postgresql() {
        let lake =
            |schema: &str, table: &str| (schema, table).eq(&("sales", "orders")).then_some(16388);
        let path = vec!["sales".to_owned()];
        assert_eq!(resolve("pg_class", &path, &lake), Some(1259));
        assert_eq!(resolve("pg_catalog.pg_rewrite", &path, &lake), Some(2618));
        assert_eq!(resolve("sales.orders", &path, &lake), Some(16388));
        assert_eq!(resolve("\"sales\".\"orders\"", &path, &lake), Some(16388));
        assert_eq!(resolve("ORDERS", &path, &lake), Some(16388));
        assert_eq!(resolve("\"ORDERS\"", &path, &lake), None);
        assert_eq!(resolve("web.orders", &path, &lake), None);
    }
}
