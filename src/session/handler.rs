//! pgwire's query handlers. The `on_*` methods are pgwire's protocol bookkeeping (message order,
//! portals, ReadyForQuery); the `do_*` methods hand each statement to the [`Session`].

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use futures::{Sink, SinkExt};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, Response};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type, DEFAULT_NAME};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::extendedquery::{Parse, ParseComplete};
use pgwire::messages::response::TransactionStatus;
use pgwire::messages::PgWireBackendMessage;

use super::encode::field_infos;
use super::execute::PlannedQuery;
use super::Session;
use crate::error::LakegateError;
use crate::statement::{self, Command};

/// A statement prepared with Parse: the command, and for queries their plan.
#[derive(Debug)]
pub struct PreparedCommand {
    command: Command,
    planned: Option<PlannedQuery>,
    /// Types of `$1`, `$2`, …, as inferred from the plan (`None` where it cannot tell).
    param_types: Vec<Option<DataType>>,
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
fn status_after(status: TransactionStatus, response: &Response) -> TransactionStatus {
    match response {
        Response::TransactionStart(_) => status.to_in_transaction_state(),
        Response::TransactionEnd(_) => status.to_idle_state(),
        Response::Error(_) => status.to_error_state(),
        _ => status,
    }
}

#[async_trait]
impl SimpleQueryHandler for QueryHandler {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client)?;
        let commands = statement::parse(query).map_err(LakegateError::into_pgwire)?;
        if commands.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut status = client.transaction_status();
        let mut responses = Vec::with_capacity(commands.len());
        for command in commands {
            match session
                .run(client, command, status, &Format::UnifiedText)
                .await
            {
                Ok(response) => {
                    status = status_after(status, &response);
                    responses.push(response);
                }
                Err(e) => {
                    responses.push(Response::Error(Box::new(e.to_client().into_error_info())));
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
        let status = client.transaction_status();
        let format = &portal.result_column_format;
        let result = match (&prepared.command, &prepared.planned) {
            (Command::Query(_) | Command::CopyOut { .. }, Some(planned)) => {
                if status == TransactionStatus::Error {
                    return Err(LakegateError::InFailedTransaction.into_pgwire());
                }
                let copy = match &prepared.command {
                    Command::CopyOut { format, .. } => Some(*format),
                    _ => None,
                };
                let statement = match &prepared.command {
                    Command::Query(statement)
                    | Command::CopyOut {
                        query: statement, ..
                    } => statement,
                    _ => unreachable!("matched above"),
                };
                let planned = session
                    .replan_if_policy_changed(statement, planned)
                    .await
                    .map_err(LakegateError::into_pgwire)?;
                let bound = bind(portal, &prepared.param_types, planned)?;
                session.execute(bound, format, copy).await
            }
            (command, _) => session.run(client, command.clone(), status, format).await,
        };
        result.map_err(LakegateError::into_pgwire)
    }
}

/// Decodes the Bind parameters (text or binary, typed by the client or by inference) and puts
/// them into the plan, cast to the types the plan expects.
fn bind(
    portal: &Portal<PreparedStatement>,
    types: &[Option<DataType>],
    mut planned: PlannedQuery,
) -> PgWireResult<PlannedQuery> {
    if portal.parameter_len() == 0 {
        return Ok(planned);
    }
    let inferred: Vec<Option<&DataType>> = types.iter().map(Option::as_ref).collect();
    let values = arrow_pg::datatypes::df::deserialize_parameters(portal, &inferred)?;
    let datafusion::common::ParamValues::List(values) = values else {
        return Err(
            LakegateError::Protocol("named parameters are not supported".into()).into_pgwire(),
        );
    };
    let cast: Vec<ScalarValue> = values
        .into_iter()
        .enumerate()
        .map(|(i, v)| match types.get(i).and_then(Option::as_ref) {
            Some(ty) if v.value.data_type() != *ty && !v.value.is_null() => v.value.cast_to(ty),
            Some(ty) if v.value.is_null() => ScalarValue::try_from(ty),
            _ => Ok(v.value),
        })
        .collect::<Result<_, _>>()
        .map_err(|e| LakegateError::Engine(e).into_pgwire())?;
    planned.plan = planned
        .plan
        .with_param_values(cast)
        .map_err(|e| LakegateError::Engine(e).into_pgwire())?;
    Ok(planned)
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
        let mut commands = statement::parse(sql).map_err(LakegateError::into_pgwire)?;
        let command = match commands.len() {
            0 => return Ok(None),
            1 => commands.remove(0),
            _ => {
                let message = "cannot insert multiple commands into a prepared statement";
                return Err(LakegateError::Syntax(message.into()).into_pgwire());
            }
        };
        let planned = match &command {
            Command::Query(statement)
            | Command::CopyOut {
                query: statement, ..
            } => Some(
                session
                    .plan(statement)
                    .await
                    .map_err(LakegateError::into_pgwire)?,
            ),
            _ => None,
        };
        let param_types = match &planned {
            Some(planned) => parameter_types(&planned.plan)
                .map_err(|e| LakegateError::Engine(e).into_pgwire())?,
            None => Vec::new(),
        };
        Ok(Some(Arc::new(PreparedCommand {
            command,
            planned,
            param_types,
        })))
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        stmt.param_types
            .iter()
            .map(|t| match t {
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

/// `$1 … $n` in order; a gap (a parameter the statement never uses) gets no type.
fn parameter_types(
    plan: &datafusion::logical_expr::LogicalPlan,
) -> datafusion::error::Result<Vec<Option<DataType>>> {
    let types = plan.get_parameter_types()?;
    let count = types
        .keys()
        .filter_map(|k| k.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()))
        .max()
        .unwrap_or(0);
    Ok((1..=count)
        .map(|i| types.get(&format!("${i}")).cloned().flatten())
        .collect())
}
