//! Queries through DataFusion: planning (read-only check, result description) and execution
//! into a streamed response.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{LogicalPlan, Statement as PlanStatement};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};

use super::encode::{field_infos, format_options, wire_schema};
use super::origin::{column_origins, ColumnOrigin};
use super::plan_cache::{PhysicalQuery, Stamp};
use super::stream::{audited, data_rows, guarded_batches, StatementGuard};
use super::timestamps::TextTimestamps;
use super::view::PrincipalView;
use super::Session;
use crate::audit::StatementAudit;
use crate::catalog::backend::CatalogError;
use crate::error::LakegateError;
use crate::scan::report::TableScan;
use crate::server::statement_queue::Running;
use crate::statement::CopyFormat;
use futures::TryStreamExt;

/// A query planned in this session, with what describes its result.
#[derive(Debug, Clone)]
pub struct PlannedQuery {
    pub plan: LogicalPlan,
    /// Result column names as PostgreSQL would give them.
    pub names: Vec<String>,
    pub origins: Vec<ColumnOrigin>,
    pub wire_schema: SchemaRef,
    /// The policy load it was planned under; a prepared statement is planned again after a
    /// reload, so it never runs with revoked rights.
    pub policy_epoch: u64,
    /// The catalog version it was planned at (tags live in the catalog).
    pub catalog_version: u64,
}

impl PlannedQuery {
    /// Whether it was planned under the policy load and catalog that `stamp` was taken under.
    fn made_under(&self, stamp: &Stamp) -> bool {
        self.policy_epoch == stamp.policy_epoch && self.catalog_version == stamp.catalog_version
    }
}

impl Session {
    /// Plans a statement; only reads (and SQL-level PREPARE/EXECUTE) pass.
    pub async fn plan(&self, statement: &Statement) -> Result<PlannedQuery, LakegateError> {
        // Names resolve against the catalog as it is now (new tables appear once the TTL passed).
        // If the catalog cannot be reached, statements that read no lake table still run: the
        // error reaches the client when a table is resolved (`LakeCatalog::provider`).
        if let Err(e) = self.gateway.lake.refresh_if_stale().await {
            tracing::debug!(error = %e, "catalog refresh failed; planning with the last snapshot");
        }
        let view = self.current_view().await?;
        // `set_config('search_path', …)` changes the setting from inside a query.
        self.apply_search_path();
        if view.pg_catalog.oids_outdated() {
            if let Err(e) = view.pg_catalog.load_table_oids().await {
                tracing::warn!(error = %e, "cannot number the tables in pg_catalog");
            }
        }
        let mut statement = statement.clone();
        self.temp_tables.qualify(&mut statement);
        let stamp = self.plan_stamp();
        let reuse_limit = self.gateway.lake.plan_reuse_limit();
        let metrics = crate::ops::metrics::metrics();
        metrics.cache_lookup("statements");
        if let Some(kept) = self.planned_queries.get(&statement, &stamp, reuse_limit) {
            return Ok(kept);
        }
        metrics.cache_missed("statements");
        let plan = self
            .ctx
            .state()
            .statement_to_plan(DfStatement::Statement(Box::new(statement.clone())))
            .await?;
        check_read_only(&plan)?;
        let planned = self.describe(plan, &view);
        // As for physical plans: a reload or refresh that came while planning leaves a plan
        // bound to the old decisions, which must not be kept under the new stamp.
        if planned.made_under(&stamp) {
            self.planned_queries
                .put(&statement, &planned, stamp, reuse_limit);
        }
        Ok(planned)
    }

    /// A prepared statement's plan, planned again if the policy was reloaded or the catalog
    /// changed since: the old plan read tables through the old decisions. As in PostgreSQL, a plan whose result columns changed
    /// cannot be used by the statement that described them.
    pub async fn replan_if_policy_changed(
        &self,
        statement: &Statement,
        planned: &PlannedQuery,
    ) -> Result<PlannedQuery, LakegateError> {
        // As `plan` does: a catalog past its TTL is read again first, so changes reach
        // statements that are only ever executed.
        if let Err(e) = self.gateway.lake.refresh_if_stale().await {
            tracing::debug!(error = %e, "catalog refresh failed; executing with the last snapshot");
        }
        if planned.policy_epoch == self.gateway.policies.epoch()
            && planned.catalog_version == self.gateway.lake.version()
        {
            return Ok(planned.clone());
        }
        let fresh = self.plan(statement).await?;
        if fresh.wire_schema != planned.wire_schema {
            return Err(LakegateError::NotSupported(
                "cached plan must not change result type".into(),
            ));
        }
        Ok(fresh)
    }

    /// What clients are told about a plan's result columns.
    fn describe(&self, plan: LogicalPlan, view: &PrincipalView) -> PlannedQuery {
        let origins = column_origins(&plan, &view.pg_catalog, &self.default_schema());
        let wire_schema = wire_schema(plan.schema().as_arrow());
        let names = super::naming::column_names(&plan);
        PlannedQuery {
            plan,
            names,
            origins,
            wire_schema,
            policy_epoch: view.access.epoch,
            catalog_version: view.access.lake().version(),
        }
    }

    /// Row descriptions for a planned query in the given result format.
    pub fn fields(
        &self,
        planned: &PlannedQuery,
        format: &Format,
    ) -> Result<Vec<FieldInfo>, LakegateError> {
        let options = format_options(&self.settings.read().expect("settings lock"));
        field_infos(
            &planned.wire_schema,
            &planned.names,
            &planned.origins,
            format,
            options,
        )
        .map_err(|e| LakegateError::Internal(e.to_string()))
    }

    /// Executes a planned query; results stream to the client as it reads them.
    pub async fn execute(
        &self,
        planned: PlannedQuery,
        format: &Format,
        copy: Option<CopyFormat>,
        audit: &mut StatementAudit,
    ) -> Result<Response, LakegateError> {
        let tag = match &planned.plan {
            LogicalPlan::Statement(PlanStatement::Prepare(_)) => Some("PREPARE"),
            LogicalPlan::Statement(PlanStatement::Deallocate(_)) => Some("DEALLOCATE"),
            _ => None,
        };
        if tag.is_some() {
            audit.decide().await?;
        }
        let mut guard = StatementGuard::new(self.start_statement(), self.statement_timeout_ms());
        guard.running = Some(Arc::new(self.admitted(&guard).await?));
        // PREPARE, EXECUTE and DEALLOCATE go through DataFusion's own handling; SQL-level
        // EXECUTE gives the prepared query's plan, whose result is known only now.
        let planned = match &planned.plan {
            LogicalPlan::Statement(statement) => {
                let frame = tokio::select! {
                    frame = self.ctx.execute_logical_plan(planned.plan.clone()) => frame?,
                    _ = guard.cancel.cancelled() => return Err(LakegateError::Canceled),
                };
                if let PlanStatement::Prepare(prepare) = statement {
                    self.remember_sql_prepared(&prepare.name);
                }
                if let Some(tag) = tag {
                    return Ok(Response::Execution(Tag::new(tag)));
                }
                let view = self.view.load_full();
                self.describe(frame.logical_plan().clone(), &view)
            }
            _ => planned,
        };
        let fields = Arc::new(self.fields(&planned, format)?);
        let physical = tokio::select! {
            physical = self.physical_query(&planned) => physical?,
            _ = guard.cancel.cancelled() => return Err(LakegateError::Canceled),
        };
        let report = physical.report;
        // D9: what the statement may read goes on record now; its first row waits until the
        // record is durable, while the sync overlaps with computing that row.
        let scans = report.scans();
        audit.set_reads(&scans, &report.policy_reads());
        let decision = audit.queue_decision().await;
        let stream = datafusion::physical_plan::execute_stream(physical.plan, self.task_context())
            .map_err(|e| name_unreadable_table(e.into(), &scans))?;
        let stream = match &planned.plan {
            LogicalPlan::Explain(_) | LogicalPlan::Analyze(_) => {
                super::explain::with_scan_report(stream, &report, &self.view.load().access)?
            }
            _ => stream,
        };
        let text_timestamps = self.text_timestamps(&planned, format, copy);
        let batches = guarded_batches(stream, planned.wire_schema, guard, text_timestamps)
            .map_err(move |e| name_unreadable_table(e, &scans));
        let batches = audited(batches, audit.handoff(), decision);
        if let Some(copy) = copy {
            return Ok(Response::CopyOut(super::copy::copy_response(
                batches, fields, copy,
            )));
        }
        let mut response = QueryResponse::new(Arc::clone(&fields), data_rows(batches, fields));
        if matches!(
            planned.plan,
            LogicalPlan::Explain(_) | LogicalPlan::Analyze(_)
        ) {
            response.set_command_tag("EXPLAIN");
        }
        Ok(Response::Query(response))
    }

    /// The physical plan of a query: the one kept from an earlier execution if it is still
    /// valid (`plan_cache.rs`), else planned now and kept when it can be run again. A query
    /// planned under an earlier policy load or catalog (a reload came while it waited) is
    /// neither matched nor kept: its tables were bound under the old decisions, and the
    /// logical plan compares equal to the new one (a scan's source is not compared).
    async fn physical_query(&self, planned: &PlannedQuery) -> Result<PhysicalQuery, LakegateError> {
        let stamp = self.plan_stamp();
        let current = planned.made_under(&stamp);
        let reuse_limit = self.gateway.lake.plan_reuse_limit();
        let metrics = crate::ops::metrics::metrics();
        metrics.cache_lookup("plans");
        if let Some(kept) = current
            .then(|| self.plans.get(&planned.plan, &stamp, reuse_limit))
            .flatten()
        {
            return Ok(kept?);
        }
        metrics.cache_missed("plans");
        let report = crate::scan::report::start(self.ctx.state_ref().write().config_mut());
        let state = self.ctx.state();
        let physical = state
            .create_physical_plan(&planned.plan)
            .await
            .map_err(|e| name_unreadable_table(e.into(), &report.scans()))?;
        let query = PhysicalQuery {
            plan: physical,
            report,
        };
        let explain = matches!(
            planned.plan,
            LogicalPlan::Explain(_) | LogicalPlan::Analyze(_)
        );
        if current && !explain {
            self.plans.put(&planned.plan, &query, stamp, reuse_limit);
        }
        Ok(query)
    }

    /// What a plan made now is made under.
    fn plan_stamp(&self) -> Stamp {
        let lake = &self.gateway.lake;
        Stamp {
            policy_epoch: self.gateway.policies.epoch(),
            catalog_version: lake.version(),
            data_version: lake.data_version(),
            default_schema: self.default_schema(),
        }
    }

    /// The session's task context, built at its first statement (after its functions were
    /// registered). It carries that statement's scan report, which only planning reads.
    fn task_context(&self) -> Arc<TaskContext> {
        let build = || Arc::new(TaskContext::from(&*self.ctx.state_ref().read()));
        Arc::clone(self.task_context.get_or_init(build))
    }

    /// Text-format timestamp columns, printed in the session's time zone.
    fn text_timestamps(
        &self,
        planned: &PlannedQuery,
        format: &Format,
        copy: Option<CopyFormat>,
    ) -> Option<TextTimestamps> {
        if copy == Some(CopyFormat::Binary) {
            return None;
        }
        let zone = self
            .settings
            .read()
            .expect("settings lock")
            .get("TimeZone")
            .ok()?
            .1
            .to_owned();
        let types: Vec<&DataType> = planned
            .wire_schema
            .fields()
            .iter()
            .map(|f| f.data_type())
            .collect();
        TextTimestamps::new(&types, |i| copy.is_some() || format.is_text(i), &zone)
    }

    /// A slot to run in (`limits.max_running_statements`), unless the statement is canceled
    /// or times out while it waits.
    pub(super) async fn admitted(&self, guard: &StatementGuard) -> Result<Running, LakegateError> {
        tokio::select! {
            running = self.gateway.statements.enter() => running,
            stopped = guard.stopped() => Err(stopped),
        }
    }

    pub(super) fn statement_timeout_ms(&self) -> u64 {
        self.settings
            .read()
            .expect("settings lock")
            .statement_timeout_ms()
    }
}

/// A storage or file error while reading names the table(s) being read, not the file's path.
fn name_unreadable_table(error: LakegateError, scans: &[TableScan]) -> LakegateError {
    use datafusion::error::DataFusionError as E;
    let LakegateError::Engine(engine) = &error else {
        return error;
    };
    if !matches!(
        engine.find_root(),
        E::ObjectStore(_) | E::IoError(_) | E::ParquetError(_)
    ) {
        return error;
    }
    let mut tables: Vec<&str> = scans.iter().map(|s| s.table.as_str()).collect();
    tables.dedup();
    if tables.is_empty() {
        return error;
    }
    let (table, detail) = (tables.join(", "), engine.to_string());
    // Object stores and the Parquet reader report a missing file only in their messages.
    let lower = detail.to_ascii_lowercase();
    LakegateError::Catalog(
        if lower.contains("not found") || lower.contains("no such file") {
            let problem = "one of its data files is missing".to_owned();
            CatalogError::Missing {
                table,
                problem,
                detail,
            }
        } else {
            let problem = "its data files cannot be read".to_owned();
            CatalogError::Unreadable {
                table,
                problem,
                detail,
            }
        },
    )
}

/// D10: plans that write, define objects, copy to files or change the session through
/// DataFusion are refused; reads and SQL-level prepared statements pass.
fn check_read_only(plan: &LogicalPlan) -> Result<(), LakegateError> {
    let mut refusal = None;
    plan.apply_with_subqueries(|node| {
        let problem = match node {
            LogicalPlan::Ddl(ddl) => Some(ddl.name().to_owned()),
            LogicalPlan::Dml(dml) => Some(dml.op.to_string()),
            LogicalPlan::Copy(_) => Some("COPY".to_owned()),
            LogicalPlan::Statement(
                PlanStatement::Prepare(_)
                | PlanStatement::Execute(_)
                | PlanStatement::Deallocate(_),
            ) => None,
            LogicalPlan::Statement(s) => Some(s.name().to_owned()),
            _ => None,
        };
        refusal = problem;
        Ok(super::plan_cache::continue_while(refusal.is_none()))
    })?;
    match refusal {
        Some(what) => Err(LakegateError::PermissionDenied(format!(
            "{what} is not allowed: this gateway serves the lake read-only"
        ))),
        None => Ok(()),
    }
}
