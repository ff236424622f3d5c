//! The pgwire handlers of one connection: startup and authentication, the query handler,
//! cancel, and the last-chance error mapping. A fresh set is built per connection, so the
//! authentication state lives with the connection it belongs to.

use std::net::SocketAddr;
use std::sync::Arc;

use pgwire::api::auth::StartupHandler;
use pgwire::api::{ClientInfo, ErrorHandler, PgWireServerHandlers};
use pgwire::error::PgWireError;
use rustls_pki_types::CertificateDer;

use super::cancel::LakeCancelHandler;
use super::startup::LakeStartupHandler;
use super::Gateway;
use crate::session::QueryHandler;

/// What negotiation established about a connection.
#[derive(Debug, Clone)]
pub struct ConnectionFacts {
    pub peer: SocketAddr,
    /// `None` on plaintext connections.
    pub tls: Option<TlsFacts>,
    /// Past `max_connections`: the startup is answered with 53300.
    pub over_limit: bool,
}

#[derive(Debug, Clone)]
pub struct TlsFacts {
    /// `tls-server-end-point` channel-binding data of the certificate this connection got.
    pub end_point: Option<Vec<u8>>,
    /// The client's certificate, verified against `tls.client_ca`.
    pub client_certificate: Option<CertificateDer<'static>>,
}

pub struct ConnectionHandlers {
    pub(super) startup: Arc<LakeStartupHandler>,
    pub(super) query: Arc<QueryHandler>,
    pub(super) cancel: Arc<LakeCancelHandler>,
}

impl ConnectionHandlers {
    pub fn new(gateway: Arc<Gateway>, facts: ConnectionFacts) -> Self {
        Self {
            cancel: Arc::new(LakeCancelHandler(Arc::clone(&gateway.cancels))),
            startup: Arc::new(LakeStartupHandler::new(gateway, facts)),
            query: Arc::new(QueryHandler::default()),
        }
    }
}

impl PgWireServerHandlers for ConnectionHandlers {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        Arc::clone(&self.query)
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        Arc::clone(&self.query)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::clone(&self.startup)
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(LakeErrorHandler)
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::clone(&self.cancel)
    }
}

/// Errors that reach pgwire without going through [`crate::error`] (for example from inside
/// pgwire or arrow-pg) are classified here, so none leaves as a bare XX000.
struct LakeErrorHandler;

impl ErrorHandler for LakeErrorHandler {
    fn on_error<C: ClientInfo>(&self, _client: &C, error: &mut PgWireError) {
        if let PgWireError::ApiError(inner) = error {
            let mapped = match inner.downcast_ref::<datafusion::error::DataFusionError>() {
                Some(e) => crate::error::classify_engine_error(e),
                None => crate::error::LakegateError::Internal(inner.to_string()).to_client(),
            };
            *error = mapped.into_pgwire();
        }
    }
}
