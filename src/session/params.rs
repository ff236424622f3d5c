//! Bind parameters: decoded by arrow-pg, then cast to the types the plan expects.
//!
//! Two cases arrow-pg's decoding does not cover are handled here: a parameter the client typed
//! itself (psycopg sends small Python ints as `int2`) is decoded as that type and cast
//! afterwards, since arrow-pg coerces integers to only some target types (not `numeric`); and
//! a text-format array whose type the client left to the server (node-postgres sends
//! `{"2","4"}`) is read with PostgreSQL's array-literal rules, which quote elements.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::{Cast, Placeholder, TryCast};
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan};
use datafusion::sql::sqlparser::ast::{
    visit_expressions, ArrayElemTypeDef, DataType as SqlType, Expr as SqlExpr, Statement,
    Value as SqlValue,
};
use pgwire::api::portal::Portal;
use pgwire::api::Type;

use super::execute::PlannedQuery;
use super::handler::PreparedStatement;
use crate::error::LakegateError;

/// Types DataFusion leaves open that PostgreSQL infers: `$n::type` is of that type (asyncpg
/// encodes `$1::bigint[]` from it), and in `x = ANY($n)` (planned as `array_has($n, x)`) `$n`
/// is an array of `x`'s type (node-postgres sends such arrays as text).
pub fn array_parameter_types(plan: &LogicalPlan) -> Result<HashMap<String, DataType>> {
    let mut found = HashMap::new();
    plan.apply_with_subqueries(|node| {
        let mut schema = DFSchema::empty();
        for input in node.inputs() {
            schema.merge(input.schema());
        }
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) = e
                {
                    if let Expr::Placeholder(Placeholder { id, .. }) = expr.as_ref() {
                        found.insert(id.clone(), field.data_type().clone());
                    }
                }
                if let Expr::ScalarFunction(call) = e {
                    if let ("array_has", [Expr::Placeholder(Placeholder { id, .. }), element]) =
                        (call.name(), call.args.as_slice())
                    {
                        if let Ok(element_type) = element.get_type(&schema) {
                            found.insert(id.clone(), DataType::new_list(element_type, true));
                        }
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    Ok(found)
}

/// Placeholders cast to an array of OIDs (`$1::oid[]`, asyncpg's type introspection): their
/// type is `oid[]`, which the plan, having no OID type, reports as `int4[]`.
pub fn oid_array_placeholders(statement: &Statement) -> HashSet<String> {
    let mut found = HashSet::new();
    let _ = visit_expressions(statement, |expr| {
        if let SqlExpr::Cast {
            expr: operand,
            data_type: SqlType::Array(ArrayElemTypeDef::SquareBracket(element, _)),
            ..
        } = expr
        {
            let element = element.to_string().to_ascii_lowercase();
            let is_oid = matches!(
                element.trim_start_matches("pg_catalog."),
                "oid" | "regtype" | "regclass" | "regproc"
            );
            if let (SqlExpr::Value(value), true) = (operand.as_ref(), is_oid) {
                if let SqlValue::Placeholder(id) = &value.value {
                    found.insert(id.clone());
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// Decodes the Bind parameters (text or binary, typed by the client or by inference) and puts
/// them into the plan, cast to the types the plan expects.
pub fn bind(
    portal: &Portal<PreparedStatement>,
    types: &[Option<DataType>],
    mut planned: PlannedQuery,
) -> Result<PlannedQuery, LakegateError> {
    if portal.parameter_len() == 0 {
        return Ok(planned);
    }
    let decode_as: Vec<Option<&DataType>> = (0..portal.parameter_len())
        .map(|i| decode_type(portal, i, types.get(i).and_then(Option::as_ref)))
        .collect();
    let values = arrow_pg::datatypes::df::deserialize_parameters(portal, &decode_as)
        .map_err(|e| invalid(format!("a parameter value is not valid for its type: {e}")))?;
    let datafusion::common::ParamValues::List(values) = values else {
        return Err(LakegateError::Protocol(
            "named parameters are not supported".into(),
        ));
    };
    let cast: Vec<ScalarValue> = values
        .into_iter()
        .enumerate()
        .map(|(i, v)| match types.get(i).and_then(Option::as_ref) {
            Some(DataType::List(item)) if is_text_literal(portal, i, &v.value) => {
                array_literal(&v.value, item.data_type())
            }
            Some(ty) if v.value.data_type() != *ty && !v.value.is_null() => {
                Ok(v.value.cast_to(ty)?)
            }
            Some(ty) if v.value.is_null() => Ok(ScalarValue::try_from(ty)?),
            _ => Ok(v.value),
        })
        .collect::<Result<_, LakegateError>>()?;
    planned.plan = planned.plan.with_param_values(cast)?;
    Ok(planned)
}

/// The type arrow-pg decodes parameter `i` as: none where the client named the type (it is
/// decoded as that and cast afterwards); text for an untyped text-format array (parsed here).
fn decode_type<'a>(
    portal: &Portal<PreparedStatement>,
    i: usize,
    inferred: Option<&'a DataType>,
) -> Option<&'a DataType> {
    if client_type(portal, i).is_some() {
        return None;
    }
    match inferred {
        Some(DataType::List(_)) if !portal.parameter_format.is_binary(i) => Some(&DataType::Utf8),
        other => other,
    }
}

fn client_type(portal: &Portal<PreparedStatement>, i: usize) -> Option<&Type> {
    portal
        .statement
        .parameter_types
        .get(i)
        .and_then(Option::as_ref)
        .filter(|t| **t != Type::UNKNOWN)
}

fn is_text_literal(portal: &Portal<PreparedStatement>, i: usize, value: &ScalarValue) -> bool {
    client_type(portal, i).is_none()
        && !portal.parameter_format.is_binary(i)
        && matches!(value, ScalarValue::Utf8(_))
}

/// `{a,"b c",NULL}` → a list of `element` values (one dimension, as clients send them).
fn array_literal(value: &ScalarValue, element: &DataType) -> Result<ScalarValue, LakegateError> {
    let ScalarValue::Utf8(Some(text)) = value else {
        return Ok(ScalarValue::try_from(&DataType::new_list(
            element.clone(),
            true,
        ))?);
    };
    let items = parse_array_literal(text)
        .ok_or_else(|| invalid(format!("malformed array literal: \"{text}\"")))?;
    let values: Vec<ScalarValue> = items
        .into_iter()
        .map(|item| ScalarValue::Utf8(item).cast_to(element))
        .collect::<Result<_, _>>()?;
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(
        &values, element,
    )))
}

fn invalid(message: String) -> LakegateError {
    LakegateError::Engine(datafusion::arrow::error::ArrowError::ParseError(message).into())
}

/// The elements of a one-dimensional array literal; quoted elements may hold `,`, `"` and `\`
/// (escaped by `\`); an unquoted NULL is a null element.
fn parse_array_literal(text: &str) -> Option<Vec<Option<String>>> {
    let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    let mut items = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let item = if chars.next_if_eq(&'"').is_some() {
            let mut quoted = String::new();
            loop {
                match chars.next()? {
                    '\\' => quoted.push(chars.next()?),
                    '"' => break,
                    c => quoted.push(c),
                }
            }
            Some(quoted)
        } else {
            let mut bare = String::new();
            while let Some(c) = chars.next_if(|c| *c != ',') {
                bare.push(c);
            }
            let bare = bare.trim().to_owned();
            (!bare.eq_ignore_ascii_case("null")).then_some(bare)
        };
        items.push(item);
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.next() {
            None => return Some(items),
            Some(',') => continue,
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_array_literal;

    #[test]
    fn array_literals_read_as_postgresql_reads_them() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(
            parse_array_literal("{1,2}"),
            Some(vec![some("1"), some("2")])
        );
        assert_eq!(
            parse_array_literal(r#"{"2", "a,b" ,NULL,"q\"x"}"#),
            Some(vec![some("2"), some("a,b"), None, some("q\"x")])
        );
        assert_eq!(parse_array_literal("{}"), Some(vec![]));
        assert_eq!(parse_array_literal("1,2"), None);
        assert_eq!(parse_array_literal(r#"{"unterminated}"#), None);
    }
}
