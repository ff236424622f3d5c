//! ROLLBACK TO SAVEPOINT ends a failed transaction's failed state (psycopg's and asyncpg's
//! nested transactions, SQLAlchemy's `begin_nested`). pgwire keeps a failed transaction failed
//! whatever a statement answers, so this one statement's status is put right here: in the
//! simple protocol it is answered outside pgwire's loop, in the extended one the status is
//! corrected after the Execute.

use std::fmt::Debug;

use futures::{Sink, SinkExt};
use pgwire::api::query::{send_execution_response, send_ready_for_query};
use pgwire::api::results::Response;
use pgwire::api::{ClientInfo, PgWireConnectionState};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::response::TransactionStatus;
use pgwire::messages::PgWireBackendMessage;

use crate::statement::{self, Command};

/// Whether `sql` is exactly one ROLLBACK TO SAVEPOINT.
pub fn is_rollback_to_savepoint(sql: &str) -> bool {
    matches!(
        statement::parse(sql).as_deref(),
        Ok([Command::RollbackToSavepoint])
    )
}

/// Sends the responses of a simple-query ROLLBACK TO SAVEPOINT and ReadyForQuery with the
/// status it leaves: in the transaction if it succeeded, still failed if not.
pub async fn answer_simple<C>(client: &mut C, responses: Vec<Response>) -> PgWireResult<()>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let mut status = TransactionStatus::Transaction;
    for response in responses {
        match response {
            Response::Execution(tag)
            | Response::TransactionStart(tag)
            | Response::TransactionEnd(tag) => send_execution_response(client, tag).await?,
            Response::Error(error) => {
                client
                    .feed(PgWireBackendMessage::ErrorResponse((*error).into()))
                    .await?;
                status = TransactionStatus::Error;
            }
            _ => {}
        }
    }
    client.set_state(PgWireConnectionState::ReadyForQuery);
    client.set_transaction_status(status);
    send_ready_for_query(client, status).await
}
