//! SASL OAUTHBEARER (RFC 7628), as PostgreSQL 18's `oauth` method speaks it: the client's
//! initial response carries `auth=Bearer <token>`; the token is then checked exactly like a
//! token sent as a password.
//!
//! A client with no token yet sends an empty `auth` to discover the issuer; lakegate has no
//! discovery document to offer (tokens come from the organisation's identity provider), so
//! such an attempt fails like any other without a valid token.

use pgwire::messages::startup::SASLInitialResponse;

pub const MECHANISM: &str = "OAUTHBEARER";
const SEPARATOR: char = '\u{1}';

/// The bearer token of an initial response, or why there is none.
pub fn bearer_token(initial: &SASLInitialResponse) -> Result<String, String> {
    if initial.auth_method != MECHANISM {
        return Err(format!(
            "client selected {:?}, not {MECHANISM}",
            initial.auth_method
        ));
    }
    let data = initial.data.as_deref().unwrap_or_default();
    let text = std::str::from_utf8(data).map_err(|_| "OAUTHBEARER message is not UTF-8")?;
    let (gs2, pairs) = text
        .split_once(SEPARATOR)
        .ok_or("malformed OAUTHBEARER message")?;
    if !(gs2.starts_with("n,") || gs2.starts_with("y,")) {
        return Err("OAUTHBEARER does not support channel binding".into());
    }
    let auth = pairs
        .split(SEPARATOR)
        .find_map(|pair| pair.strip_prefix("auth="))
        .ok_or("OAUTHBEARER message has no auth value")?;
    let token = auth
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
        .map(|_| auth[7..].trim())
        .ok_or("OAUTHBEARER auth value is not a bearer token")?;
    if token.is_empty() {
        return Err("OAUTHBEARER discovery request (no token)".into());
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn initial(data: &str) -> SASLInitialResponse {
        SASLInitialResponse::new(MECHANISM.into(), Some(Bytes::from(data.to_owned())))
    }

    #[test]
    fn takes_the_bearer_token() {
        let token = bearer_token(&initial("n,,\u{1}auth=Bearer abc.def.ghi\u{1}\u{1}")).unwrap();
        assert_eq!(token, "abc.def.ghi");
        assert!(bearer_token(&initial("n,,\u{1}auth=\u{1}\u{1}")).is_err());
        assert!(bearer_token(&initial("n,,\u{1}auth=Basic x\u{1}\u{1}")).is_err());
        assert!(bearer_token(&initial(
            "p=tls-server-end-point,,\u{1}auth=Bearer x\u{1}\u{1}"
        ))
        .is_err());
        assert!(bearer_token(&initial("garbage")).is_err());
    }
}
