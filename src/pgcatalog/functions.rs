//! PostgreSQL system functions, registered per session: datafusion-pg-catalog's set plus the
//! ones that must know the session (`current_user`, `current_setting`, `current_schema`),
//! `version()` as PostgreSQL words it (D13), and the comment lookups `\d+` uses.

use std::sync::{Arc, RwLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::{create_udf, SessionContext};
use datafusion_pg_catalog::pg_catalog::{
    self as pgc, array_bounds_udf, format_type, has_privilege_udf,
};
use datafusion_pg_catalog::pg_catalog::{pg_get_expr_udf, quote_ident_udf};

use crate::catalog::DATABASE_NAME;
use crate::session::settings::{Settings, SERVER_VERSION};
use crate::session::view::ViewHandle;

/// What the per-session functions read.
pub struct SessionFunctionsContext {
    pub user: String,
    pub settings: Arc<RwLock<Settings>>,
    /// The session's view: comments are looked up in the principal's own `pg_catalog`.
    pub view: ViewHandle,
    pub schemas: Vec<String>,
}

/// The owner name catalog objects report (`pg_get_userbyid`).
const OWNER: &str = "lakegate";

pub fn register_functions(ctx: &SessionContext, session: &SessionFunctionsContext) {
    for udf in [
        pgc::create_current_database_udf(DATABASE_NAME),
        pgc::create_current_schemas_udf(),
        pgc::create_pg_table_is_visible(),
        format_type::create_format_type_udf(),
        pg_get_expr_udf::create_pg_get_expr_udf(),
        pgc::create_pg_get_partkeydef_udf(),
        pgc::create_pg_relation_is_publishable_udf(),
        pgc::create_pg_get_statisticsobjdef_columns_udf(),
        pgc::create_pg_encoding_to_char_udf(),
        pgc::create_pg_backend_pid_udf(),
        pgc::create_pg_relation_size_udf(),
        pgc::create_pg_total_relation_size_udf(),
        pgc::create_pg_stat_get_numscans(),
        pgc::create_pg_get_constraintdef(),
        pgc::create_pg_get_partition_ancestors_udf(),
        quote_ident_udf::create_quote_ident_udf(),
        quote_ident_udf::create_parse_ident_udf(),
        array_bounds_udf::create_array_upper_udf(),
        array_bounds_udf::create_array_lower_udf(),
    ] {
        ctx.register_udf(udf);
    }
    for name in [
        "has_table_privilege",
        "has_schema_privilege",
        "has_database_privilege",
        "has_any_column_privilege",
    ] {
        ctx.register_udf(has_privilege_udf::create_has_privilege_udf(name));
    }
    if let Ok(tables) = super::static_tables() {
        ctx.register_udtf("pg_get_keywords", Arc::clone(&tables.pg_get_keywords) as _);
    }
    // The compatibility parser turns `current_user` into `session_user()`.
    for name in ["session_user", "current_user", "user", "current_role"] {
        ctx.register_udf(constant_text(name, session.user.clone()));
    }
    ctx.register_udf(constant_text("version", version()));
    ctx.register_udf(pg_get_userbyid());
    ctx.register_udf(current_schema(
        Arc::clone(&session.settings),
        session.schemas.clone(),
    ));
    ctx.register_udf(obj_description(Arc::clone(&session.view)));
    ctx.register_udf(super::regclass::to_regclass(
        Arc::clone(&session.view),
        Arc::clone(&session.settings),
    ));
    ctx.register_udf(col_description(Arc::clone(&session.view)));
    // Definitions of objects the lake does not have (indexes, triggers, rules, functions):
    // psql's \d asks for them, and PostgreSQL returns NULL for an object without one.
    for name in [
        "pg_get_indexdef",
        "pg_get_triggerdef",
        "pg_get_viewdef",
        "pg_get_ruledef",
        "pg_get_functiondef",
        "pg_get_function_arguments",
        "pg_get_function_result",
        "pg_get_function_identity_arguments",
        "pg_get_serial_sequence",
        "shobj_description",
    ] {
        ctx.register_udf(ScalarUDF::new_from_impl(Constant::new(
            name,
            ScalarValue::Utf8(None),
        )));
    }
    // Visibility in the search path and role membership: everything listed is visible, and
    // access is decided by the gateway's policies, not by PostgreSQL roles.
    for name in [
        "pg_function_is_visible",
        "pg_type_is_visible",
        "pg_operator_is_visible",
        "pg_opclass_is_visible",
        "pg_collation_is_visible",
        "pg_conversion_is_visible",
        "pg_ts_config_is_visible",
        "pg_has_role",
    ] {
        ctx.register_udf(ScalarUDF::new_from_impl(Constant::new(
            name,
            ScalarValue::Boolean(Some(true)),
        )));
    }
    // Sizes: the lake's files are not the gateway's storage; report 0 as for an empty relation.
    for name in ["pg_table_size", "pg_indexes_size", "pg_database_size"] {
        ctx.register_udf(ScalarUDF::new_from_impl(Constant::new(
            name,
            ScalarValue::Int64(Some(0)),
        )));
    }
    ctx.register_udf(pg_size_pretty());
    // After the crate's functions: those of the same name are replaced.
    super::compat::register(ctx, &session.settings);
    super::arrays::register(ctx);
}

/// `pg_size_pretty(bigint)` with PostgreSQL's rounding and units.
fn pg_size_pretty() -> ScalarUDF {
    text_function("pg_size_pretty", vec![DataType::Int64], |args| {
        Some(size_pretty(args[0].as_i64()?))
    })
}

fn size_pretty(bytes: i64) -> String {
    const LIMIT: i64 = 10 * 1024;
    if bytes.abs() < LIMIT {
        return format!("{bytes} bytes");
    }
    let mut size = bytes;
    for unit in ["kB", "MB", "GB", "TB"] {
        size = (size + size.signum() * 512) / 1024; // round half away from zero, as PostgreSQL
        if size.abs() < LIMIT || unit == "TB" {
            return format!("{size} {unit}");
        }
    }
    unreachable!("the loop returns at TB")
}

/// A system function with one answer for every argument list.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Constant {
    name: &'static str,
    value: ScalarValue,
    signature: Signature,
}

impl Constant {
    fn new(name: &'static str, value: ScalarValue) -> Self {
        let signature = Signature::variadic_any(Volatility::Stable);
        Self {
            name,
            value,
            signature,
        }
    }
}

impl ScalarUDFImpl for Constant {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(self.value.data_type())
    }

    fn invoke_with_args(
        &self,
        _args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(self.value.clone()))
    }
}

/// `version()` starts with "PostgreSQL <major>.<minor>", which SQLAlchemy and others parse.
pub fn version() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} (lakegate {}, Apache DataFusion {}) on {}-linux, 64-bit",
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION,
        std::env::consts::ARCH
    )
}

fn constant_text(name: &str, value: String) -> ScalarUDF {
    let value = ScalarValue::Utf8(Some(value));
    create_udf(
        name,
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_| Ok(ColumnarValue::Scalar(value.clone()))),
    )
}

fn pg_get_userbyid() -> ScalarUDF {
    text_function("pg_get_userbyid", vec![DataType::Int64], |_| {
        Some(OWNER.to_owned())
    })
}

/// The first schema of `search_path` that exists (PostgreSQL's definition).
fn current_schema(settings: Arc<RwLock<Settings>>, schemas: Vec<String>) -> ScalarUDF {
    create_udf(
        "current_schema",
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_| {
            let path = settings.read().expect("settings lock").search_path();
            let first = path.into_iter().find(|s| schemas.contains(s));
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(first)))
        }),
    )
}

/// `obj_description(oid, 'pg_class')`: a table's comment from the catalog.
fn obj_description(view: ViewHandle) -> ScalarUDF {
    text_function(
        "obj_description",
        vec![DataType::Int64, DataType::Utf8],
        move |args| {
            let table = view.load().pg_catalog.table_by_oid(args[0].as_i64()?)?;
            table.entry().glue.description.clone()
        },
    )
}

/// `col_description(table oid, attnum)`: a column's comment from the catalog.
fn col_description(view: ViewHandle) -> ScalarUDF {
    text_function(
        "col_description",
        vec![DataType::Int64, DataType::Int64],
        move |args| {
            let table = view.load().pg_catalog.table_by_oid(args[0].as_i64()?)?;
            let index = usize::try_from(args[1].as_i64()?).ok()?.checked_sub(1)?;
            let schema = table.schema();
            let field = schema.fields().get(index)?;
            table.entry().column_comments.get(field.name()).cloned()
        },
    )
}

/// One argument value of a row, as the row-wise functions above read it.
enum Arg {
    Int(Option<i64>),
    /// An argument these functions do not read (the catalog name of `obj_description`).
    Other,
}

impl Arg {
    fn as_i64(&self) -> Option<i64> {
        match self {
            Arg::Int(v) => *v,
            Arg::Other => None,
        }
    }
}

/// A text-returning function applied row by row; a NULL result for missing values.
fn text_function(
    name: &str,
    inputs: Vec<DataType>,
    f: impl Fn(&[Arg]) -> Option<String> + Send + Sync + 'static,
) -> ScalarUDF {
    create_udf(
        name,
        inputs,
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let rows = arrays.first().map_or(1, |a| a.len());
            let out: StringArray = (0..rows).map(|row| f(&row_args(&arrays, row))).collect();
            super::udf::shaped(args, Arc::new(out))
        }),
    )
}

fn row_args(arrays: &[ArrayRef], row: usize) -> Vec<Arg> {
    arrays
        .iter()
        .map(|a| match a.data_type() {
            DataType::Int64 => Arg::Int(
                a.is_valid(row)
                    .then(|| a.as_primitive::<Int64Type>().value(row)),
            ),
            _ => Arg::Other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_like_postgres() {
        assert_eq!(super::size_pretty(0), "0 bytes");
        assert_eq!(super::size_pretty(10_239), "10239 bytes");
        assert_eq!(super::size_pretty(10_240), "10 kB");
        assert_eq!(super::size_pretty(123_456_789), "118 MB");
    }

    #[test]
    fn version_reads_like_postgres() {
        let v = super::version();
        assert!(v.starts_with("PostgreSQL 15.0 "), "{v}");
    }
}
