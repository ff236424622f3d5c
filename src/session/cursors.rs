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
    /// The policy the rows were planned under; a reload closes the cursor.
    epoch: u64,
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
            epoch: self.view.load().access.epoch,
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
        // Rows go on being read after DECLARE: the session's token and policy are checked at
        // each FETCH, as each statement's are.
        let view = self.current_view().await?;
        if let Some(cursor) = self.cursors.get(name) {
            if view.access.epoch != cursor.epoch {
                self.cursors.remove(name);
                return Err(LakegateError::PermissionDenied(format!(
                    "the access policy changed since cursor \"{name}\" was declared; declare it again"
                )));
            }
            let (_, rows) = take_rows(&cursor.rows, max_rows, !discard).await?;
            return Ok(fetched(rows, Arc::clone(&cursor.fields), discard));
        }
        // Only the state is kept across the await: a portal's statement type need not be Send.
        let state = match client.portal_store().get_portal(name) {
            Some(Entry::Value(portal)) => Arc::clone(&portal.state),
            _ => return Err(LakegateError::UnknownCursor(name.to_owned())),
        };
        let (fields, rows) = take_rows(&state, max_rows, !discard).await?;
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
/// more rows, as in PostgreSQL. MOVE (`keep` false) counts the rows without holding them.
async fn take_rows(
    state: &AsyncMutex<PortalExecutionState>,
    max_rows: Option<usize>,
    keep: bool,
) -> Result<(Arc<Vec<FieldInfo>>, Rows), LakegateError> {
    let mut state = state.lock().await;
    let response = match &mut *state {
        PortalExecutionState::Suspended(response) => response,
        PortalExecutionState::Finished => return Ok((Arc::default(), Rows::default())),
        // pgwire runs a portal at its first Execute; only the extended protocol can start it.
        PortalExecutionState::Initial => {
            return Err(LakegateError::NotSupported(
                "FETCH and MOVE need a portal that has been executed once".into(),
            ))
        }
    };
    let fields = response.row_schema();
    let mut rows = Rows::default();
    let mut finished = false;
    while max_rows.is_none_or(|max| rows.count < max) {
        match response.data_rows().next().await {
            Some(row) => {
                let row = row.map_err(pgwire_error)?;
                rows.count += 1;
                if keep {
                    rows.kept.push(row);
                }
            }
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

/// Rows read from a cursor: how many, and those kept for a FETCH.
#[derive(Default)]
struct Rows {
    count: usize,
    kept: Vec<DataRow>,
}

/// FETCH answers with the rows and `FETCH n`; MOVE with `MOVE n` only.
fn fetched(rows: Rows, fields: Arc<Vec<FieldInfo>>, discard: bool) -> Response {
    if discard {
        return Response::Execution(Tag::new("MOVE").with_rows(rows.count));
    }
    let rows = rows.kept.into_iter().map(Ok);
    let mut response = QueryResponse::new(fields, futures::stream::iter(rows));
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
