//! pgwire's query handlers. The `on_*` methods are pgwire's protocol bookkeeping (message order,
//! portals, ReadyForQuery); the `do_*` methods hand each statement to the [`Session`].

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use futures::{Sink, SinkExt};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{send_describe_response, ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{DescribePortalResponse, FieldInfo, Response};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState, Type, DEFAULT_NAME};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::extendedquery::{
    Describe, Execute, Parse, ParseComplete, TARGET_TYPE_BYTE_PORTAL,
};
use pgwire::messages::response::TransactionStatus;
use pgwire::messages::simplequery::Query;
use pgwire::messages::PgWireBackendMessage;

use super::encode::field_infos;
use super::execute::PlannedQuery;
use super::params::bind;
use super::portal_execute;
use super::query_id;
use super::savepoint;
use super::Session;
use crate::audit::{StatementAudit, StatementSource};
use crate::error::LakegateError;
use crate::statement::{self, Command};
use datafusion::sql::sqlparser::ast::Statement;

/// A statement prepared with Parse: the command, and for queries their plan.
#[derive(Debug)]
pub struct PreparedCommand {
    /// The statement's text, for the audit record of each execution.
    sql: String,
    command: Command,
    planned: Option<PlannedQuery>,
    /// Types of `$1`, `$2`, …, as inferred from the plan (`None` where it cannot tell).
    param_types: Vec<Option<DataType>>,
    /// Placeholders (`$n`) whose type is `oid[]` (see [`super::params::oid_array_placeholders`]).
    oid_arrays: std::collections::HashSet<String>,
}

pub type PreparedStatement = Arc<PreparedCommand>;

fn session_of<C: ClientInfo>(client: &C) -> PgWireResult<Arc<Session>> {
    client
        .session_extensions()
        .get::<Arc<Session>>()
        .map(|session| Arc::clone(&*session))
        .ok_or_else(|| {
            LakegateError::Protocol("no session: authenticate first".into()).into_pgwire()
        })
}

/// Simple and extended query handling for one connection.
#[derive(Default)]
pub struct QueryHandler {
    parser: Arc<LakeQueryParser>,
}

/// The transaction status after a response, as pgwire will compute it.
pub(super) fn status_after(status: TransactionStatus, response: &Response) -> TransactionStatus {
    match response {
        Response::TransactionStart(_) => status.to_in_transaction_state(),
        Response::TransactionEnd(_) => status.to_idle_state(),
        Response::Error(_) => status.to_error_state(),
        _ => status,
    }
}

#[async_trait]
impl SimpleQueryHandler for QueryHandler {
    /// As pgwire's, except for ROLLBACK TO SAVEPOINT in a failed transaction (see
    /// [`savepoint`]).
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let recovering = client.transaction_status() == TransactionStatus::Error
            && savepoint::is_rollback_to_savepoint(&query.query);
        if !recovering {
            return self._on_query(client, query).await;
        }
        client.set_state(PgWireConnectionState::QueryInProgress);
        let responses = SimpleQueryHandler::do_query(self, client, &query.query).await?;
        savepoint::answer_simple(client, responses).await
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client)?;
        let source = |text: String| StatementSource {
            text,
            protocol: "simple",
            prepared: None,
            unparsed: false,
        };
        let commands = match session.parsed.parse(query) {
            Ok(commands) => commands,
            Err(e) => {
                let unparsed = StatementSource {
                    unparsed: true,
                    ..source(query.to_owned())
                };
                let error = session.audit_failure(unparsed, e).await;
                return Err(error.into_pgwire());
            }
        };
        if commands.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let texts = crate::audit::statement_texts(query, commands.len());
        let mut status = client.transaction_status();
        let mut responses = Vec::with_capacity(commands.len());
        for (command, text) in commands.into_iter().zip(texts) {
            let mut audit = session.audit_statement(source(text));
            let id = audit.query_id().to_owned();
            let format = &Format::UnifiedText;
            let run = session.run(client, command, status, format, &mut audit);
            match query_id::scope(id.clone(), run).await {
                Ok(response) => {
                    audit.finish(Ok(())).await;
                    status = status_after(status, &response);
                    responses.push(response);
                }
                Err(e) => {
                    let error = query_id::sync_scope(id, || e.to_client());
                    audit.finish(Err(&error)).await;
                    responses.push(Response::Error(Box::new(error.into_error_info())));
                    break;
                }
            }
        }
        Ok(responses)
    }
}

#[async_trait]
impl ExtendedQueryHandler for QueryHandler {
    type Statement = PreparedStatement;
    type QueryParser = LakeQueryParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        Arc::clone(&self.parser)
    }

    /// As pgwire's default, plus remembering named statements for DEALLOCATE ALL.
    async fn on_parse<C>(&self, client: &mut C, message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message
            .name
            .clone()
            .unwrap_or_else(|| DEFAULT_NAME.to_owned());
        match StoredStatement::parse(client, &message, self.query_parser()).await? {
            Some(stmt) => client.portal_store().put_statement(Arc::new(stmt)),
            None => client.portal_store().put_empty_statement(&name),
        }
        if message.name.is_some() {
            session_of(client)?.remember_statement(&name);
        }
        client
            .send(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
            .await?;
        Ok(())
    }

    /// As pgwire's default, except that a portal name may be a SQL cursor's: PostgreSQL keeps
    /// both in one namespace, and psycopg 3 describes its cursor after DECLARE.
    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let cursor = match (message.target_type, message.name.as_deref()) {
            (TARGET_TYPE_BYTE_PORTAL, Some(name)) => session_of(client)?.cursor_fields(name),
            _ => None,
        };
        match cursor {
            Some(fields) => {
                let response = DescribePortalResponse::new(fields.as_ref().clone());
                send_describe_response(client, &response).await
            }
            None => self._on_describe(client, message).await,
        }
    }

    /// As pgwire's, except that rows are streamed (see [`portal_execute`]) and that a ROLLBACK
    /// TO SAVEPOINT that succeeds in a failed transaction leaves it in progress again (see
    /// [`savepoint`]).
    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        let recovering = client.transaction_status() == TransactionStatus::Error
            && match client.portal_store().get_portal(name) {
                Some(Entry::Value(portal)) => matches!(
                    portal.statement.statement.command,
                    Command::RollbackToSavepoint
                ),
                _ => false,
            };
        portal_execute::execute(self, client, message).await?;
        if recovering {
            client.set_transaction_status(TransactionStatus::Transaction);
        }
        Ok(())
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client)?;
        let prepared = Arc::clone(&portal.statement.statement);
        let mut audit = session.audit_statement(StatementSource {
            text: prepared.sql.clone(),
            protocol: "extended",
            prepared: Some(portal.statement.id.clone()),
            unparsed: false,
        });
        let id = audit.query_id().to_owned();
        let status = client.transaction_status();
        let format = &portal.result_column_format;
        let run = async {
            match (&prepared.command, &prepared.planned) {
                (Command::Declare { query, .. }, Some(planned))
                | (Command::Query(query), Some(planned))
                | (Command::CopyOut { query, .. }, Some(planned)) => {
                    execute_prepared(
                        &session, &prepared, query, planned, portal, &mut audit, status,
                    )
                    .await
                }
                (command, _) => {
                    let command = command.clone();
                    session
                        .run(client, command, status, format, &mut audit)
                        .await
                }
            }
        };
        match query_id::scope(id.clone(), run).await {
            Ok(response) => {
                audit.finish(Ok(())).await;
                Ok(response)
            }
            Err(e) => {
                let error = query_id::sync_scope(id, || e.to_client());
                audit.finish(Err(&error)).await;
                Err(error.into_pgwire())
            }
        }
    }
}

/// Execute of a prepared query: planned again if the policy or catalog changed since Parse,
/// parameters bound, then run like any query.
async fn execute_prepared(
    session: &Session,
    prepared: &PreparedCommand,
    statement: &Statement,
    planned: &PlannedQuery,
    portal: &Portal<PreparedStatement>,
    audit: &mut StatementAudit,
    status: TransactionStatus,
) -> Result<Response, LakegateError> {
    let (class, tag) = prepared.command.audit_class();
    audit.classify(class, &tag);
    if status == TransactionStatus::Error {
        return Err(LakegateError::InFailedTransaction);
    }
    // Renames held by the transaction take effect before a query reads (it is planned again
    // below if they changed the catalog).
    session.apply_renames(audit).await?;
    let copy = match &prepared.command {
        Command::CopyOut { format, .. } => Some(*format),
        _ => None,
    };
    let planned = session.replan_if_policy_changed(statement, planned).await?;
    let bound = bind(portal, &prepared.param_types, planned)?;
    if let Command::Declare {
        name, hold, binary, ..
    } = &prepared.command
    {
        return session
            .declare(name, bound, (*hold, *binary), status, audit)
            .await;
    }
    session
        .execute(bound, &portal.result_column_format, copy, audit)
        .await
}

/// Parse: one statement, planned now so Describe can report parameter and result types.
#[derive(Debug, Default)]
pub struct LakeQueryParser;

#[async_trait]
impl QueryParser for LakeQueryParser {
    type Statement = PreparedStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let session = session_of(client)?;
        let (command, planned, param_types) = match parse_and_plan(&session, sql).await {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return Ok(None),
            // A statement that fails at Parse never executes: its one record is written here.
            Err(e) => {
                let source = StatementSource {
                    text: sql.to_owned(),
                    protocol: "extended",
                    prepared: None,
                    unparsed: statement::parse(sql).is_err(),
                };
                return Err(session.audit_failure(source, e).await.into_pgwire());
            }
        };
        let oid_arrays = match &command {
            Command::Query(statement) => super::params::oid_array_placeholders(statement),
            _ => Default::default(),
        };
        Ok(Some(Arc::new(PreparedCommand {
            sql: sql.to_owned(),
            command,
            planned,
            param_types,
            oid_arrays,
        })))
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        stmt.param_types
            .iter()
            .enumerate()
            .map(|(i, t)| match t {
                _ if stmt.oid_arrays.contains(&format!("${}", i + 1)) => Ok(Type::OID_ARRAY),
                Some(t) => arrow_pg::datatypes::into_pg_type(t),
                None => Ok(Type::TEXT), // PostgreSQL resolves an unknown parameter as text
            })
            .collect()
    }

    fn get_result_schema(
        &self,
        stmt: &Self::Statement,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let format = format.unwrap_or(&Format::UnifiedText);
        match (&stmt.command, &stmt.planned) {
            (Command::Query(_), Some(planned)) => field_infos(
                &planned.wire_schema,
                &planned.names,
                &planned.origins,
                format,
                Arc::default(),
            ),
            (Command::Show { name }, _) => Ok(vec![FieldInfo::new(
                name.clone(),
                None,
                None,
                Type::TEXT,
                format.format_for(0),
            )]),
            _ => Ok(Vec::new()),
        }
    }
}

/// A parsed statement, with its plan and parameter types when it is a query.
type Parsed = (Command, Option<PlannedQuery>, Vec<Option<DataType>>);

/// One statement, with its plan when it is a query.
async fn parse_and_plan(session: &Session, sql: &str) -> Result<Option<Parsed>, LakegateError> {
    let mut commands = session.parsed.parse(sql)?;
    let command = match commands.len() {
        0 => return Ok(None),
        1 => commands.remove(0),
        _ => {
            let message = "cannot insert multiple commands into a prepared statement";
            return Err(LakegateError::Syntax(message.into()));
        }
    };
    let planned = match &command {
        Command::Query(statement)
        | Command::CopyOut {
            query: statement, ..
        }
        | Command::Declare {
            query: statement, ..
        } => Some(session.plan(statement).await?),
        _ => None,
    };
    let param_types = match &planned {
        Some(planned) => parameter_types(&planned.plan)?,
        None => Vec::new(),
    };
    Ok(Some((command, planned, param_types)))
}

/// `$1 … $n` in order; a gap (a parameter the statement never uses) gets no type.
fn parameter_types(
    plan: &datafusion::logical_expr::LogicalPlan,
) -> datafusion::error::Result<Vec<Option<DataType>>> {
    let mut types = plan.get_parameter_types()?;
    for (name, data_type) in super::params::array_parameter_types(plan)? {
        if let Some(slot @ None) = types.get_mut(&name) {
            *slot = Some(data_type);
        }
    }
    let count = types
        .keys()
        .filter_map(|k| k.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()))
        .max()
        .unwrap_or(0);
    Ok((1..=count)
        .map(|i| types.get(&format!("${i}")).cloned().flatten())
        .collect())
}
