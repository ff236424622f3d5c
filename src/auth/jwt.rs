//! JWT bearer tokens (RFC 7519, checked per RFC 8725): RS256, ES256 and EdDSA signatures from
//! keys in a JWKS file or https URL; `iss`, `aud`, `exp` and `nbf` required; the user claim must
//! name the user the client connects as; the groups claim becomes the principal's groups.
//!
//! Each key is pinned to one algorithm, derived from its type (RSA → RS256, P-256 → ES256,
//! Ed25519 → EdDSA), so `alg: none`, HS256 signed with a public key and RS/ES swaps are refused
//! before a signature is checked. Header `jku`, `x5u`, `jwk` and `x5c` are ignored: keys come
//! only from the configured JWKS.

mod jwks;

use std::path::PathBuf;

use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::Value;

pub use jwks::JwksCache;

use super::Principal;

/// `[auth.jwt]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    /// The required `iss`.
    pub issuer: String,
    /// The required `aud` (a token's `aud` may be a list that contains it).
    pub audience: String,
    /// A JWKS file, re-read when a token names an unknown key.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// An https JWKS URL (the identity provider's `jwks_uri`).
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// PEM CA certificates to trust for `jwks_url`, besides the system's.
    #[serde(default)]
    pub jwks_ca_file: Option<PathBuf>,
    /// The claim holding the user name; it must equal the user the client connects as.
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// The claim holding the groups (a list of strings, or one string).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Clock skew allowed on `exp` and `nbf`, at most 60 seconds.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// Accept tokens on plaintext connections (local development only).
    #[serde(default)]
    pub allow_without_tls: bool,
    /// Unknown `kid`s trigger at most one JWKS refresh per this many seconds.
    #[serde(default = "default_refresh")]
    pub jwks_min_refresh_seconds: u64,
    /// Keys are re-fetched after this many seconds even when every `kid` is known.
    #[serde(default = "default_max_age")]
    pub jwks_max_age_seconds: u64,
}

fn default_user_claim() -> String {
    "sub".into()
}
fn default_groups_claim() -> String {
    "groups".into()
}
fn default_leeway() -> u64 {
    30
}
fn default_refresh() -> u64 {
    30
}
fn default_max_age() -> u64 {
    600
}

/// Longest token accepted (PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH is 65535; pgwire refuses
/// password messages over 10000 bytes before this is reached).
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// What a valid token proves.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub principal: Principal,
    /// `exp`, in seconds since the epoch.
    pub expires_at: u64,
}

/// Why a token was refused: for the server log only; clients see a generic failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRefused(pub String);

fn refused(reason: impl Into<String>) -> TokenRefused {
    TokenRefused(reason.into())
}

#[derive(Debug)]
pub struct JwtVerifier {
    settings: JwtSettings,
    keys: JwksCache,
}

impl JwtVerifier {
    pub async fn new(settings: JwtSettings) -> Result<Self, String> {
        if settings.leeway_seconds > 60 {
            return Err("auth.jwt.leeway_seconds must be at most 60".into());
        }
        let keys = JwksCache::new(&settings).await?;
        Ok(Self { settings, keys })
    }

    pub fn leeway_seconds(&self) -> u64 {
        self.settings.leeway_seconds
    }

    pub fn allow_without_tls(&self) -> bool {
        self.settings.allow_without_tls
    }

    /// Checks a token presented by a client connecting as `user`.
    pub async fn verify(&self, token: &str, user: &str) -> Result<VerifiedToken, TokenRefused> {
        if token.len() > MAX_TOKEN_BYTES || token.split('.').count() != 3 {
            return Err(refused("not a compact JWS token"));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| refused(format!("malformed header: {e}")))?;
        if header.crit.is_some() {
            return Err(refused("critical header parameters are not supported"));
        }
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA
        ) {
            return Err(refused(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let key = self
            .keys
            .find(header.kid.as_deref())
            .await
            .ok_or_else(|| refused("unknown signing key"))?;
        if key.algorithm != header.alg {
            return Err(refused(format!(
                "algorithm {:?} does not match the key's {:?}",
                header.alg, key.algorithm
            )));
        }
        let claims = jsonwebtoken::decode::<serde_json::Map<String, Value>>(
            token,
            &key.key,
            &self.validation(header.alg),
        )
        .map_err(|e| refused(format!("{e}")))?
        .claims;
        self.principal(&claims, user)
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        // set_issuer/set_audience check the claims only when present: require them too.
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = self.settings.leeway_seconds;
        validation
    }

    fn principal(
        &self,
        claims: &serde_json::Map<String, Value>,
        user: &str,
    ) -> Result<VerifiedToken, TokenRefused> {
        let name = claims
            .get(&self.settings.user_claim)
            .and_then(Value::as_str)
            .ok_or_else(|| refused(format!("no {} claim", self.settings.user_claim)))?;
        if name != user {
            return Err(refused("the token names another user"));
        }
        let groups = match claims.get(&self.settings.groups_claim) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(g)) => vec![g.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|g| g.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| refused("groups claim is not a list of strings"))?,
            Some(_) => return Err(refused("groups claim is not a list of strings")),
        };
        // Validation has already required a numeric `exp`.
        let expires_at = claims
            .get("exp")
            .and_then(|e| e.as_u64().or_else(|| e.as_f64().map(|f| f as u64)))
            .unwrap_or(0);
        Ok(VerifiedToken {
            principal: Principal {
                user: name.to_owned(),
                groups,
                superuser: false,
            },
            expires_at,
        })
    }
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
