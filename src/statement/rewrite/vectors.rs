//! The catalog's `int2vector`/`oidvector` columns are text here ("1 2"); clients index,
//! unnest, expand and cast them as arrays, and aggregate OIDs into `oid[]`.

use datafusion::sql::sqlparser::ast::{
    AccessExpr, ArrayElemTypeDef, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    Ident, ObjectName, Subscript,
};

use super::{call, last_name_is};
use crate::pgcatalog::{EXPAND_ARRAY, OID_ARRAY, OID_LIST, VECTOR_ELEMENT};

pub fn rewrite(expr: &mut Expr) {
    expand_array(expr);
    vector_to_oid_array(expr);
    vector_subscript(expr);
    aggregated_oids(expr);
    unnest_vector(expr);
}

/// `information_schema._pg_expandarray(v)` is a set-returning function of `(x, n)` rows: the
/// elements of `v` and their positions (pgjdbc's key metadata).
fn expand_array(expr: &mut Expr) {
    let Expr::Function(function) = expr else {
        return;
    };
    if !last_name_is(&function.name, "_pg_expandarray") {
        return;
    }
    let mut pairs = function.clone();
    pairs.name = ObjectName::from(vec![Ident::new(EXPAND_ARRAY)]);
    *expr = call("unnest", vec![Expr::Function(pairs)]);
}

/// `v::regtype[]`, `v::oid[]` (and the other OID aliases) on a catalog vector column: the
/// vectors are text here ("1 2", "[1]"), which no cast turns into an array. Literals and
/// parameters keep their cast (a parameter's type must stay known).
fn vector_to_oid_array(expr: &mut Expr) {
    let Expr::Cast {
        expr: operand,
        data_type: DataType::Array(ArrayElemTypeDef::SquareBracket(element, _)),
        ..
    } = expr
    else {
        return;
    };
    let element = element.to_string().to_ascii_lowercase();
    let element = element.strip_prefix("pg_catalog.").unwrap_or(&element);
    let is_oid = matches!(
        element,
        "oid" | "regtype" | "regproc" | "regclass" | "regnamespace"
    );
    let is_column = matches!(
        operand.as_ref(),
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Nested(_) | Expr::Function(_)
    );
    if is_oid && is_column {
        *expr = call(OID_ARRAY, vec![(**operand).clone()]);
    }
}

/// `int2vector`/`oidvector` columns are text here; `indkey[i]` (psqlODBC) reads element `i`
/// counting from 0, as PostgreSQL's vectors do.
fn vector_subscript(expr: &mut Expr) {
    let Expr::CompoundFieldAccess { root, access_chain } = expr else {
        return;
    };
    let Some((AccessExpr::Subscript(Subscript::Index { index }), path)) = access_chain.split_last()
    else {
        return;
    };
    // `i.indkey[…]` parses as `i` . `indkey` [ … ]: the column is the root and the dotted path.
    let mut parts = match root.as_ref() {
        Expr::Identifier(ident) => vec![ident.clone()],
        Expr::CompoundIdentifier(parts) => parts.clone(),
        _ => return,
    };
    for access in path {
        let AccessExpr::Dot(Expr::Identifier(ident)) = access else {
            return;
        };
        parts.push(ident.clone());
    }
    // pgjdbc's getIndexInfo reads `indoption` through the alias `i_indoption`.
    let is_vector = parts.last().is_some_and(|c| {
        let name = c.value.to_ascii_lowercase();
        VECTOR_COLUMNS.contains(&name.as_str()) || name == "i_indoption"
    });
    if is_vector {
        let column = match parts.len() {
            1 => Expr::Identifier(parts.remove(0)),
            _ => Expr::CompoundIdentifier(parts),
        };
        *expr = call(VECTOR_ELEMENT, vec![column, index.clone()]);
    }
}

/// `array_agg(a.atttypid …)` is an `oid[]` (see `pgcatalog::arrays::oid_list`).
fn aggregated_oids(expr: &mut Expr) {
    let Expr::Function(function) = expr else {
        return;
    };
    if !last_name_is(&function.name, "array_agg") {
        return;
    }
    let FunctionArguments::List(args) = &function.args else {
        return;
    };
    let of_oids = matches!(
        args.args.first(),
        Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::CompoundIdentifier(parts))))
            if parts.last().is_some_and(|p| p.value == "atttypid")
    );
    if of_oids {
        *expr = call(OID_LIST, vec![expr.clone()]);
    }
}

/// `unnest(indkey)` (SQLAlchemy's key and index reflection): the text vector is read as an
/// array first.
fn unnest_vector(expr: &mut Expr) {
    let Expr::Function(function) = expr else {
        return;
    };
    if !last_name_is(&function.name, "unnest") {
        return;
    }
    let FunctionArguments::List(args) = &mut function.args else {
        return;
    };
    if let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))) = args.args.first_mut() {
        let column = match &*arg {
            Expr::Identifier(ident) => Some(ident),
            Expr::CompoundIdentifier(parts) => parts.last(),
            _ => None,
        };
        if column.is_some_and(|c| VECTOR_COLUMNS.contains(&c.value.to_ascii_lowercase().as_str())) {
            *arg = call(OID_ARRAY, vec![arg.clone()]);
        }
    }
}

/// The catalog's `int2vector`/`oidvector` columns, which are text here.
const VECTOR_COLUMNS: [&str; 5] = [
    "indkey",
    "indclass",
    "indcollation",
    "indoption",
    "proargtypes",
];
