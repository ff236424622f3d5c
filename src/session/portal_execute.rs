//! Execute, for the extended protocol: pgwire's `_on_execute`, except for how rows leave a
//! portal.
//!
//! pgwire 0.41 fetches a portal's rows into a `Vec` before sending any, sized up front by the
//! client's `max_rows` (`message.max_rows as usize`). So:
//! - a negative `max_rows` panicked the connection task ("capacity overflow");
//! - a large one (`i32::MAX`) asked for tens of GB at once, and a failed allocation aborts the
//!   whole process;
//! - with `max_rows` 0 (all rows, what every driver sends) a whole result was held in memory
//!   before its first row was sent.
//!
//! Here rows are streamed from the portal to the client as they come, counting to `max_rows`;
//! `max_rows <= 0` means all rows, as in PostgreSQL (`exec_execute_message`).

use std::fmt::Debug;

use futures::{Sink, SinkExt, StreamExt};
use pgwire::api::copy::{send_copy_both_response, send_copy_in_response, send_copy_out_response};
use pgwire::api::portal::{Portal, PortalExecutionState};
use pgwire::api::query::{send_execution_response, ExtendedQueryHandler};
use pgwire::api::results::{Response, Tag};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState, DEFAULT_NAME};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::extendedquery::{Execute, PortalSuspended};
use pgwire::messages::response::{EmptyQueryResponse, TransactionStatus};
use pgwire::messages::PgWireBackendMessage;

use super::handler::status_after;

/// The number of rows an Execute asks for; `None` for all of them.
pub fn row_limit(max_rows: i32) -> Option<usize> {
    usize::try_from(max_rows).ok().filter(|&rows| rows > 0)
}

/// Runs the portal `message` names (on its first Execute) and sends its rows.
pub async fn execute<H, C>(handler: &H, client: &mut C, message: Execute) -> PgWireResult<()>
where
    H: ExtendedQueryHandler + ?Sized,
    C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::PortalStore: PortalStore<Statement = H::Statement>,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
        return Err(PgWireError::NotReadyForQuery);
    }
    let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
    let portal = match client.portal_store().get_portal(name) {
        Some(Entry::Value(portal)) => portal,
        Some(Entry::Empty) => {
            // An empty statement's portal never runs and stays valid for another Execute.
            let empty = PgWireBackendMessage::EmptyQueryResponse(EmptyQueryResponse::new());
            return Ok(client.feed(empty).await?);
        }
        None => return Err(PgWireError::PortalNotFound(name.to_owned())),
    };
    let mut status = client.transaction_status();
    client.set_state(PgWireConnectionState::QueryInProgress);
    let limit = row_limit(message.max_rows);
    let first_execution = matches!(&*portal.state.lock().await, PortalExecutionState::Initial);
    let has_rows = if first_execution {
        // pgwire hands `do_query` the count; lakegate's ignores it (rows are counted below).
        let limit_hint = limit.unwrap_or(0);
        let response = handler.do_query(client, &portal, limit_hint).await?;
        respond(client, &portal, response, &mut status).await?
    } else {
        true
    };
    if has_rows {
        send_rows(client, &portal, limit).await?;
    }
    if !matches!(client.state(), PgWireConnectionState::CopyInProgress(_)) {
        client.set_state(PgWireConnectionState::ReadyForQuery);
        client.set_transaction_status(status);
    }
    Ok(())
}

/// Answers a statement's first execution; `true` when it has rows to send.
async fn respond<S, C>(
    client: &mut C,
    portal: &Portal<S>,
    response: Response,
    status: &mut TransactionStatus,
) -> PgWireResult<bool>
where
    S: Clone,
    C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::PortalStore: PortalStore,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    *status = status_after(*status, &response);
    match response {
        Response::Query(results) => {
            portal.start(results).await;
            return Ok(true);
        }
        Response::EmptyQuery => {
            let empty = PgWireBackendMessage::EmptyQueryResponse(EmptyQueryResponse::new());
            client.feed(empty).await?;
        }
        Response::Execution(tag) | Response::TransactionStart(tag) => {
            send_execution_response(client, tag).await?
        }
        Response::TransactionEnd(tag) => {
            send_execution_response(client, tag).await?;
            client.portal_store().rm_portal(DEFAULT_NAME);
        }
        Response::Error(error) => {
            let error = PgWireBackendMessage::ErrorResponse((*error).into());
            client.send(error).await?;
        }
        Response::CopyIn(copy) => {
            client.set_state(PgWireConnectionState::CopyInProgress(true));
            send_copy_in_response(client, copy).await?;
        }
        Response::CopyOut(copy) => send_copy_out_response(client, copy).await?,
        Response::CopyBoth(copy) => {
            client.set_state(PgWireConnectionState::CopyInProgress(true));
            send_copy_both_response(client, copy).await?;
        }
    }
    Ok(false)
}

/// Sends up to `limit` rows of a started portal, then PortalSuspended if it has more, or
/// CommandComplete with the count if it ran out. Rows go to the client's buffer one by one, which
/// the connection flushes as it fills, so a result is never held whole.
async fn send_rows<S, C>(
    client: &mut C,
    portal: &Portal<S>,
    limit: Option<usize>,
) -> PgWireResult<()>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let mut state = portal.state.lock().await;
    let PortalExecutionState::Suspended(response) = &mut *state else {
        // Run to its end before: as pgwire does, an empty CommandComplete.
        return complete(client, Tag::new("").with_rows(0)).await;
    };
    let command = response.command_tag().to_owned();
    let mut sent = 0;
    while limit.is_none_or(|limit| sent < limit) {
        let row = match response.data_rows().next().await {
            Some(Ok(row)) => row,
            Some(Err(error)) => {
                *state = PortalExecutionState::Finished;
                return Err(error);
            }
            None => {
                *state = PortalExecutionState::Finished;
                return complete(client, Tag::new(&command).with_rows(sent)).await;
            }
        };
        client.feed(PgWireBackendMessage::DataRow(row)).await?;
        sent += 1;
    }
    Ok(client
        .send(PgWireBackendMessage::PortalSuspended(PortalSuspended::new()))
        .await?)
}

async fn complete<C>(client: &mut C, tag: Tag) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let message = PgWireBackendMessage::CommandComplete(tag.into());
    Ok(client.send(message).await?)
}

#[cfg(test)]
mod tests {
    use super::row_limit;

    #[test]
    fn max_rows_of_zero_or_less_means_all_rows() {
        assert_eq!(row_limit(0), None);
        assert_eq!(row_limit(-1), None);
        assert_eq!(row_limit(i32::MIN), None);
        assert_eq!(row_limit(1), Some(1));
        assert_eq!(row_limit(i32::MAX), Some(i32::MAX as usize));
    }
}
