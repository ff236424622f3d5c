//! Partition projection with `injected` keys: the partitions of a scan are computed from the
//! constants the query compares those keys with (`key = 'x'`, `key IN (…)`, or an OR of such
//! equalities), as Athena does. Nothing is listed or fetched from the catalog.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

use super::backend::CatalogError;
use super::glue_model::Table;
use super::partitions::TableKeys;
use super::projection::{projected_partitions_with, InjectedValues};
use crate::scan::partitioned::{Candidates, PartitionSource};
use crate::scan::stores::ObjectStores;

#[derive(Debug)]
pub struct InjectedPartitions {
    pub table: Table,
    pub keys: TableKeys,
    pub injected: Vec<String>,
    pub stores: Arc<ObjectStores>,
}

#[async_trait]
impl PartitionSource for InjectedPartitions {
    async fn candidates(&self, filters: &[Expr]) -> Result<Candidates> {
        let mut values = InjectedValues::new();
        for key in &self.injected {
            if let Some(found) = filters.iter().find_map(|f| constants(f, key)) {
                values.insert(key.clone(), found);
            }
        }
        let bad = |problem: String| CatalogError::BadTable {
            table: format!("{}.{}", self.keys.database, self.keys.table),
            problem,
        };
        let partitions = projected_partitions_with(&self.table, &values)
            .map_err(|e| bad(e).into_datafusion())?
            .unwrap_or_default();
        let locations = self
            .keys
            .locations(&self.stores, &partitions)
            .map_err(CatalogError::into_datafusion)?;
        Ok(Candidates {
            partitions: Arc::new(locations),
            total: None,
        })
    }
}

/// The constants one filter allows for `key`, if the filter is an equality, IN list or OR of
/// those on that key alone.
fn constants(filter: &Expr, key: &str) -> Option<Vec<String>> {
    match filter {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => match (column_is(left, key), column_is(right, key)) {
            (true, false) => literal(right).map(|v| vec![v]),
            (false, true) => literal(left).map(|v| vec![v]),
            _ => None,
        },
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => {
            let mut values = constants(left, key)?;
            values.extend(constants(right, key)?);
            Some(values)
        }
        Expr::InList(InList {
            expr,
            list,
            negated: false,
        }) if column_is(expr, key) => list.iter().map(literal).collect(),
        _ => None,
    }
}

fn column_is(expr: &Expr, key: &str) -> bool {
    match expr {
        Expr::Column(c) => c.name == key,
        Expr::Cast(cast) => column_is(&cast.expr, key),
        _ => false,
    }
}

/// A literal as a partition value string.
fn literal(expr: &Expr) -> Option<String> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    match value {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => Some(s.clone()),
        ScalarValue::Utf8View(Some(s)) => Some(s.clone()),
        v if v.is_null() => None,
        v => Some(v.to_string()),
    }
}
