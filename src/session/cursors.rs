//! SQL cursors: DECLARE … CURSOR FOR, FETCH, MOVE and CLOSE (psql's FETCH_COUNT, the named
//! cursors of psycopg 2 and 3, asyncpg's `cursor.forward`).
//!
//! A cursor is its query's result stream, kept open in the session and read a few rows per
//! FETCH, so a large result is never collected (D12). The query is planned, audited and
//! decided at DECLARE, like any query; its terminal audit record is written when the stream
//! ends or the cursor is closed (then it says `partial`). As in PostgreSQL, cursors without
//! HOLD live until the end of their transaction, and cursors share one namespace with
//! protocol-level portals: FETCH and MOVE also read a portal bound with the extended protocol,
//! and Describe(portal) describes a cursor (psycopg 3 does both).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use pgwire::api::portal::{Format, PortalExecutionState};
use pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::ClientPortalStore;
use pgwire::error::PgWireError;
use pgwire::messages::data::DataRow;
use pgwire::messages::response::TransactionStatus;
use tokio::sync::Mutex as AsyncMutex;

use super::execute::PlannedQuery;
use super::Session;
use crate::audit::StatementAudit;
use crate::error::LakegateError;
use crate::statement::FetchCount;

/// One open cursor: its row description and the suspended stream of its rows (the state a
/// pgwire portal keeps between Executes).
struct SqlCursor {
    fields: Arc<Vec<FieldInfo>>,
    rows: AsyncMutex<PortalExecutionState>,
    hold: bool,
}

/// The session's open cursors by name.
#[derive(Default)]
pub struct Cursors {
    open: Mutex<HashMap<String, Arc<SqlCursor>>>,
}

impl Cursors {
    fn get(&self, name: &str) -> Option<Arc<SqlCursor>> {
        self.open.lock().expect("cursors lock").get(name).cloned()
    }

    fn remove(&self, name: &str) -> bool {
        self.open
            .lock()
            .expect("cursors lock")
            .remove(name)
            .is_some()
    }

    /// COMMIT and ROLLBACK close the cursors declared without HOLD.
    pub fn end_transaction(&self) {
        self.open
            .lock()
            .expect("cursors lock")
            .retain(|_, c| c.hold);
    }

    pub fn close_all(&self) {
        self.open.lock().expect("cursors lock").clear();
    }
}

impl Session {
    /// DECLARE: runs the planned query into a new cursor.
    pub async fn declare(
        &self,
        name: &str,
        planned: PlannedQuery,
        (hold, binary): (bool, bool),
        status: TransactionStatus,
        audit: &mut StatementAudit,
    ) -> Result<Response, LakegateError> {
        if status == TransactionStatus::Idle && !hold {
            return Err(LakegateError::CursorOutsideTransaction);
        }
        if self.cursors.get(name).is_some() {
            return Err(LakegateError::DuplicateCursor(name.to_owned()));
        }
        let format = match binary {
            true => Format::UnifiedBinary,
            false => Format::UnifiedText,
        };
        let Response::Query(rows) = self.execute(planned, &format, None, audit).await? else {
            return Err(LakegateError::Internal(
                "a cursor's query returned no rows".into(),
            ));
        };
        let cursor = SqlCursor {
            fields: rows.row_schema(),
            rows: AsyncMutex::new(PortalExecutionState::Suspended(rows)),
            hold,
        };
        let mut open = self.cursors.open.lock().expect("cursors lock");
        open.insert(name.to_owned(), Arc::new(cursor));
        Ok(Response::Execution(Tag::new("DECLARE CURSOR")))
    }

    /// FETCH or MOVE: the next rows of a cursor, or of a protocol-level portal of that name.
    pub async fn fetch<C>(
        &self,
        client: &mut C,
        name: &str,
        count: FetchCount,
        discard: bool,
    ) -> Result<Response, LakegateError>
    where
        C: ClientPortalStore,
        C::PortalStore: PortalStore,
    {
        let max_rows = match count {
            FetchCount::Rows(n) => Some(n),
            FetchCount::All => None,
        };
        if let Some(cursor) = self.cursors.get(name) {
            let (fields, rows) = take_rows(&cursor.rows, max_rows).await?;
            return Ok(fetched(rows, fields, discard));
        }
        // Only the state is kept across the await: a portal's statement type need not be Send.
        let state = match client.portal_store().get_portal(name) {
            Some(Entry::Value(portal)) => Arc::clone(&portal.state),
            _ => return Err(LakegateError::UnknownCursor(name.to_owned())),
        };
        let (fields, rows) = take_rows(&state, max_rows).await?;
        Ok(fetched(rows, fields, discard))
    }

    /// CLOSE name / CLOSE ALL.
    pub fn close<C>(&self, client: &mut C, name: Option<&str>) -> Result<Response, LakegateError>
    where
        C: ClientPortalStore,
        C::PortalStore: PortalStore,
    {
        let tag = Response::Execution(Tag::new("CLOSE CURSOR"));
        let Some(name) = name else {
            self.cursors.close_all();
            client.portal_store().clear_portals();
            return Ok(Response::Execution(Tag::new("CLOSE CURSOR ALL")));
        };
        if self.cursors.remove(name) {
            return Ok(tag);
        }
        match client.portal_store().get_portal(name) {
            Some(_) => {
                client.portal_store().rm_portal(name);
                Ok(tag)
            }
            None => Err(LakegateError::UnknownCursor(name.to_owned())),
        }
    }

    /// The row description of an open cursor, for Describe(portal).
    pub fn cursor_fields(&self, name: &str) -> Option<Arc<Vec<FieldInfo>>> {
        self.cursors.get(name).map(|c| Arc::clone(&c.fields))
    }
}

/// Reads up to `max_rows` (all for `None`) from a suspended result; past its end there are no
/// more rows, as in PostgreSQL.
async fn take_rows(
    state: &AsyncMutex<PortalExecutionState>,
    max_rows: Option<usize>,
) -> Result<(Arc<Vec<FieldInfo>>, Vec<DataRow>), LakegateError> {
    let mut state = state.lock().await;
    let response = match &mut *state {
        PortalExecutionState::Suspended(response) => response,
        PortalExecutionState::Finished => return Ok((Arc::default(), Vec::new())),
        // pgwire runs a portal at its first Execute; only the extended protocol can start it.
        PortalExecutionState::Initial => {
            return Err(LakegateError::NotSupported(
                "FETCH and MOVE need a portal that has been executed once".into(),
            ))
        }
    };
    let fields = response.row_schema();
    let mut rows = Vec::new();
    let mut finished = false;
    while max_rows.is_none_or(|max| rows.len() < max) {
        match response.data_rows().next().await {
            Some(row) => rows.push(row.map_err(pgwire_error)?),
            None => {
                finished = true;
                break;
            }
        }
    }
    if finished {
        *state = PortalExecutionState::Finished;
    }
    Ok((fields, rows))
}

/// FETCH answers with the rows and `FETCH n`; MOVE with `MOVE n` only.
fn fetched(rows: Vec<DataRow>, fields: Arc<Vec<FieldInfo>>, discard: bool) -> Response {
    if discard {
        return Response::Execution(Tag::new("MOVE").with_rows(rows.len()));
    }
    let mut response = QueryResponse::new(fields, futures::stream::iter(rows.into_iter().map(Ok)));
    response.set_command_tag("FETCH");
    Response::Query(response)
}

/// A cursor's stream fails with the statement's error, already classified for the client.
fn pgwire_error(e: PgWireError) -> LakegateError {
    match e {
        PgWireError::UserError(info) => match crate::error::ClientError::from_info(&info) {
            Some(error) => LakegateError::Reported(error),
            None => LakegateError::Internal(format!("{info:?}")),
        },
        other => LakegateError::Internal(other.to_string()),
    }
}
