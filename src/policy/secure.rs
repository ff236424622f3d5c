//! A table read through a principal's policy. Its schema holds only the columns that exist for
//! the principal (D1, D2); its scan reads the raw table, keeps the rows the row filter allows
//! (on raw values, D4), NULLs cells outside a data filter's rows, applies masks (D3), and only
//! then hands rows to the rest of the plan, behind a [`SecureScanExec`] barrier (D7).

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::logical_expr::utils::{conjunction, split_conjunction_owned};
use datafusion::logical_expr::{when, Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::limit::GlobalLimitExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{cast, col};

use super::barrier::{SecureScan, SecureScanExec};
use super::compile::{PolicyColumn, TablePolicy};
use super::leakproof::is_leakproof;
use crate::error::LakegateError;

#[derive(Debug)]
pub struct SecureTable {
    inner: Arc<dyn TableProvider>,
    policy: Arc<TablePolicy>,
    schema: SchemaRef,
}

impl SecureTable {
    pub fn new(inner: Arc<dyn TableProvider>, policy: Arc<TablePolicy>) -> Result<Self> {
        let raw = inner.schema();
        let fields = policy
            .columns
            .iter()
            .map(|c| {
                let field = raw.field_with_name(&c.name)?;
                // Masked and cell-filtered values can be NULL whatever the column says.
                Ok(Field::new(c.name.clone(), field.data_type().clone(), true))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            inner,
            policy,
            schema: Arc::new(Schema::new(fields)),
        })
    }

    /// The table read under the policy (a lake table or a view).
    pub fn inner(&self) -> &Arc<dyn TableProvider> {
        &self.inner
    }

    /// Columns whose values are not the raw values: user predicates on them must see the masked
    /// or NULLed value, so they are never pushed into the raw scan.
    fn is_rewritten(&self, name: &str) -> bool {
        self.column(name)
            .is_none_or(|c| c.mask.is_some() || c.condition.is_some() || !c.readable)
    }

    /// What the audit record says about this read.
    fn policy_read(&self, outputs: &[&PolicyColumn]) -> crate::scan::report::PolicyRead {
        let names = |keep: fn(&PolicyColumn) -> bool| {
            self.policy
                .columns
                .iter()
                .filter(|c| keep(c))
                .map(|c| c.name.clone())
                .collect()
        };
        let hidden = self
            .inner
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|name| self.column(name).is_none())
            .collect();
        crate::scan::report::PolicyRead {
            table: self.policy.table.clone(),
            columns: outputs.iter().map(|c| c.name.clone()).collect(),
            row_filter: self.policy.row_filter.clone(),
            masked: names(|c| c.mask.is_some()),
            cell_filtered: names(|c| c.condition.is_some()),
            hidden,
            rules: self.policy.decided_by.clone(),
        }
    }

    fn column(&self, name: &str) -> Option<&PolicyColumn> {
        self.policy.columns.iter().find(|c| c.name == name)
    }

    /// D6 and DESCRIBE-only columns: refuse before reading anything.
    fn check_readable(&self, outputs: &[&PolicyColumn]) -> Result<()> {
        if !self.policy.conflicts.is_empty() {
            tracing::error!(table = %self.policy.table, conflicts = ?self.policy.conflicts, "access policy cannot be enforced");
            return Err(external(LakegateError::PolicyNotEnforceable {
                table: self.policy.table.clone(),
            }));
        }
        if !self.policy.can_select() || outputs.iter().any(|c| !c.readable) {
            return Err(external(LakegateError::PermissionDenied(format!(
                "permission denied for table {}",
                self.policy.table
            ))));
        }
        Ok(())
    }
}

fn external(e: LakegateError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

#[async_trait]
impl TableProvider for SecureTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// User filters that may run in the raw scan: leakproof ones (D7) on columns that are not
    /// rewritten; they are applied exactly, by the scan's own filter. Everything else runs above
    /// the barrier, where its errors are the user's own.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                let pushable = !f.is_volatile()
                    && f.column_refs().iter().all(|c| !self.is_rewritten(&c.name))
                    && is_leakproof(f, &self.schema);
                match pushable {
                    true => TableProviderFilterPushDown::Exact,
                    false => TableProviderFilterPushDown::Unsupported,
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let outputs: Vec<&PolicyColumn> = match projection {
            Some(indices) => indices.iter().map(|i| &self.policy.columns[*i]).collect(),
            None => self.policy.columns.iter().collect(),
        };
        self.check_readable(&outputs)?;
        crate::scan::report::record_policy_read(state, self.policy_read(&outputs));
        let state = state
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| DataFusionError::Internal("not a SessionState".into()))?;
        let plan = PolicyPlan::build(self, state, &outputs, filters)?;
        plan.execute(self, state, limit).await
    }
}

/// The logical pieces of one secured scan, as expressions over the raw table.
struct PolicyPlan {
    /// The row filter's conjuncts first, then the user's leakproof filters.
    predicate: Vec<Expr>,
    /// How many of `predicate` come from the row filter.
    row_filter_parts: usize,
    outputs: Vec<(String, Expr)>,
}

impl PolicyPlan {
    fn build(
        table: &SecureTable,
        state: &SessionState,
        outputs: &[&PolicyColumn],
        user_filters: &[Expr],
    ) -> Result<Self> {
        let raw = DFSchema::try_from(table.inner.schema().as_ref().clone())?;
        let parse = |sql: &str| {
            state.create_logical_expr(sql, &raw).map_err(|e| {
                tracing::error!(table = %table.policy.table, expression = sql, error = %e, "policy expression does not plan");
                external(LakegateError::PolicyNotEnforceable {
                    table: table.policy.table.clone(),
                })
            })
        };
        let mut predicate = Vec::new();
        if let Some(row_filter) = &table.policy.row_filter {
            predicate.extend(split_conjunction_owned(parse(row_filter)?));
        }
        let row_filter_parts = predicate.len();
        predicate.extend(
            user_filters
                .iter()
                .map(unqualified)
                .collect::<Result<Vec<_>>>()?,
        );
        let outputs = outputs
            .iter()
            .map(|column| {
                let field = table.schema.field_with_name(&column.name)?;
                let mut value = match &column.mask {
                    Some(mask) => cast(parse(mask)?, field.data_type().clone()),
                    None => col(Column::new_unqualified(&column.name)),
                };
                if let Some(condition) = &column.condition {
                    value = when(parse(condition)?, value).end()?;
                }
                Ok((column.name.clone(), value))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            predicate,
            row_filter_parts,
            outputs,
        })
    }

    /// Raw scan (with the predicate offered for pruning) → filter → masked projection → barrier.
    async fn execute(
        self,
        table: &SecureTable,
        state: &SessionState,
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let raw_schema = table.inner.schema();
        let mut needed = BTreeSet::new();
        for expr in self
            .predicate
            .iter()
            .chain(self.outputs.iter().map(|(_, e)| e))
        {
            for column in expr.column_refs() {
                needed.insert(raw_schema.index_of(&column.name)?);
            }
        }
        let needed: Vec<usize> = needed.into_iter().collect();
        let offered: Vec<&Expr> = self.predicate.iter().collect();
        let support = table.inner.supports_filters_pushdown(&offered)?;
        // The row filter goes to the raw scan where it prunes exactly (partition columns); as a
        // mere statistics hint it costs more (page indexes read for every file) than it saves,
        // and it is applied below anyway. The user's filters go as they would without a policy.
        let pushed: Vec<Expr> = self
            .predicate
            .iter()
            .zip(support)
            .enumerate()
            .filter(|(i, (_, s))| match i < &self.row_filter_parts {
                true => *s == TableProviderFilterPushDown::Exact,
                false => *s != TableProviderFilterPushDown::Unsupported,
            })
            .map(|(_, (e, _))| e.clone())
            .collect();
        let scan_limit = self.predicate.is_empty().then_some(limit).flatten();
        let raw_scan = table
            .inner
            .scan(state, Some(&needed), &pushed, scan_limit)
            .await?;
        // From here on, a failure is the policy's (a mask of the wrong type, say): its message
        // could quote the policy, so the client gets the generic refusal (D6, MD-06).
        let not_enforceable = |e: DataFusionError| {
            tracing::error!(table = %table.policy.table, error = %e, "policy expression does not plan");
            external(LakegateError::PolicyNotEnforceable {
                table: table.policy.table.clone(),
            })
        };
        let scanned = DFSchema::try_from(raw_scan.schema().as_ref().clone())?;
        let predicate = conjunction(self.predicate)
            .map(|p| state.create_physical_expr(p, &scanned))
            .transpose()
            .map_err(not_enforceable)?;
        let outputs = self
            .outputs
            .into_iter()
            .map(|(alias, expr)| {
                let expr = state
                    .create_physical_expr(expr, &scanned)
                    .map_err(not_enforceable)?;
                Ok((expr, alias))
            })
            .collect::<Result<Vec<_>>>()?;
        let secured = SecureScan {
            raw_scan,
            predicate,
            outputs,
        };
        let barrier = SecureScanExec::try_new(table.policy.table.clone(), secured)
            .map_err(not_enforceable)?;
        // The limit applies to permitted rows, so above the barrier.
        Ok(match (limit, scan_limit) {
            (Some(limit), None) => {
                Arc::new(GlobalLimitExec::new(Arc::new(barrier), 0, Some(limit)))
            }
            _ => Arc::new(barrier),
        })
    }
}

/// DataFusion hands filters over with table-qualified columns; the raw scan's schema is
/// unqualified.
pub(crate) fn unqualified(expr: &Expr) -> Result<Expr> {
    expr.clone()
        .transform(|e| match e {
            Expr::Column(c) => Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
                c.name,
            )))),
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
}
