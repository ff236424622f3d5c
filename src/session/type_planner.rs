//! SQL type names DataFusion does not know: datafusion-pg-catalog's planner maps the OID
//! aliases (`regclass`, `oid`, …) and `pg_catalog.`-qualified built-ins; this one adds the
//! catalog's text-like types written without the schema (`'lake'::name`, as psqlODBC does).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::error::Result;
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::sql::sqlparser::ast::DataType as SqlType;
use datafusion_pg_catalog::pg_catalog::oid_type_planner::PgOidTypePlanner;

#[derive(Debug, Default)]
pub struct LakeTypePlanner {
    oids: PgOidTypePlanner,
}

impl TypePlanner for LakeTypePlanner {
    fn plan_type_field(&self, sql_type: &SqlType) -> Result<Option<Arc<Field>>> {
        if let Some(field) = self.oids.plan_type_field(sql_type)? {
            return Ok(Some(field));
        }
        let SqlType::Custom(name, modifiers) = sql_type else {
            return Ok(None);
        };
        let text_like = modifiers.is_empty()
            && name.0.len() == 1
            && name.0[0].as_ident().is_some_and(|i| {
                matches!(
                    i.value.to_ascii_lowercase().as_str(),
                    "name" | "int2vector" | "oidvector"
                )
            });
        Ok(text_like.then(|| Arc::new(Field::new("", DataType::Utf8, true))))
    }
}
