//! A catalog table that lives in a remote database. Its columns are the catalog's (so metadata
//! answers never need the remote); the remote's columns are matched to them by name when the
//! table is first read, and values are cast to the catalog's types as they arrive.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;

use super::connection::Engine;
use super::exec::{RemoteScan, RemoteScanExec};
use super::source::RemoteSql;
use super::{pushdown, Federation, FederationError};
use crate::policy::secure::unqualified;
use crate::scan::report::{self, TableScan};
use tokio::sync::OnceCell;

/// What the catalog says about a federated table.
#[derive(Debug)]
pub struct Definition {
    /// `database.table` in the catalog.
    pub name: String,
    pub connection: String,
    /// The remote table, as the catalog's location names it.
    pub location: String,
    /// The SQL the remote speaks, from the catalog's classification.
    pub engine: Engine,
    /// The catalog's columns.
    pub schema: SchemaRef,
    pub federation: Arc<Federation>,
}

#[derive(Debug)]
pub struct RemoteTable {
    definition: Definition,
    /// The remote table, reached on the first scan.
    remote: OnceCell<Resolved>,
}

/// The remote table and where each catalog column is among its columns.
#[derive(Debug)]
struct Resolved {
    remote: Arc<dyn RemoteSql>,
    remote_index: Vec<usize>,
}

impl RemoteTable {
    pub fn new(definition: Definition) -> Self {
        Self {
            definition,
            remote: OnceCell::new(),
        }
    }

    /// The remote table, connected on first use (a failure is not kept: the next statement
    /// tries again).
    async fn resolved(&self) -> Result<&Resolved, FederationError> {
        let definition = &self.definition;
        self.remote
            .get_or_try_init(|| async {
                let remote = definition.federation.resolve(definition).await?;
                let remote_schema = remote.schema();
                let remote_index = definition
                    .schema
                    .fields()
                    .iter()
                    .map(|field| {
                        remote_schema.index_of(field.name()).map_err(|_| {
                            FederationError::RemoteTable {
                                table: definition.name.clone(),
                                detail: format!(
                                    "the remote table has no column {:?}",
                                    field.name()
                                ),
                            }
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Resolved {
                    remote,
                    remote_index,
                })
            })
            .await
    }
}

#[async_trait]
impl TableProvider for RemoteTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.definition.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| match self.definition.federation.pushdown {
                true => pushdown::support(f, &self.definition.schema, self.definition.engine),
                false => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    /// The projection, the filters DataFusion handed over (those [`pushdown::support`]
    /// accepted) and the limit become one remote SELECT.
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let definition = &self.definition;
        let all: Vec<usize> = (0..definition.schema.fields().len()).collect();
        let wanted = projection.cloned().unwrap_or_else(|| all.clone());
        let (fetched, filters, limit) = match definition.federation.pushdown {
            // A scan that needs only row counts still selects one column: `SELECT FROM t` is
            // not valid everywhere.
            true if wanted.is_empty() => (vec![0], filters, limit),
            true => (wanted.clone(), filters, limit),
            false => (all, &[][..], None),
        };
        report::record(
            state,
            TableScan {
                table: definition.name.clone(),
                columns: report::projected_names(&definition.schema, Some(&fetched)),
                remote: Some(definition.connection.clone()),
                ..Default::default()
            },
        );
        let resolved = self
            .resolved()
            .await
            .map_err(FederationError::into_datafusion)?;
        let scan = self.remote_scan(resolved, &wanted, &fetched, filters, limit)?;
        Ok(Arc::new(RemoteScanExec::new(scan)))
    }
}

impl RemoteTable {
    /// The remote SELECT of catalog columns `fetched`, and how the `wanted` ones are picked
    /// from its rows.
    fn remote_scan(
        &self,
        resolved: &Resolved,
        wanted: &[usize],
        fetched: &[usize],
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<RemoteScan> {
        let definition = &self.definition;
        let remote_projection: Vec<usize> =
            fetched.iter().map(|i| resolved.remote_index[*i]).collect();
        // Filters arrive with table-qualified columns; the remote SQL names the remote table.
        let filters = filters
            .iter()
            .map(unqualified)
            .collect::<Result<Vec<_>>>()?;
        let sql = resolved.remote.sql(&remote_projection, &filters, limit)?;
        let remote_schema = resolved.remote.schema();
        let fetched_schema = remote_projection
            .iter()
            .map(|i| remote_schema.field(*i).clone())
            .collect::<Vec<_>>();
        let pick = wanted
            .iter()
            .map(|c| fetched.iter().position(|f| f == c).unwrap_or_default())
            .collect();
        Ok(RemoteScan {
            connection: definition.connection.clone(),
            engine: definition.engine,
            remote: Arc::clone(&resolved.remote),
            sql,
            remote_projection,
            filters,
            limit,
            table_schema: Arc::clone(&definition.schema),
            dynamic: Vec::new(),
            pushdown: definition.federation.pushdown,
            fetched_schema: Arc::new(Schema::new(fetched_schema)),
            output: Arc::new(definition.schema.project(wanted)?),
            pick,
            connect_timeout: definition.federation.connect_timeout,
        })
    }
}
