//! Demo tokens: `lakegate token issue` signs with a fixed Ed25519 key whose public half is the
//! demo JWKS (`policies/demo-jwt/`). Both are public, so a gateway accepts these tokens only when
//! its configuration trusts the demo JWKS, which `lakegate demo tls` writes for trying token
//! login locally; the gateway warns at start when it does.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

pub const DEMO_ISSUER: &str = "lakegate-demo";
pub const DEMO_AUDIENCE: &str = "lakegate";
pub const DEMO_KID: &str = "lakegate-demo-1";
pub const DEMO_JWKS: &str = include_str!("../../policies/demo-jwt/jwks.json");
const DEMO_SIGNING_KEY: &str = include_str!("../../policies/demo-jwt/demo-signing-key.pem");

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    groups: &'a [String],
    iat: u64,
    nbf: u64,
    exp: u64,
}

/// A token for `user` in `groups`, valid for `ttl_seconds`.
pub fn issue(user: &str, groups: &[String], ttl_seconds: u64) -> Result<String, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let claims = Claims {
        iss: DEMO_ISSUER,
        aud: DEMO_AUDIENCE,
        sub: user,
        groups,
        iat: now,
        nbf: now,
        exp: now + ttl_seconds,
    };
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(DEMO_KID.to_owned());
    let key = EncodingKey::from_ed_pem(DEMO_SIGNING_KEY.as_bytes()).map_err(|e| e.to_string())?;
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| format!("cannot sign the token: {e}"))
}

/// Whether a JWKS document is the demo one (so the gateway can warn that it trusts it).
pub fn is_demo_jwks(text: &str) -> bool {
    let x = |t: &str| {
        serde_json::from_str::<serde_json::Value>(t)
            .ok()
            .and_then(|v| v["keys"][0]["x"].as_str().map(str::to_owned))
    };
    x(text).is_some() && x(text) == x(DEMO_JWKS)
}
