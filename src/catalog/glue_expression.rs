//! Predicates on partition keys → the `Expression` of Glue's GetPartitions, so the catalog
//! returns only matching partitions instead of all of them.
//!
//! The translation may widen, never narrow: a conjunct it cannot express is left out of an AND
//! (more partitions come back, and the scan re-checks every partition locally), while an OR or
//! NOT with an untranslatable side is not sent at all. String and date values are quoted,
//! numbers are not, as the Glue API documents for its key types.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Like, Operator};

/// The Glue expression for a conjunction of filters, or `None` for "all partitions".
pub fn to_glue_expression(filters: &[Expr], partition_keys: &[&str]) -> Option<String> {
    let parts: Vec<String> = filters
        .iter()
        .flat_map(split_and)
        .filter_map(|e| translate(e, partition_keys, false))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" AND "))
}

fn split_and(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => {
            let mut out = split_and(left);
            out.extend(split_and(right));
            out
        }
        other => vec![other],
    }
}

/// One predicate, exactly, or `None`. Negation is pushed down to the comparisons (De Morgan),
/// because Glue-compatible catalogs parse `NOT IN`, `NOT BETWEEN` and `NOT LIKE` but not all of
/// them accept `NOT (…)` around an arbitrary expression.
fn translate(expr: &Expr, keys: &[&str], negated: bool) -> Option<String> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match (op, negated) {
            (Operator::And, false) | (Operator::Or, true) => Some(format!(
                "({} AND {})",
                translate(left, keys, negated)?,
                translate(right, keys, negated)?
            )),
            (Operator::Or, false) | (Operator::And, true) => Some(format!(
                "({} OR {})",
                translate(left, keys, negated)?,
                translate(right, keys, negated)?
            )),
            (_, false) => comparison(left, *op, right, keys),
            (_, true) => comparison(left, op.negate()?, right, keys),
        },
        Expr::Not(inner) => translate(inner, keys, !negated),
        Expr::InList(InList {
            expr,
            list,
            negated: not_in,
        }) => {
            let key = key_name(expr, keys)?;
            let values = list.iter().map(literal).collect::<Option<Vec<_>>>()?;
            let not = if *not_in != negated { "NOT " } else { "" };
            Some(format!("{key} {not}IN ({})", values.join(", ")))
        }
        Expr::Between(Between {
            expr,
            negated: not_between,
            low,
            high,
        }) => Some(format!(
            "{} {}BETWEEN {} AND {}",
            key_name(expr, keys)?,
            if *not_between != negated { "NOT " } else { "" },
            literal(low)?,
            literal(high)?
        )),
        Expr::Like(Like {
            negated: not_like,
            expr,
            pattern,
            escape_char: None,
            case_insensitive: false,
        }) => Some(format!(
            "{} {}LIKE {}",
            key_name(expr, keys)?,
            if *not_like != negated { "NOT " } else { "" },
            literal(pattern)?
        )),
        _ => None,
    }
}

fn comparison(left: &Expr, op: Operator, right: &Expr, keys: &[&str]) -> Option<String> {
    let symbol = |op: Operator| match op {
        Operator::Eq => Some("="),
        Operator::NotEq => Some("<>"),
        Operator::Lt => Some("<"),
        Operator::LtEq => Some("<="),
        Operator::Gt => Some(">"),
        Operator::GtEq => Some(">="),
        _ => None,
    };
    if let (Some(key), Some(value)) = (key_name(left, keys), literal(right)) {
        return Some(format!("{key} {} {value}", symbol(op)?));
    }
    // `'2024-03-01' <= order_date` is `order_date >= '2024-03-01'`.
    let (key, value) = (key_name(right, keys)?, literal(left)?);
    Some(format!("{key} {} {value}", symbol(op.swap()?)?))
}

fn key_name<'a>(expr: &Expr, keys: &[&'a str]) -> Option<&'a str> {
    let Expr::Column(column) = expr else {
        return None;
    };
    keys.iter().find(|k| **k == column.name).copied()
}

fn literal(expr: &Expr) -> Option<String> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    let quoted = |s: &str| format!("'{}'", s.replace('\'', "''"));
    match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(quoted(s)),
        ScalarValue::Date32(Some(_)) | ScalarValue::Date64(Some(_)) => {
            Some(quoted(&value.to_string()))
        }
        ScalarValue::Int8(Some(_))
        | ScalarValue::Int16(Some(_))
        | ScalarValue::Int32(Some(_))
        | ScalarValue::Int64(Some(_))
        | ScalarValue::UInt8(Some(_))
        | ScalarValue::UInt16(Some(_))
        | ScalarValue::UInt32(Some(_))
        | ScalarValue::UInt64(Some(_)) => Some(value.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use datafusion::logical_expr::{col, lit};

    use super::*;

    const KEYS: &[&str] = &["region", "order_date", "hour"];

    fn date(text: &str) -> Expr {
        lit(ScalarValue::try_from_string(
            text.to_owned(),
            &datafusion::arrow::datatypes::DataType::Date32,
        )
        .unwrap())
    }

    #[test]
    fn comparisons_on_each_key_type() {
        let filters = [
            col("region").eq(lit("EMEA")),
            col("order_date").gt_eq(date("2024-03-01")),
            col("hour").lt(lit(12i32)),
        ];
        assert_eq!(
            to_glue_expression(&filters, KEYS).unwrap(),
            "region = 'EMEA' AND order_date >= '2024-03-01' AND hour < 12"
        );
    }

    #[test]
    fn in_between_like_not_and_or() {
        let region_in = col("region").in_list(vec![lit("EMEA"), lit("APAC")], false);
        let day_range = col("order_date").between(date("2024-03-01"), date("2024-03-31"));
        let either = col("region")
            .eq(lit("AMER"))
            .or(col("hour").not_eq(lit(3i64)));
        let like = col("region").like(lit("E%"));
        let not = Expr::Not(Box::new(col("region").eq(lit("LATAM"))));
        assert_eq!(
            to_glue_expression(&[region_in], KEYS).unwrap(),
            "region IN ('EMEA', 'APAC')"
        );
        assert_eq!(
            to_glue_expression(&[day_range], KEYS).unwrap(),
            "order_date BETWEEN '2024-03-01' AND '2024-03-31'"
        );
        assert_eq!(
            to_glue_expression(&[either], KEYS).unwrap(),
            "(region = 'AMER' OR hour <> 3)"
        );
        assert_eq!(
            to_glue_expression(&[like], KEYS).unwrap(),
            "region LIKE 'E%'"
        );
        assert_eq!(
            to_glue_expression(&[not], KEYS).unwrap(),
            "region <> 'LATAM'"
        );
        let not_either = Expr::Not(Box::new(
            col("region")
                .in_list(vec![lit("EMEA")], false)
                .or(col("hour").between(lit(1i32), lit(3i32))),
        ));
        assert_eq!(
            to_glue_expression(&[not_either], KEYS).unwrap(),
            "(region NOT IN ('EMEA') AND hour NOT BETWEEN 1 AND 3)"
        );
    }

    #[test]
    fn literal_on_the_left_is_flipped_and_quotes_escaped() {
        let filters = [
            date("2024-03-01").lt_eq(col("order_date")),
            col("region").eq(lit("O'Hare")),
        ];
        assert_eq!(
            to_glue_expression(&filters, KEYS).unwrap(),
            "order_date >= '2024-03-01' AND region = 'O''Hare'"
        );
    }

    #[test]
    fn untranslatable_parts_widen_never_narrow() {
        // A non-key conjunct is dropped from an AND ...
        let and = [col("region")
            .eq(lit("EMEA"))
            .and(col("amount").gt(lit(5i64)))];
        assert_eq!(to_glue_expression(&and, KEYS).unwrap(), "region = 'EMEA'");
        // ... but an OR with such a side cannot be sent at all.
        let or = [col("region")
            .eq(lit("EMEA"))
            .or(col("amount").gt(lit(5i64)))];
        assert_eq!(to_glue_expression(&or, KEYS), None);
        let not = [Expr::Not(Box::new(col("amount").gt(lit(5i64))))];
        assert_eq!(to_glue_expression(&not, KEYS), None);
        let case_insensitive = [col("region").ilike(lit("e%"))];
        assert_eq!(to_glue_expression(&case_insensitive, KEYS), None);
    }
}
