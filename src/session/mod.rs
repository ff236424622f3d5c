//! One connection's session: the principal, its own DataFusion `SessionContext` (over the
//! shared runtime and catalog), typed settings, and the protocol handlers that run statements.

mod civil_date;
mod commands;
mod copy;
mod cursors;
mod deletes;
mod encode;
mod execute;
mod explain;
mod handler;
mod memory;
mod naming;
mod origin;
mod params;
mod parsed;
mod plan_cache;
mod planned_queries;
mod portal_execute;
pub mod query_id;
mod renames;
mod rows;
mod savepoint;
pub mod settings;
mod stream;
pub mod timestamps;
mod type_planner;
mod unknown_literals;
mod values;
pub mod view;
mod views;
mod write;
mod write_create;
mod write_ddl;
mod write_plan;
mod write_rows;

use std::collections::BTreeSet;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use datafusion::catalog::{CatalogProviderList, MemoryCatalogProviderList};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_pg_catalog::pg_catalog::generate_series_arg_coercion::CoerceIntArgsToBigInt;
use tokio_util::sync::CancellationToken;

use crate::audit::{Actor, Event, Record, StatementAudit, StatementSource};
use crate::auth::Principal;
use crate::catalog::{LakeCatalogProvider, DATABASE_NAME, PUBLIC_SCHEMA};
use crate::error::{ClientError, LakegateError};
use crate::pgcatalog::{register_functions, SessionFunctionsContext};
use crate::server::Gateway;
pub use encode::type_modifier;
pub use handler::{PreparedStatement, QueryHandler};
use settings::Settings;
use view::{PrincipalView, ViewHandle};

pub struct Session {
    pub principal: Principal,
    /// Who is connected and from where, as audit records say it.
    actor: Actor,
    pub ctx: SessionContext,
    pub settings: Arc<RwLock<Settings>>,
    gateway: Arc<Gateway>,
    /// What exists for the principal under the policy in force.
    view: ViewHandle,
    /// Cancels the statement that is running now; replaced at each statement's start.
    running: Mutex<CancellationToken>,
    /// Names of protocol-level prepared statements, for DEALLOCATE ALL / DISCARD ALL.
    statement_names: Mutex<BTreeSet<String>>,
    /// Names of SQL-level prepared statements (PREPARE), dropped when the policy changes.
    sql_prepared: Mutex<BTreeSet<String>>,
    /// When the token the session signed in with expires; `None` for other sign-ins.
    credential_expiry: Mutex<Option<u64>>,
    /// Open SQL cursors (DECLARE).
    cursors: cursors::Cursors,
    /// Temporary tables (CREATE TEMPORARY TABLE … AS).
    temp_tables: crate::write::temp::TempTables,
    /// Renames of the open transaction, applied together (see `renames.rs`).
    held_renames: renames::HeldRenames,
    /// Physical plans of repeated statements (see `plan_cache.rs`).
    plans: plan_cache::PlanCache,
    /// What repeated statements were planned to (see `planned_queries.rs`).
    planned_queries: planned_queries::PlannedQueries,
    /// Commands of statement texts parsed before (see `parsed.rs`).
    parsed: parsed::ParsedTexts,
    /// What execution needs of the session's state, built once: building it copies every
    /// function registry, which cost as much as a small statement's execution.
    task_context: std::sync::OnceLock<Arc<datafusion::execution::TaskContext>>,
}

/// The session-end record (AD-01: every session has a start and an end on record).
impl Drop for Session {
    fn drop(&mut self) {
        let mut record = Record::new(Event::SessionEnd);
        record.actor = Some(self.actor.clone());
        self.gateway.audit.write_detached(record);
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub fn new(
        gateway: &Arc<Gateway>,
        principal: Principal,
        actor: Actor,
        startup: &[(String, String)],
    ) -> Result<Self, LakegateError> {
        let settings = Arc::new(RwLock::new(Settings::new(
            &principal.user,
            principal.superuser,
            startup,
        )));
        let view: ViewHandle = Arc::new(arc_swap::ArcSwap::from_pointee(view::build(
            gateway, &principal,
        )?));
        let temp_tables = crate::write::temp::TempTables::default();
        let ctx = session_context(gateway, Arc::clone(&view), &temp_tables);
        register_functions(
            &ctx,
            &SessionFunctionsContext {
                user: principal.user.clone(),
                settings: Arc::clone(&settings),
                view: Arc::clone(&view),
                schemas: view.load().access.schema_names(),
            },
        );
        let session = Self {
            principal,
            actor,
            ctx,
            settings,
            gateway: Arc::clone(gateway),
            view,
            running: Mutex::default(),
            statement_names: Mutex::default(),
            sql_prepared: Mutex::default(),
            credential_expiry: Mutex::default(),
            cursors: cursors::Cursors::default(),
            temp_tables,
            held_renames: renames::HeldRenames::default(),
            plans: plan_cache::PlanCache::default(),
            planned_queries: planned_queries::PlannedQueries::default(),
            parsed: parsed::ParsedTexts::default(),
            task_context: std::sync::OnceLock::new(),
        };
        session.apply_search_path();
        Ok(session)
    }

    /// The view statements are planned with now, replaced if the policy was reloaded. Plans made
    /// under the old policy must not run again: SQL-level prepared statements are dropped (their
    /// EXECUTE then fails with 26000), protocol-level ones are planned again at Execute.
    async fn current_view(&self) -> Result<Arc<PrincipalView>, LakegateError> {
        self.check_credential()?;
        let before = self.view.load().access.epoch;
        let view = view::refresh(&self.view, &self.gateway, &self.principal)?;
        if view.access.epoch != before {
            let names = std::mem::take(&mut *self.sql_prepared.lock().expect("prepared lock"));
            for name in names {
                let deallocate = datafusion::logical_expr::LogicalPlan::Statement(
                    datafusion::logical_expr::Statement::Deallocate(
                        datafusion::logical_expr::Deallocate { name },
                    ),
                );
                self.ctx.execute_logical_plan(deallocate).await?;
            }
        }
        Ok(view)
    }

    /// A session signed in with a token lives no longer than the token (plus the leeway):
    /// later statements are refused with 28000.
    fn check_credential(&self) -> Result<(), LakegateError> {
        let Some(expires_at) = *self.credential_expiry.lock().expect("expiry lock") else {
            return Ok(());
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match now > expires_at {
            true => Err(LakegateError::CredentialExpired),
            false => Ok(()),
        }
    }

    /// The audit context of a statement that arrives now.
    pub fn audit_statement(&self, source: StatementSource) -> StatementAudit {
        let mut actor = self.actor.clone();
        if let Ok((_, name)) = self
            .settings
            .read()
            .expect("settings lock")
            .get("application_name")
        {
            actor.application_name = name.to_owned();
        }
        StatementAudit::begin(&self.gateway.audit, actor, source)
    }

    /// Records a statement that failed before it could be classified (it did not parse or
    /// plan); returns what the client is told.
    pub async fn audit_failure(
        &self,
        source: StatementSource,
        error: LakegateError,
    ) -> ClientError {
        let mut audit = self.audit_statement(source);
        let id = audit.query_id().to_owned();
        let client = query_id::sync_scope(id, || error.to_client());
        audit.finish(Err(&client)).await;
        client
    }

    /// Limits the session to its token's lifetime (seconds since the epoch, leeway included).
    pub fn expire_at(&self, expires_at: u64) {
        *self.credential_expiry.lock().expect("expiry lock") = Some(expires_at);
    }

    /// Remembers a SQL-level PREPARE.
    fn remember_sql_prepared(&self, name: &str) {
        let mut names = self.sql_prepared.lock().expect("prepared lock");
        names.insert(name.to_owned());
    }

    /// The settings reported to the client at startup.
    pub fn reported_settings(&self) -> HashMap<String, String> {
        let settings = self.settings.read().expect("settings lock");
        settings
            .reported()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// Stops the running statement, if any (CancelRequest).
    pub fn cancel_running(&self) {
        self.running.lock().expect("cancel lock").cancel();
    }

    /// A fresh cancel token for the statement that starts now.
    fn start_statement(&self) -> CancellationToken {
        let token = CancellationToken::new();
        *self.running.lock().expect("cancel lock") = token.clone();
        token
    }

    /// Unqualified table names resolve in the first schema of `search_path` that exists.
    fn apply_search_path(&self) {
        let path = self.settings.read().expect("settings lock").search_path();
        let schemas = self.view.load().access.schema_names();
        let first = path
            .into_iter()
            .find(|s| schemas.contains(s))
            .unwrap_or_else(|| PUBLIC_SCHEMA.to_owned());
        let state = self.ctx.state_ref();
        state
            .write()
            .config_mut()
            .options_mut()
            .catalog
            .default_schema = first;
    }

    fn default_schema(&self) -> String {
        self.ctx
            .state_ref()
            .read()
            .config()
            .options()
            .catalog
            .default_schema
            .clone()
    }
}

/// The shared runtime, with the session's own memory budget when one is configured.
fn session_runtime(gateway: &Gateway) -> Arc<RuntimeEnv> {
    let Some(limit) = gateway.query_memory_limit else {
        return Arc::clone(&gateway.runtime);
    };
    let mut runtime = (*gateway.runtime).clone();
    let shared = Arc::clone(&runtime.memory_pool);
    runtime.memory_pool = Arc::new(memory::SessionPool::new(shared, limit));
    Arc::new(runtime)
}

/// DataFusion's analyzer rules, with untyped literals typed first and join keys against remote
/// tables compared as plain strings after type coercion (`federation::RemoteJoinKeys`).
fn analyzer_rules() -> Vec<Arc<dyn datafusion::optimizer::AnalyzerRule + Send + Sync>> {
    let mut rules = unknown_literals::analyzer_rules();
    rules.push(Arc::new(crate::federation::RemoteJoinKeys));
    rules
}

/// A DataFusion context over the shared runtime and the principal's view of the lake catalog.
fn session_context(
    gateway: &Arc<Gateway>,
    view: ViewHandle,
    temp_tables: &crate::write::temp::TempTables,
) -> SessionContext {
    let mut config = SessionConfig::new()
        .with_default_catalog_and_schema(DATABASE_NAME, PUBLIC_SCHEMA)
        .with_create_default_catalog_and_schema(false)
        .with_information_schema(true)
        .with_target_partitions(gateway.target_partitions);
    let options = config.options_mut();
    options.sql_parser.dialect = datafusion::config::Dialect::PostgreSQL;
    // SQL's string types (`text`, `varchar` in casts and DDL) stay plain Utf8, the type the
    // catalog stores; lake scans declare their own types (Parquet strings as views,
    // `PartitionedTable::new`), and the schema is never inferred, so the Parquet option below
    // only matters to ad hoc readers.
    options.sql_parser.map_string_types_to_utf8view = false;
    options.execution.parquet.schema_force_view_types = false;
    // A hash join hands its build side's keys to the probe side's scan; for a federated table
    // they become the remote query's IN list, so the remote sends only rows that can join.
    // DataFusion's default of 150 keys leaves larger build sides with a hash-table lookup that
    // no remote can evaluate; 4096 integer keys stay well within the per-partition byte limit
    // (`hash_join_inlist_pushdown_max_size`, 128 KiB).
    options
        .optimizer
        .hash_join_inlist_pushdown_max_distinct_values = 4096;
    // A join collects a build side estimated under 4 MiB into one hash table (DataFusion: 1 MiB)
    // instead of repartitioning both sides. Estimates count strings at their stored size, so a
    // quarter's TPC-H orders with their priority (1.5 MB) was repartitioned over Delta while the
    // same rows over Parquet (0.7 MB) were not; on two cores one table is the cheaper plan.
    options.optimizer.hash_join_single_partition_threshold = 4 << 20;
    let catalogs = Arc::new(MemoryCatalogProviderList::new());
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(session_runtime(gateway))
        .with_catalog_list(Arc::clone(&catalogs) as Arc<dyn CatalogProviderList>)
        .with_default_features()
        .with_analyzer_rules(analyzer_rules())
        .with_query_planner(Arc::new(crate::shared_subquery::LakeQueryPlanner))
        .with_type_planner(Arc::new(type_planner::LakeTypePlanner::default()))
        .build();
    let ctx = SessionContext::new_with_state(state);
    // Views are planned in this session's state, which holds the catalog: the expander only
    // keeps a weak reference to it.
    let views = Arc::new(views::SessionViews {
        state: ctx.state_weak_ref(),
    });
    let lake = LakeCatalogProvider::new(view, temp_tables.schema(), views);
    catalogs.register_catalog(DATABASE_NAME.to_owned(), Arc::new(lake));
    CoerceIntArgsToBigInt::widen(&ctx);
    ctx
}
