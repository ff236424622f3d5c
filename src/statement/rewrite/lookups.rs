//! Name lookups the compatibility parser plans as catalog subqueries, answered as PostgreSQL
//! answers them: `'name'::regtype`, `'name'::regproc`, `'name'::regclass`, and `pg_sequence`.

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Select, SelectItem,
    SetExpr, TableFactor, Value,
};

use super::{call, is_catalog_relation, last_name_is};

pub fn rewrite(expr: &mut Expr) {
    regtype_lookup(expr);
    regproc_literal(expr);
    regclass_lookup(expr);
    no_sequences(expr);
}

/// The select of `(SELECT … FROM <table> …)` over that one table.
fn single_table<'a>(expr: &'a Expr, table: &str) -> Option<&'a Select> {
    let Expr::Subquery(query) = expr else {
        return None;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let over_table = matches!(
        select.from.as_slice(),
        [from] if from.joins.is_empty() && matches!(
            &from.relation,
            TableFactor::Table { name, .. } if is_catalog_relation(name) && last_name_is(name, table)
        )
    );
    over_table.then_some(select.as_ref())
}

/// The operand of `(SELECT … FROM <table> WHERE <column> = operand)`, the compatibility
/// parser's name lookup.
fn looked_up<'a>(expr: &'a Expr, table: &str, column: &str) -> Option<&'a Expr> {
    let select = single_table(expr, table)?;
    let Some(Expr::BinaryOp {
        left,
        op: BinaryOperator::Eq,
        right,
    }) = &select.selection
    else {
        return None;
    };
    // Only the compatibility parser's own shape: `SELECT oid … WHERE <column> = operand`.
    let selects_oid = matches!(
        select.projection.as_slice(),
        [SelectItem::UnnamedExpr(Expr::Identifier(i))] if i.value == "oid"
    );
    let by_column = matches!(left.as_ref(), Expr::Identifier(i) if i.value == column);
    (selects_oid && by_column).then_some(right.as_ref())
}

/// The compatibility parser plans `'name'::regtype` as a lookup of `typname = 'name'`, which
/// misses the SQL spellings (`'bigint'::regtype`, `'numeric(12,2)'::regtype`); PostgreSQL's
/// type-name parser is `to_regtype`, so the lookup becomes that call.
fn regtype_lookup(expr: &mut Expr) {
    if let Some(operand) = looked_up(expr, "pg_type", "typname") {
        *expr = call("to_regtype", vec![operand.clone()]);
    }
}

/// The catalog's `regproc` columns (`typinput`, `typoutput`, …) hold function names, so
/// `'pg_catalog.array_in'::regproc` (pgjdbc's getTypeInfo) compares with them as the name;
/// the compatibility parser's lookup of the function's OID would compare text with a number.
fn regproc_literal(expr: &mut Expr) {
    let Some(Expr::Value(literal)) = looked_up(expr, "pg_proc", "proname") else {
        return;
    };
    if let Value::SingleQuotedString(name) = &literal.value {
        let bare = name.strip_prefix("pg_catalog.").unwrap_or(name).to_owned();
        *expr = Expr::Value(Value::SingleQuotedString(bare).with_empty_span());
    }
}

/// The compatibility parser plans `'name'::regclass` as a join over `pg_class`, which holds
/// only the lake's tables; `to_regclass` also knows the system catalogs (pgjdbc and dbt write
/// `'pg_class'::regclass`) and reads the name as PostgreSQL does.
fn regclass_lookup(expr: &mut Expr) {
    let Expr::Subquery(query) = expr else {
        return;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return;
    };
    let Some(TableFactor::Derived { subquery, .. }) = select
        .from
        .first()
        .and_then(|from| from.joins.get(1))
        .map(|join| &join.relation)
    else {
        return;
    };
    let SetExpr::Select(inner) = subquery.body.as_ref() else {
        return;
    };
    let Some(SelectItem::ExprWithAlias {
        expr: Expr::Function(parse_ident),
        ..
    }) = inner.projection.first()
    else {
        return;
    };
    let FunctionArguments::List(args) = &parse_ident.args else {
        return;
    };
    let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Cast { expr: operand, .. }))) =
        args.args.first()
    else {
        return;
    };
    if last_name_is(&parse_ident.name, "parse_ident") {
        *expr = call("to_regclass", vec![(**operand).clone()]);
    }
}

/// The gateway has no sequences (lake tables have no serial or identity columns), so a scalar
/// subquery over `pg_sequence` alone is NULL. SQLAlchemy reads identity options this way, with
/// outer columns in the subquery's select list, which DataFusion cannot decorrelate.
fn no_sequences(expr: &mut Expr) {
    if single_table(expr, "pg_sequence").is_some() {
        *expr = Expr::Value(Value::Null.with_empty_span());
    }
}
