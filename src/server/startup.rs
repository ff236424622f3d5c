//! Authentication of one connection: the startup packet, the access rule that picks the
//! method, the method's exchange (SCRAM, a token as the password, OAUTHBEARER, a client
//! certificate), and the session that follows success.
//!
//! Every failure is FATAL and generic towards the client (`password authentication failed for
//! user "…"`, as PostgreSQL says it); the reason goes to the server log. Unknown users get a
//! full SCRAM exchange with a stable mock salt, and throttled attempts fail the same way.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::auth::{
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata,
    ServerParameterProvider, StartupHandler,
};
use pgwire::api::{ClientInfo, PgWireConnectionState, PidSecretKeyGenerator, METADATA_USER};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::{Authentication, Startup};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use super::handlers::ConnectionFacts;
use super::Gateway;
use crate::auth::rules::Connecting;
use crate::auth::scram::{ChannelBinding, ScramExchange, ScramVerifier};
use crate::auth::{AuthMethod, Principal, User};
use crate::catalog::DATABASE_NAME;
use crate::session::Session;

mod audit;
mod credentials;
mod oauth;

use audit::Refusal;

/// Where a connection is in its authentication.
#[derive(Debug, Default)]
enum AuthState {
    #[default]
    AwaitingStartup,
    Scram(Box<ScramStep>),
    TokenPassword {
        user: String,
    },
    OAuth {
        user: String,
    },
    Done,
}

#[derive(Debug)]
struct ScramStep {
    user: String,
    /// The verifier the exchange runs with: the user's own (even when the login cannot succeed,
    /// so its salt does not change when a user is throttled or disabled), or a mock.
    verifier: ScramVerifier,
    /// The users-file entry, when it exists, is enabled, has a verifier and is not throttled.
    account: Option<User>,
    exchange: Option<ScramExchange>,
    /// SCRAM-SHA-256 or SCRAM-SHA-256-PLUS, as the client chose.
    mechanism: String,
}

pub struct LakeStartupHandler {
    gateway: Arc<Gateway>,
    facts: ConnectionFacts,
    state: Mutex<AuthState>,
    /// The session this connection becomes; login records carry it from the first attempt.
    session_id: String,
    /// Why the login was refused (the client is told less), for the audit record.
    refusal: Mutex<Option<Refusal>>,
    /// The successful login is on record.
    login_recorded: std::sync::atomic::AtomicBool,
}

impl LakeStartupHandler {
    pub fn new(gateway: Arc<Gateway>, facts: ConnectionFacts) -> Self {
        Self {
            gateway,
            facts,
            state: Mutex::default(),
            session_id: crate::session::query_id::new_id(),
            refusal: Mutex::default(),
            login_recorded: Default::default(),
        }
    }

    fn take_state(&self) -> AuthState {
        std::mem::take(&mut *self.state.lock().expect("auth state"))
    }

    fn set_state(&self, state: AuthState) {
        *self.state.lock().expect("auth state") = state;
    }

    fn binding(&self) -> ChannelBinding {
        ChannelBinding {
            end_point: self.facts.tls.as_ref().and_then(|t| t.end_point.clone()),
        }
    }
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
        let result = match (message, self.take_state()) {
            (PgWireFrontendMessage::Startup(startup), AuthState::AwaitingStartup) => {
                self.do_startup(client, &startup).await
            }
            (PgWireFrontendMessage::PasswordMessageFamily(message), state) => {
                self.do_credential(client, state, message).await
            }
            _ => Err(fatal("08P01", "unexpected message during authentication")),
        };
        if let Err(error) = &result {
            self.audit_refusal(client, error).await;
        }
        result.map_err(as_fatal)
    }
}

impl LakeStartupHandler {
    async fn do_startup<C>(&self, client: &mut C, startup: &Startup) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if self.facts.over_limit {
            tracing::warn!(peer = %self.facts.peer, "connection refused: too many connections");
            return Err(fatal("53300", "sorry, too many clients already"));
        }
        protocol_negotiation(client, startup).await?;
        save_startup_parameters_to_metadata(client, startup);
        let user = check_startup(startup)?;
        let account = self.gateway.users.current().get(&user).cloned();
        let method = self.method_for(&user, account.as_ref());
        client.set_state(PgWireConnectionState::AuthenticationInProgress);
        tracing::debug!(user = ?user, peer = %self.facts.peer, method = method.name(), "authenticating");
        match method {
            AuthMethod::Reject => Err(self.no_rule(&user)),
            AuthMethod::Scram => {
                let mechanisms = self.binding().mechanisms();
                let step = self.scram_step_for(user, account);
                self.set_state(AuthState::Scram(Box::new(step)));
                send(client, Authentication::SASL(mechanisms)).await
            }
            AuthMethod::Jwt => {
                self.require_token_transport(&user)?;
                self.set_state(AuthState::TokenPassword { user });
                send(client, Authentication::CleartextPassword).await
            }
            AuthMethod::Oauthbearer => {
                self.require_token_transport(&user)?;
                self.set_state(AuthState::OAuth { user });
                send(
                    client,
                    Authentication::SASL(vec![oauth::MECHANISM.to_owned()]),
                )
                .await
            }
            AuthMethod::Cert => self.certificate_login(client, &user, account).await,
        }
    }

    /// The exchange for `user`: its own verifier when it has one, a mock otherwise; the login
    /// can succeed only for an enabled account that is not throttled.
    fn scram_step_for(&self, user: String, account: Option<User>) -> ScramStep {
        let throttled = self
            .gateway
            .throttle
            .is_throttled(&user, self.facts.peer.ip());
        let verifier = match account.as_ref().and_then(|a| a.verifier.clone()) {
            Some(verifier) => verifier,
            None => ScramVerifier::mock(&user, &self.gateway.auth.mock_key),
        };
        let account = account.filter(|a| !throttled && !a.disabled && a.verifier.is_some());
        ScramStep {
            user,
            verifier,
            account,
            exchange: None,
            mechanism: String::new(),
        }
    }

    fn method_for(&self, user: &str, account: Option<&User>) -> AuthMethod {
        let groups = account
            .map(|a| a.principal.groups.as_slice())
            .unwrap_or_default();
        self.gateway.auth.rules.method_for(&Connecting {
            address: self.facts.peer.ip(),
            tls: self.facts.tls.is_some(),
            user,
            groups,
        })
    }

    fn no_rule(&self, user: &str) -> PgWireError {
        let tls = self.facts.tls.is_some();
        self.note_refusal(user, "reject", "no access rule matches");
        tracing::warn!(user = ?user, peer = %self.facts.peer, tls, "login refused: no access rule");
        let encryption = if tls {
            "SSL encryption"
        } else {
            "no encryption"
        };
        let mut message = format!(
            "no access rule for host \"{}\", user \"{user}\", database \"{DATABASE_NAME}\", {encryption}",
            self.facts.peer.ip()
        );
        if !tls {
            message.push_str(" (connections from this address may need TLS: sslmode=require)");
        }
        fatal("28000", &message)
    }

    /// Tokens are bearer secrets: never asked for on a plaintext connection unless allowed.
    fn require_token_transport(&self, user: &str) -> PgWireResult<()> {
        let refuse = |message: &str| {
            self.note_refusal(user, "jwt", message);
            tracing::warn!(user = ?user, peer = %self.facts.peer, reason = message, "login refused");
            Err(fatal("28000", message))
        };
        let Some(jwt) = &self.gateway.auth.jwt else {
            return refuse("token authentication is not configured on this server");
        };
        if self.facts.tls.is_none() && !jwt.allow_without_tls() {
            return refuse("token authentication requires TLS (connect with sslmode=require)");
        }
        Ok(())
    }

    /// Success: the session is created before AuthenticationOk, so a session that cannot start
    /// fails the login rather than the first statement.
    async fn complete<C>(
        &self,
        client: &mut C,
        principal: Principal,
        method: &str,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.gateway.throttle.record_success(&principal.user);
        let (pid, secret) = self.gateway.pid_keys.generate(&*client);
        client.set_pid_and_secret_key(pid, secret.clone());
        let startup: Vec<(String, String)> = client
            .metadata()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let user = principal.user.clone();
        let actor = self.audit_login(&*client, &principal, method).await?;
        let session = Arc::new(
            Session::new(&self.gateway, principal, actor, &startup).map_err(|e| e.into_pgwire())?,
        );
        let registration = self
            .gateway
            .cancels
            .register(pid, secret.to_bytes(), &session);
        let parameters = Reported(session.reported_settings());
        client.session_extensions().insert(registration);
        client.session_extensions().insert(session);
        self.set_state(AuthState::Done);
        tracing::info!(user = ?user, peer = %self.facts.peer, method, tls = self.facts.tls.is_some(), "login");
        finish_authentication(client, &parameters).await
    }

    /// A failed credential: counted for throttling, logged with its reason, answered generically.
    fn failed(&self, user: &str, method: AuthMethod, reason: &str) -> PgWireError {
        self.gateway
            .throttle
            .record_failure(user, self.facts.peer.ip());
        self.note_refusal(user, method.name(), reason);
        tracing::warn!(user = ?user, peer = %self.facts.peer, method = method.name(), reason, "login refused");
        fatal(
            "28P01",
            &format!("password authentication failed for user \"{user}\""),
        )
    }

    fn refused(&self, user: &str, code: &str, message: &str) -> PgWireError {
        self.gateway
            .throttle
            .record_failure(user, self.facts.peer.ip());
        self.note_refusal(user, "", message);
        tracing::warn!(user = ?user, peer = %self.facts.peer, code, reason = message, "login refused");
        fatal(code, message)
    }
}

/// The startup packet's user, after refusing what lakegate does not serve.
fn check_startup(startup: &Startup) -> PgWireResult<String> {
    let user = startup
        .parameters
        .get(METADATA_USER)
        .cloned()
        .unwrap_or_default();
    if user.is_empty() {
        return Err(fatal(
            "28000",
            "no user name specified in the startup packet",
        ));
    }
    if startup
        .parameters
        .get("replication")
        .is_some_and(|v| !matches!(v.as_str(), "false" | "off" | "no" | "0"))
    {
        return Err(fatal("0A000", "replication connections are not supported"));
    }
    let database = startup.parameters.get("database").unwrap_or(&user);
    if database != DATABASE_NAME {
        return Err(fatal(
            "3D000",
            &format!(
                "database \"{database}\" does not exist (this gateway serves \"{DATABASE_NAME}\")"
            ),
        ));
    }
    Ok(user)
}

async fn send<C>(client: &mut C, message: Authentication) -> PgWireResult<()>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    client
        .send(PgWireBackendMessage::Authentication(message))
        .await?;
    Ok(())
}

struct Reported(HashMap<String, String>);

impl ServerParameterProvider for Reported {
    fn server_parameters<C: ClientInfo>(&self, _client: &C) -> Option<HashMap<String, String>> {
        Some(self.0.clone())
    }
}

fn fatal(code: &str, message: &str) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".into(),
        code.into(),
        message.into(),
    )))
}

/// Every error during authentication ends the connection.
fn as_fatal(error: PgWireError) -> PgWireError {
    let mut info: ErrorInfo = error.into();
    info.severity = "FATAL".into();
    PgWireError::UserError(Box::new(info))
}
