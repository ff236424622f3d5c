//! Which filters a remote database may evaluate, and whether its answer is exact.
//!
//! The remote evaluates SQL with its own semantics, so only predicates that mean the same there
//! are sent: comparisons of integer, decimal, date and boolean columns with constants, IN lists,
//! BETWEEN, IS [NOT] NULL, and AND/OR/NOT of those. Text is compared by collation on both
//! remotes (PostgreSQL's `<` follows the locale, MySQL's `=` ignores case and trailing spaces),
//! so only text equality is sent: exact on PostgreSQL, a superset on MySQL that DataFusion
//! filters again. Timestamps (time zones) and floats (NaN) stay local. String literals with a
//! backslash or a double quote stay local too: MySQL reads a backslash as an escape, and the
//! MySQL driver deletes double quotes from the SQL text.

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};

use super::connection::Engine;

/// How far a remote's answer to a filter can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fidelity {
    /// The remote cannot evaluate it as DataFusion would.
    Local,
    /// The remote returns every row DataFusion would keep, and maybe more.
    Superset,
    /// The remote returns exactly the rows DataFusion would keep.
    Exact,
}

/// Whether `filter` is pushed to the remote, and how.
pub fn support(filter: &Expr, schema: &Schema, engine: Engine) -> TableProviderFilterPushDown {
    match fidelity(filter, schema, engine) {
        Fidelity::Exact => TableProviderFilterPushDown::Exact,
        Fidelity::Superset => TableProviderFilterPushDown::Inexact,
        Fidelity::Local => TableProviderFilterPushDown::Unsupported,
    }
}

fn fidelity(expr: &Expr, schema: &Schema, engine: Engine) -> Fidelity {
    let of = |e: &Expr| fidelity(e, schema, engine);
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And | Operator::Or => of(left).min(of(right)),
            _ => comparison(left, *op, right, schema, engine),
        },
        // NOT of a superset is a subset: only exact answers may be negated.
        Expr::Not(inner) => match of(inner) {
            Fidelity::Exact => Fidelity::Exact,
            _ => Fidelity::Local,
        },
        Expr::IsNull(inner) | Expr::IsNotNull(inner) => match column_type(inner, schema) {
            Some(_) => Fidelity::Exact,
            None => Fidelity::Local,
        },
        Expr::InList(list) => {
            let op = match list.negated {
                true => Operator::NotEq,
                false => Operator::Eq,
            };
            list.list
                .iter()
                .map(|value| comparison(&list.expr, op, value, schema, engine))
                .min()
                .unwrap_or(Fidelity::Local)
        }
        Expr::Between(between) => {
            comparison(&between.expr, Operator::GtEq, &between.low, schema, engine).min(comparison(
                &between.expr,
                Operator::LtEq,
                &between.high,
                schema,
                engine,
            ))
        }
        _ => Fidelity::Local,
    }
}

/// `column op literal` (either way round).
fn comparison(
    left: &Expr,
    op: Operator,
    right: &Expr,
    schema: &Schema,
    engine: Engine,
) -> Fidelity {
    let (column, literal) = match (column_type(left, schema), column_type(right, schema)) {
        (Some(ty), None) => (ty, right),
        (None, Some(ty)) => (ty, left),
        _ => return Fidelity::Local,
    };
    let Expr::Literal(value, _) = literal else {
        return Fidelity::Local;
    };
    if !is_plain_literal(value) {
        return Fidelity::Local;
    }
    let ordering = matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
    );
    match column {
        t if is_exact_type(t) && ordering => Fidelity::Exact,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View if op == Operator::Eq => {
            match engine {
                Engine::Postgres => Fidelity::Exact,
                Engine::MySql => Fidelity::Superset,
            }
        }
        _ => Fidelity::Local,
    }
}

/// The type of a bare column reference.
fn column_type<'a>(expr: &Expr, schema: &'a Schema) -> Option<&'a DataType> {
    match expr {
        Expr::Column(c) => schema.field_with_name(&c.name).ok().map(|f| f.data_type()),
        _ => None,
    }
}

/// Types whose comparisons mean the same in PostgreSQL, MySQL and DataFusion.
fn is_exact_type(ty: &DataType) -> bool {
    ty.is_integer()
        || matches!(
            ty,
            DataType::Decimal128(..)
                | DataType::Decimal256(..)
                | DataType::Date32
                | DataType::Boolean
        )
}

/// Literals that render the same in every dialect (see the module comment).
fn is_plain_literal(value: &ScalarValue) -> bool {
    if value.is_null() {
        return false;
    }
    match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => !s.contains(['\\', '"', '\0']),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Field;
    use datafusion::prelude::{col, lit};

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new(
                "ts",
                DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, None),
                true,
            ),
        ])
    }

    fn on(engine: Engine, e: Expr) -> TableProviderFilterPushDown {
        support(&e, &schema(), engine)
    }

    #[test]
    fn exact_comparisons_are_pushed() {
        use TableProviderFilterPushDown::*;
        assert_eq!(on(Engine::Postgres, col("id").gt(lit(5i64))), Exact);
        assert_eq!(
            on(
                Engine::MySql,
                col("id").in_list(vec![lit(1i64), lit(2i64)], true)
            ),
            Exact
        );
        assert_eq!(on(Engine::Postgres, col("name").eq(lit("EMEA"))), Exact);
        assert_eq!(on(Engine::MySql, col("name").eq(lit("EMEA"))), Inexact);
        assert_eq!(
            on(
                Engine::MySql,
                col("name").eq(lit("a")).or(col("id").eq(lit(1i64)))
            ),
            Inexact
        );
    }

    #[test]
    fn what_the_remote_reads_differently_stays_local() {
        use TableProviderFilterPushDown::*;
        assert_eq!(on(Engine::Postgres, col("name").lt(lit("b"))), Unsupported);
        assert_eq!(on(Engine::MySql, col("name").not_eq(lit("a"))), Unsupported);
        assert_eq!(
            on(Engine::MySql, Expr::Not(Box::new(col("name").eq(lit("a"))))),
            Unsupported
        );
        assert_eq!(
            on(Engine::MySql, col("name").eq(lit("x\\' OR 1=1 -- "))),
            Unsupported
        );
        assert_eq!(
            on(Engine::MySql, col("name").eq(lit("say \"hi\""))),
            Unsupported
        );
        assert_eq!(on(Engine::Postgres, col("ts").is_not_null()), Exact);
        assert_eq!(on(Engine::Postgres, col("id").eq(col("id"))), Unsupported);
        assert_eq!(
            on(Engine::Postgres, (col("id") + lit(1i64)).eq(lit(2i64))),
            Unsupported
        );
    }
}
