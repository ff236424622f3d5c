//! Which user predicates may run below the policy barrier (D7).
//!
//! Below the barrier a predicate sees rows the row filter will remove. PostgreSQL lets only
//! LEAKPROOF functions run there: ones that cannot fail, or otherwise act, depending on their
//! arguments. The same rule here: comparisons of columns with constants, IN lists, IS [NOT]
//! NULL, BETWEEN, and AND/OR/NOT of those, with casts that cannot fail. Such predicates still
//! prune partitions and row groups; anything else (arithmetic, functions, LIKE, CASE, casts
//! that can fail) runs above the barrier, on permitted rows only.

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::logical_expr::{BinaryExpr, Cast, Expr, Operator};

/// Whether `expr` (over columns of `schema`) can neither fail nor act differently depending on
/// the values it reads.
pub fn is_leakproof(expr: &Expr, schema: &Schema) -> bool {
    let is_leakproof = |e: &Expr| is_leakproof(e, schema);
    match expr {
        Expr::Column(_) | Expr::Literal(..) => true,
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            is_safe_operator(op) && is_leakproof(left) && is_leakproof(right)
        }
        Expr::Not(e) | Expr::IsNull(e) | Expr::IsNotNull(e) => is_leakproof(e),
        Expr::IsTrue(e) | Expr::IsFalse(e) | Expr::IsNotTrue(e) | Expr::IsNotFalse(e) => {
            is_leakproof(e)
        }
        Expr::Between(b) => is_leakproof(&b.expr) && is_leakproof(&b.low) && is_leakproof(&b.high),
        Expr::InList(list) => is_leakproof(&list.expr) && list.list.iter().all(is_leakproof),
        Expr::Cast(Cast { expr, field }) => match expr.as_ref() {
            Expr::Literal(..) => true,
            Expr::Column(c) => schema
                .field_with_name(&c.name)
                .is_ok_and(|f| cast_cannot_fail(f.data_type(), field.data_type())),
            _ => false,
        },
        // TRY_CAST returns NULL instead of failing.
        Expr::TryCast(c) => is_leakproof(&c.expr),
        _ => false,
    }
}

fn is_safe_operator(op: &Operator) -> bool {
    matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
            | Operator::And
            | Operator::Or
    )
}

/// Casts that succeed for every value: to text, and widening numeric casts (DataFusion's type
/// coercion inserts these around comparisons such as `amount > 100`).
fn cast_cannot_fail(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let integer_digits = |t: &DataType| match t {
        Int8 | UInt8 => Some(3),
        Int16 | UInt16 => Some(5),
        Int32 | UInt32 => Some(10),
        Int64 => Some(19),
        _ => None,
    };
    match (from, to) {
        (_, Utf8 | LargeUtf8 | Utf8View) => {
            from.is_numeric()
                || from.is_temporal()
                || matches!(from, Boolean | Utf8 | LargeUtf8 | Utf8View)
        }
        (_, Int64 | Float64) if integer_digits(from).is_some() => true,
        (Float32, Float64) => true,
        (_, Decimal128(p, s)) if integer_digits(from).is_some() => {
            integer_digits(from).is_some_and(|d| i16::from(*p) - i16::from(*s) >= d)
        }
        (Decimal128(p1, s1), Decimal128(p2, s2)) => {
            s2 >= s1 && i16::from(*p2) - i16::from(*s2) >= i16::from(*p1) - i16::from(*s1)
        }
        (Date32, Date64) => true,
        _ => from == to,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Field;
    use datafusion::prelude::{col, lit};

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("amount", DataType::Decimal128(12, 2), true),
            Field::new("name", DataType::Utf8, true),
        ])
    }

    #[test]
    fn comparisons_with_constants_are_leakproof() {
        let is_leakproof = |e: &Expr| is_leakproof(e, &schema());
        assert!(is_leakproof(&col("name").eq(lit("EMEA"))));
        assert!(is_leakproof(
            &col("a").gt(lit(1)).and(
                col("name")
                    .is_null()
                    .or(col("a").in_list(vec![lit(1)], false))
            )
        ));
        let widened = Expr::Cast(Cast::new(
            Box::new(col("amount")),
            DataType::Decimal128(22, 2),
        ));
        assert!(is_leakproof(&widened.gt(lit(1))));
    }

    #[test]
    fn arithmetic_functions_and_case_are_not() {
        let is_leakproof = |e: &Expr| is_leakproof(e, &schema());
        let division = (lit(1) / col("x")).eq(lit(1));
        assert!(!is_leakproof(&division));
        let like = col("name").like(lit("a%"));
        assert!(!is_leakproof(&like));
        let case = datafusion::logical_expr::when(col("a").eq(lit(1)), lit(0))
            .otherwise(lit(1))
            .unwrap();
        assert!(!is_leakproof(&case.eq(lit(1))));
        let cast = Expr::Cast(Cast::new(Box::new(col("name")), DataType::Int64));
        assert!(!is_leakproof(&cast.eq(lit(1))));
        let narrowed = Expr::Cast(Cast::new(
            Box::new(col("amount")),
            DataType::Decimal128(5, 2),
        ));
        assert!(!is_leakproof(&narrowed.gt(lit(1))));
    }
}
