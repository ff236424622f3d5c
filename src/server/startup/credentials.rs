//! The credential step of each method: the SCRAM exchange, a token (as a password or through
//! OAUTHBEARER), a client certificate. Each ends in [`LakeStartupHandler::complete`] or a
//! refusal that is counted, logged and answered generically.

use std::fmt::Debug;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Sink, SinkExt};
use pgwire::api::ClientInfo;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::startup::{Authentication, PasswordMessageFamily, SASLInitialResponse};
use pgwire::messages::PgWireBackendMessage;

use super::{fatal, oauth, send, AuthState, LakeStartupHandler, ScramStep};
use crate::auth::scram::{ScramError, ScramExchange};
use crate::auth::{AuthMethod, User};
use crate::session::Session;

/// PostgreSQL's PG_MAX_SASL_MESSAGE_LENGTH.
const MAX_SASL_MESSAGE: usize = 1024;

impl LakeStartupHandler {
    pub(super) async fn do_credential<C>(
        &self,
        client: &mut C,
        state: AuthState,
        message: PasswordMessageFamily,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match state {
            AuthState::Scram(step) => self.scram_step(client, step, message).await,
            AuthState::TokenPassword { user } => {
                let token = message.into_password()?.password;
                self.token_login(client, &user, &token, AuthMethod::Jwt)
                    .await
            }
            AuthState::OAuth { user } => {
                let initial = sasl_initial_response(message)?;
                let token = oauth::bearer_token(&initial)
                    .map_err(|e| self.failed(&user, AuthMethod::Oauthbearer, &e))?;
                self.token_login(client, &user, &token, AuthMethod::Oauthbearer)
                    .await
            }
            AuthState::AwaitingStartup | AuthState::Done => {
                Err(fatal("08P01", "unexpected password message"))
            }
        }
    }

    async fn scram_step<C>(
        &self,
        client: &mut C,
        mut step: Box<ScramStep>,
        message: PasswordMessageFamily,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let Some(exchange) = step.exchange.take() else {
            let initial = sasl_initial_response(message)?;
            let data = sasl_data(initial.data.as_deref().unwrap_or_default())?;
            let verifier = step.verifier.clone();
            let (exchange, server_first) =
                ScramExchange::start(&initial.auth_method, data, &self.binding(), verifier)
                    .map_err(|e| self.scram_refused(&step.user, e))?;
            step.exchange = Some(exchange);
            step.mechanism = initial.auth_method;
            let user_message = Bytes::from(server_first);
            self.set_state(AuthState::Scram(step));
            return send(client, Authentication::SASLContinue(user_message)).await;
        };
        let response = message.into_sasl_response()?;
        let server_final = exchange
            .finish(sasl_data(&response.data)?)
            .map_err(|e| self.scram_refused(&step.user, e))?;
        // The right proof from a user who may not sign in now (throttled, disabled) fails here,
        // after the same exchange a wrong password gets.
        let Some(account) = step.account else {
            let reason = self.scram_failure_reason(&step.user);
            return Err(self.failed(&step.user, AuthMethod::Scram, &reason));
        };
        client
            .feed(PgWireBackendMessage::Authentication(
                Authentication::SASLFinal(Bytes::from(server_final)),
            ))
            .await?;
        self.complete(client, account.principal, &step.mechanism)
            .await
    }

    /// Why a SCRAM login failed, for the log and the audit record (the client is told less).
    fn scram_failure_reason(&self, user: &str) -> String {
        let users = self.gateway.users.current();
        let reason = match users.get(user) {
            None => "unknown user",
            Some(_)
                if self
                    .gateway
                    .throttle
                    .is_throttled(user, self.facts.peer.ip()) =>
            {
                "too many failed logins (throttled)"
            }
            Some(account) if account.disabled => "the user is disabled",
            Some(account) if account.verifier.is_none() => "the user has no password",
            Some(_) => "wrong password (the SCRAM proof did not match)",
        };
        reason.to_owned()
    }

    fn scram_refused(&self, user: &str, error: ScramError) -> PgWireError {
        match error {
            ScramError::Failed => {
                let reason = self.scram_failure_reason(user);
                self.failed(user, AuthMethod::Scram, &reason)
            }
            ScramError::Protocol(m) => self.refused(user, "08P01", &m),
            ScramError::Unsupported(m) => self.refused(user, "0A000", &m),
            ScramError::Binding(m) => self.refused(user, "28000", &m),
        }
    }

    async fn token_login<C>(
        &self,
        client: &mut C,
        user: &str,
        token: &str,
        method: AuthMethod,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let jwt = self.gateway.auth.jwt.as_ref().expect("checked at startup");
        if self
            .gateway
            .throttle
            .is_throttled(user, self.facts.peer.ip())
        {
            return Err(self.failed(user, method, "throttled"));
        }
        if self
            .gateway
            .users
            .current()
            .get(user)
            .is_some_and(|u| u.disabled)
        {
            return Err(self.failed(user, method, "user is disabled"));
        }
        match jwt.verify(token, user).await {
            Ok(verified) => {
                self.complete(client, verified.principal, method.name())
                    .await?;
                if let Some(session) = client.session_extensions().get::<Arc<Session>>() {
                    session.expire_at(verified.expires_at.saturating_add(jwt.leeway_seconds()));
                }
                Ok(())
            }
            Err(refused) => Err(self.failed(user, method, &refused.0)),
        }
    }

    pub(super) async fn certificate_login<C>(
        &self,
        client: &mut C,
        user: &str,
        account: Option<User>,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let certificate = self
            .facts
            .tls
            .as_ref()
            .and_then(|t| t.client_certificate.as_ref());
        let name = certificate.and_then(crate::server::tls::client_common_name);
        let refuse = |reason: &str| {
            tracing::warn!(user = ?user, peer = %self.facts.peer, method = "cert", reason, "login refused");
            fatal(
                "28000",
                &format!("certificate authentication failed for user \"{user}\""),
            )
        };
        match (name, account) {
            (None, _) => Err(refuse("no verified client certificate")),
            (Some(cn), _) if cn != user => Err(refuse("certificate common name is another user")),
            (Some(_), Some(account)) if !account.disabled => {
                self.complete(client, account.principal, AuthMethod::Cert.name())
                    .await
            }
            _ => Err(refuse("unknown or disabled user")),
        }
    }
}

/// pgwire 0.41 reads SASLInitialResponse without bounds checks (a short body or a bad length
/// panics the connection's task), so lakegate parses it: mechanism, then an Int32 length that is
/// -1 or exactly the bytes that follow.
fn sasl_initial_response(message: PasswordMessageFamily) -> PgWireResult<SASLInitialResponse> {
    let PasswordMessageFamily::Raw(body) = message else {
        return message.into_sasl_initial_response();
    };
    let malformed = || fatal("08P01", "malformed SASLInitialResponse message");
    let nul = body.iter().position(|b| *b == 0).ok_or_else(malformed)?;
    let mechanism = std::str::from_utf8(&body[..nul]).map_err(|_| malformed())?;
    let rest = &body[nul + 1..];
    let length: [u8; 4] = rest
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(malformed)?;
    let data = match i32::from_be_bytes(length) {
        -1 if rest.len() == 4 => None,
        n if usize::try_from(n).is_ok_and(|n| n == rest.len() - 4) => {
            Some(Bytes::copy_from_slice(&rest[4..]))
        }
        _ => return Err(malformed()),
    };
    Ok(SASLInitialResponse::new(mechanism.to_owned(), data))
}

fn sasl_data(data: &[u8]) -> PgWireResult<&[u8]> {
    match data.len() > MAX_SASL_MESSAGE {
        true => Err(fatal("08P01", "SASL message is too long")),
        false => Ok(data),
    }
}
