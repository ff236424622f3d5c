//! Stored views, expanded when a statement reads them: their SQL is planned in the reading
//! session, so the tables under a view are read with the reader's own grants (invoker rights,
//! D8), and the result is cast to the columns the catalog lists for the view.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::datasource::ViewTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::logical_expr::{cast, col, LogicalPlanBuilder};
use datafusion::sql::parser::Statement as DfStatement;
use parking_lot::RwLock;

use crate::catalog::ViewExpander;
use crate::statement::Command;

/// Views deeper than this are taken to refer to themselves.
const MAX_VIEW_DEPTH: usize = 16;

tokio::task_local! {
    static VIEW_DEPTH: usize;
}

#[derive(Debug)]
pub struct SessionViews {
    /// The session's state; weak, since the state's catalog holds this expander.
    pub state: Weak<RwLock<SessionState>>,
}

#[async_trait]
impl ViewExpander for SessionViews {
    async fn expand(
        &self,
        table: &str,
        sql: &str,
        columns: SchemaRef,
    ) -> Result<Arc<dyn TableProvider>> {
        let depth = VIEW_DEPTH.try_with(|d| *d).unwrap_or(0);
        if depth >= MAX_VIEW_DEPTH {
            return Err(DataFusionError::Plan(format!(
                "view {table} refers to itself, directly or through other views"
            )));
        }
        let state = self
            .state
            .upgrade()
            .ok_or_else(|| DataFusionError::Internal("the session has ended".into()))?
            .read()
            .clone();
        let statement = match crate::statement::parse(sql)
            .map_err(|e| DataFusionError::Plan(format!("view {table} cannot be read: {e}")))?
            .pop()
        {
            Some(Command::Query(statement)) => statement,
            _ => {
                return Err(DataFusionError::Plan(format!(
                    "view {table} does not hold a query"
                )))
            }
        };
        let planning = state.statement_to_plan(DfStatement::Statement(statement));
        let plan = VIEW_DEPTH.scope(depth + 1, planning).await?;
        let found = plan.schema().fields().len();
        if found != columns.fields().len() {
            return Err(DataFusionError::Plan(format!(
                "view {table} no longer matches its definition: its query gives {found} columns, the catalog lists {}",
                columns.fields().len()
            )));
        }
        let casts: Vec<_> = plan
            .schema()
            .columns()
            .into_iter()
            .zip(columns.fields())
            .map(|(column, field)| cast(col(column), field.data_type().clone()).alias(field.name()))
            .collect();
        let plan = LogicalPlanBuilder::from(plan).project(casts)?.build()?;
        Ok(Arc::new(ViewTable::new(plan, Some(sql.to_owned()))))
    }
}
