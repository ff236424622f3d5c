//! Tables whose data must be brought up to date before each read (the audit tables: what has
//! been recorded but not yet shipped is shipped first).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;

/// Brings a table's data up to date.
#[async_trait]
pub trait BeforeRead: std::fmt::Debug + Send + Sync {
    async fn before_read(&self) -> Result<(), String>;
}

#[derive(Debug)]
pub struct FreshTable {
    pub inner: Arc<dyn TableProvider>,
    pub refresh: Arc<dyn BeforeRead>,
    pub name: String,
}

#[async_trait]
impl TableProvider for FreshTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // The refresh happens here, at planning, so a kept plan would skip it.
        crate::scan::report::mark_uncacheable(state);
        // What was shipped before stays readable when shipping fails now.
        if let Err(e) = self.refresh.before_read().await {
            tracing::warn!(table = %self.name, error = %e, "reading without the latest records");
        }
        self.inner.scan(state, projection, filters, limit).await
    }
}
