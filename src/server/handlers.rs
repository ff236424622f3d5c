//! The pgwire handlers of one connection: startup and SCRAM authentication, the query handler,
//! cancel, and the last-chance error mapping.
//!
//! pgwire 0.41's SASL handler keeps its SCRAM state inside the handler, so a fresh one is built
//! per connection (sharing one would interleave concurrent handshakes).

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::sasl::scram::ScramAuth;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::{ServerParameterProvider, StartupHandler};
use pgwire::api::{ClientInfo, ErrorHandler, PgWireServerHandlers, METADATA_USER};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use super::cancel::LakeCancelHandler;
use super::Gateway;
use crate::auth::ScramSecrets;
use crate::catalog::DATABASE_NAME;
use crate::session::{QueryHandler, Session};

pub struct ConnectionHandlers {
    startup: Arc<LakeStartupHandler>,
    query: Arc<QueryHandler>,
    cancel: Arc<LakeCancelHandler>,
}

impl ConnectionHandlers {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        let scram = ScramAuth::new(Arc::new(ScramSecrets(Arc::clone(&gateway.users))));
        let parameters = Arc::new(SessionStarter {
            gateway: Arc::clone(&gateway),
        });
        let sasl = SASLAuthStartupHandler::new(parameters).with_scram(scram);
        Self {
            startup: Arc::new(LakeStartupHandler { sasl }),
            query: Arc::new(QueryHandler::default()),
            cancel: Arc::new(LakeCancelHandler(Arc::clone(&gateway.cancels))),
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

/// Checks the database name, then runs SCRAM-SHA-256. No trust login exists.
struct LakeStartupHandler {
    sasl: SASLAuthStartupHandler<SessionStarter>,
}

#[async_trait]
impl StartupHandler for LakeStartupHandler {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let PgWireFrontendMessage::Startup(startup) = &message {
            let user = startup.parameters.get(METADATA_USER);
            let database = startup
                .parameters
                .get("database")
                .or(user)
                .map(String::as_str);
            if database != Some(DATABASE_NAME) {
                let name = database.unwrap_or_default();
                return Err(fatal("3D000", format!("database \"{name}\" does not exist (this gateway serves \"{DATABASE_NAME}\")")));
            }
        }
        self.sasl.on_startup(client, message).await
    }
}

fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".into(),
        code.into(),
        message,
    )))
}

/// Called by pgwire once authentication has succeeded, just before it reports the server
/// parameters: the session is created here, so it exists before ReadyForQuery.
struct SessionStarter {
    gateway: Arc<Gateway>,
}

impl ServerParameterProvider for SessionStarter {
    fn server_parameters<C>(&self, client: &C) -> Option<HashMap<String, String>>
    where
        C: ClientInfo,
    {
        let user = client.metadata().get(METADATA_USER)?.clone();
        let Some(principal) = self.gateway.users.principal(&user).cloned() else {
            tracing::error!(%user, "authenticated user has no principal");
            return None;
        };
        let startup: Vec<(String, String)> = client
            .metadata()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let session = match Session::new(&self.gateway, principal, &startup) {
            Ok(session) => Arc::new(session),
            Err(e) => {
                tracing::error!(%user, error = %e, "cannot start a session");
                return None;
            }
        };
        let (pid, secret) = client.pid_and_secret_key();
        let registration = self
            .gateway
            .cancels
            .register(pid, secret.to_bytes(), &session);
        let parameters = session.reported_settings();
        client.session_extensions().insert(registration);
        client.session_extensions().insert(session);
        tracing::info!(%user, peer = %client.socket_addr(), "session started");
        Some(parameters)
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
