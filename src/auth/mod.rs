//! Who is connecting: users with SCRAM-SHA-256 verifiers, JWT bearer tokens, client
//! certificates; the access rules that choose between them; and failed-login throttling.
//!
//! The connection-side state machine that drives these is `server::startup`.

pub mod cli;
pub mod demo_token;
pub mod jwt;
pub mod rules;
pub mod scram;
pub mod throttle;
mod users;

pub use users::{User, UserRecord, UserStore, Users, UsersFile};

/// An authenticated identity: what policies and `current_user` see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: String,
    pub groups: Vec<String>,
    pub superuser: bool,
}

/// How a connection proves who it is (chosen by the access rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// SCRAM-SHA-256 against the users file; -PLUS (channel binding) on TLS.
    Scram,
    /// A JWT sent as the password (cleartext password message, TLS only unless configured).
    Jwt,
    /// A JWT through SASL OAUTHBEARER (PostgreSQL 18 clients).
    Oauthbearer,
    /// A verified TLS client certificate whose common name is the user name.
    Cert,
    /// Refused.
    Reject,
}

impl AuthMethod {
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::Scram => "scram",
            AuthMethod::Jwt => "jwt",
            AuthMethod::Oauthbearer => "oauthbearer",
            AuthMethod::Cert => "cert",
            AuthMethod::Reject => "reject",
        }
    }
}

/// The gateway's authentication settings in force: access rules, the token verifier, and the
/// key behind unknown users' mock salts.
#[derive(Debug)]
pub struct Authentication {
    pub rules: rules::AccessRules,
    pub jwt: Option<jwt::JwtVerifier>,
    /// Random per process: mock salts are stable for a name within a run, unpredictable across.
    pub mock_key: [u8; 32],
}

impl Authentication {
    pub async fn new(config: &crate::config::AuthConfig) -> Result<Self, String> {
        let jwt = match &config.jwt {
            Some(settings) => {
                if let Some(file) = &settings.jwks_file {
                    let text = std::fs::read_to_string(file).unwrap_or_default();
                    if demo_token::is_demo_jwks(&text) {
                        tracing::warn!("trusting the demo JWKS: anyone can sign tokens for it; use for trying lakegate only");
                    }
                }
                Some(jwt::JwtVerifier::new(settings.clone()).await?)
            }
            None => None,
        };
        Ok(Self {
            rules: rules::AccessRules::new(&config.rules)?,
            jwt,
            mock_key: rand::random(),
        })
    }
}
