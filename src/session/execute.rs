//! Running one command in a session: queries through DataFusion, everything else (settings,
//! transactions, prepared-statement bookkeeping) answered by the session itself.

use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::{LogicalPlan, Statement as PlanStatement};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use futures::Sink;
use pgwire::api::portal::Format;
use pgwire::api::results::{DataRowEncoder, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::PgWireError;
use pgwire::messages::response::TransactionStatus;
use pgwire::messages::startup::ParameterStatus;
use pgwire::messages::PgWireBackendMessage;

use super::encode::{field_infos, format_options, wire_schema};
use super::origin::{column_origins, ColumnOrigin};
use super::stream::{data_rows, guarded_batches, StatementGuard};
use super::timestamps::TextTimestamps;
use super::Session;
use crate::error::LakegateError;
use crate::statement::{Command, CopyFormat};

/// A query planned in this session, with what describes its result.
#[derive(Debug, Clone)]
pub struct PlannedQuery {
    pub plan: LogicalPlan,
    /// Result column names as PostgreSQL would give them.
    pub names: Vec<String>,
    pub origins: Vec<ColumnOrigin>,
    pub wire_schema: SchemaRef,
}

impl Session {
    /// Plans a statement; only reads (and SQL-level PREPARE/EXECUTE) pass.
    pub async fn plan(&self, statement: &Statement) -> Result<PlannedQuery, LakegateError> {
        let state = self.ctx.state();
        let plan = state
            .statement_to_plan(DfStatement::Statement(Box::new(statement.clone())))
            .await?;
        check_read_only(&plan)?;
        Ok(self.describe(plan))
    }

    /// What clients are told about a plan's result columns.
    fn describe(&self, plan: LogicalPlan) -> PlannedQuery {
        let lake = &self.gateway.lake;
        let origins = column_origins(
            &plan,
            lake,
            &self.gateway.pg_catalog,
            &self.default_schema(),
        );
        let wire_schema = wire_schema(plan.schema().as_arrow());
        let names = super::naming::column_names(&plan);
        PlannedQuery {
            plan,
            names,
            origins,
            wire_schema,
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
    ) -> Result<Response, LakegateError> {
        let tag = match &planned.plan {
            LogicalPlan::Statement(PlanStatement::Prepare(_)) => Some("PREPARE"),
            LogicalPlan::Statement(PlanStatement::Deallocate(_)) => Some("DEALLOCATE"),
            _ => None,
        };
        let guard = StatementGuard::new(self.start_statement(), self.statement_timeout_ms());
        let frame = tokio::select! {
            frame = self.ctx.execute_logical_plan(planned.plan.clone()) => frame?,
            _ = guard.cancel.cancelled() => return Err(LakegateError::Canceled),
        };
        if let Some(tag) = tag {
            return Ok(Response::Execution(Tag::new(tag)));
        }
        // SQL-level EXECUTE: the result is that of the prepared statement, known only now.
        let planned = match planned.plan {
            LogicalPlan::Statement(PlanStatement::Execute(_)) => {
                self.describe(frame.logical_plan().clone())
            }
            _ => planned,
        };
        let fields = Arc::new(self.fields(&planned, format)?);
        let stream = tokio::select! {
            stream = frame.execute_stream() => stream?,
            _ = guard.cancel.cancelled() => return Err(LakegateError::Canceled),
        };
        let text_timestamps = self.text_timestamps(&planned, format, copy);
        let batches = guarded_batches(stream, planned.wire_schema, guard, text_timestamps);
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

    fn statement_timeout_ms(&self) -> u64 {
        self.settings
            .read()
            .expect("settings lock")
            .statement_timeout_ms()
    }

    /// Runs one command. `status` is the transaction status before it.
    pub async fn run<C>(
        &self,
        client: &mut C,
        command: Command,
        status: TransactionStatus,
        format: &Format,
    ) -> Result<Response, LakegateError>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let ends_transaction = matches!(
            command,
            Command::Commit | Command::Rollback | Command::RollbackToSavepoint
        );
        if status == TransactionStatus::Error && !ends_transaction {
            return Err(LakegateError::InFailedTransaction);
        }
        let in_block = status != TransactionStatus::Idle;
        Ok(match command {
            Command::Query(statement) => {
                self.execute(self.plan(&statement).await?, format, None)
                    .await?
            }
            Command::CopyOut {
                query,
                format: copy,
            } => {
                self.execute(self.plan(&query).await?, &Format::UnifiedText, Some(copy))
                    .await?
            }
            Command::Set { name, value } => {
                self.set(client, &name, value.as_deref()).await?;
                Response::Execution(Tag::new("SET"))
            }
            Command::Reset { name: Some(name) } => {
                self.set(client, &name, None).await?;
                Response::Execution(Tag::new("RESET"))
            }
            Command::Reset { name: None } => {
                self.reset_all(client).await?;
                Response::Execution(Tag::new("RESET"))
            }
            Command::Show { name } => self.show(&name, format)?,
            Command::ShowAll => self.show_all(format)?,
            Command::Ignored { tag } => Response::Execution(Tag::new(tag)),
            Command::Begin if in_block => Response::Execution(Tag::new("BEGIN")),
            Command::Begin => Response::TransactionStart(Tag::new("BEGIN")),
            Command::Commit if status == TransactionStatus::Error => {
                Response::TransactionEnd(Tag::new("ROLLBACK"))
            }
            Command::Commit => Response::TransactionEnd(Tag::new("COMMIT")),
            Command::Rollback => Response::TransactionEnd(Tag::new("ROLLBACK")),
            Command::Savepoint | Command::ReleaseSavepoint | Command::RollbackToSavepoint
                if !in_block =>
            {
                return Err(LakegateError::NoTransaction)
            }
            Command::Savepoint => Response::Execution(Tag::new("SAVEPOINT")),
            Command::ReleaseSavepoint => Response::Execution(Tag::new("RELEASE")),
            Command::RollbackToSavepoint => Response::Execution(Tag::new("ROLLBACK")),
            Command::DiscardAll => {
                self.reset_all(client).await?;
                self.deallocate(client, None).await?;
                Response::Execution(Tag::new("DISCARD ALL"))
            }
            Command::Deallocate { name } => {
                let tag = if name.is_some() {
                    "DEALLOCATE"
                } else {
                    "DEALLOCATE ALL"
                };
                self.deallocate(client, name).await?;
                Response::Execution(Tag::new(tag))
            }
        })
    }

    async fn set<C>(
        &self,
        client: &mut C,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), LakegateError>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (canonical, reported, current) = {
            let mut settings = self.settings.write().expect("settings lock");
            let (canonical, reported) = settings.set(name, value)?;
            (canonical, reported, settings.get(canonical)?.1.to_owned())
        };
        if canonical == "search_path" {
            self.apply_search_path();
        }
        if reported {
            let message = PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                canonical.to_owned(),
                current,
            ));
            futures::SinkExt::feed(client, message)
                .await
                .map_err(|e| LakegateError::Internal(format!("{e:?}")))?;
        }
        Ok(())
    }

    async fn reset_all<C>(&self, client: &mut C) -> Result<(), LakegateError>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let names: Vec<&'static str> = self
            .settings
            .read()
            .expect("settings lock")
            .all()
            .map(|(n, _)| n)
            .collect();
        for name in names {
            match self.set(client, name, None).await {
                Ok(()) | Err(LakegateError::ReadOnlySetting(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// DEALLOCATE: a protocol-level prepared statement, else a SQL-level one (PREPARE).
    async fn deallocate<C>(&self, client: &mut C, name: Option<String>) -> Result<(), LakegateError>
    where
        C: ClientInfo + ClientPortalStore,
        C::PortalStore: PortalStore,
    {
        let known = {
            let mut names = self.statement_names.lock().expect("statement names");
            match &name {
                None => std::mem::take(&mut *names).into_iter().collect(),
                Some(name) if names.remove(name) => vec![name.clone()],
                Some(_) => Vec::new(),
            }
        };
        known
            .iter()
            .for_each(|n| client.portal_store().rm_statement(n));
        let Some(name) = name.filter(|_| known.is_empty()) else {
            return Ok(());
        };
        let sql = format!("DEALLOCATE {}", quote_ident(&name));
        self.ctx
            .sql(&sql)
            .await
            .map_err(|_| LakegateError::UnknownPreparedStatement(name))?;
        Ok(())
    }

    /// Remembers a protocol-level prepared statement's name (for DEALLOCATE ALL).
    pub fn remember_statement(&self, name: &str) {
        self.statement_names
            .lock()
            .expect("statement names")
            .insert(name.to_owned());
    }

    fn show(&self, name: &str, format: &Format) -> Result<Response, LakegateError> {
        let settings = self.settings.read().expect("settings lock");
        let (canonical, value) = settings.get(name)?;
        text_rows(&[canonical], vec![vec![value.to_owned()]], format)
    }

    fn show_all(&self, format: &Format) -> Result<Response, LakegateError> {
        let settings = self.settings.read().expect("settings lock");
        let rows = settings
            .all()
            .map(|(n, v)| vec![n.to_owned(), v.to_owned(), String::new()])
            .collect();
        text_rows(&["name", "setting", "description"], rows, format)
    }
}

/// A small result of text columns, built in memory (SHOW).
fn text_rows(
    columns: &[&str],
    rows: Vec<Vec<String>>,
    format: &Format,
) -> Result<Response, LakegateError> {
    let fields: Vec<FieldInfo> = columns
        .iter()
        .enumerate()
        .map(|(i, name)| {
            FieldInfo::new(
                (*name).to_owned(),
                None,
                None,
                Type::TEXT,
                format.format_for(i),
            )
        })
        .collect();
    let fields = Arc::new(fields);
    let encoded = rows
        .into_iter()
        .map(|row| {
            let mut encoder = DataRowEncoder::new(Arc::clone(&fields));
            row.iter()
                .try_for_each(|v| encoder.encode_field(&Some(v.as_str())))?;
            Ok(encoder.take_row())
        })
        .collect::<Vec<_>>();
    Ok(Response::Query(QueryResponse::new(
        fields,
        futures::stream::iter(encoded),
    )))
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
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
        Ok(if refusal.is_some() {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    match refusal {
        Some(what) => Err(LakegateError::PermissionDenied(format!(
            "{what} is not allowed: this gateway serves the lake read-only"
        ))),
        None => Ok(()),
    }
}
