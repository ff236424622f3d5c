//! Login records (D9, AD-09): every attempt is on record, a refused one with the real reason the
//! client is not told, and no session starts unless its login record is durable.

use pgwire::api::{ClientInfo, METADATA_USER};
use pgwire::error::{PgWireError, PgWireResult};

use super::{fatal, LakeStartupHandler};
use crate::audit::{Actor, Event, Outcome, Record};
use crate::auth::Principal;
use crate::catalog::DATABASE_NAME;

#[derive(Debug, Clone)]
pub(super) struct Refusal {
    pub user: String,
    pub method: &'static str,
    pub reason: String,
}

impl LakeStartupHandler {
    pub(super) fn note_refusal(&self, user: &str, method: &'static str, reason: &str) {
        *self.refusal.lock().expect("refusal") = Some(Refusal {
            user: user.to_owned(),
            method,
            reason: reason.to_owned(),
        });
    }

    /// Who is signing in, as audit records say it.
    fn actor<C: ClientInfo>(&self, client: &C, user: &str, method: &str) -> Actor {
        let application_name = client.metadata().get("application_name").cloned();
        Actor {
            session_id: self.session_id.clone(),
            user: user.to_owned(),
            auth_method: method.to_owned(),
            client_addr: self.facts.peer.to_string(),
            tls: self.facts.tls.is_some(),
            application_name: application_name.unwrap_or_default(),
            database: DATABASE_NAME.to_owned(),
            ..Actor::default()
        }
    }

    /// The record of a refused login (AD-09: it holds the real reason).
    pub(super) async fn audit_refusal<C: ClientInfo>(&self, client: &C, error: &PgWireError) {
        // A login already on record as successful that fails afterwards (the session could not
        // start) is not a second attempt.
        if self
            .login_recorded
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let refusal = self.refusal.lock().expect("refusal").take();
        let user = refusal.as_ref().map(|r| r.user.clone()).unwrap_or_else(|| {
            client
                .metadata()
                .get(METADATA_USER)
                .cloned()
                .unwrap_or_default()
        });
        let method = refusal.as_ref().map_or("", |r| r.method);
        let (code, message) = match error {
            PgWireError::UserError(info) => (info.code.clone(), info.message.clone()),
            other => ("08P01".to_owned(), other.to_string()),
        };
        let mut record = Record::new(Event::Login);
        record.actor = Some(self.actor(client, &user, method));
        record.outcome = Some(Outcome {
            status: "denied".into(),
            sqlstate: Some(code),
            reason: Some(refusal.map_or(message.clone(), |r| r.reason)),
            message: Some(message),
        });
        let _ = self.gateway.audit.write(&record, false).await;
    }

    /// The record of a successful login, synced before the session starts; returns the actor
    /// the session's statement records carry.
    pub(super) async fn audit_login<C: ClientInfo>(
        &self,
        client: &C,
        principal: &Principal,
        method: &str,
    ) -> PgWireResult<Actor> {
        let mut actor = self.actor(client, &principal.user, method);
        actor.groups = principal.groups.clone();
        actor.superuser = principal.superuser;
        let mut login = Record::new(Event::Login);
        login.actor = Some(actor.clone());
        login.outcome = Some(Outcome {
            status: "ok".into(),
            ..Outcome::default()
        });
        if self.gateway.audit.write(&login, true).await.is_err() {
            self.note_refusal(&principal.user, "", "the audit log cannot be written");
            return Err(fatal(
                "58030",
                "the audit log cannot be written, so no session can start; try again once an operator has fixed it",
            ));
        }
        self.login_recorded
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(actor)
    }
}
