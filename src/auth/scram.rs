//! SCRAM-SHA-256 (RFC 5802, RFC 7677) against stored verifiers, with `tls-server-end-point`
//! channel binding (RFC 5929).
//!
//! pgwire 0.41's `ScramAuth` needs each user's *salted password*, which is password-equivalent.
//! Users files store PostgreSQL's verifier instead (`SCRAM-SHA-256$iter:salt$StoredKey:ServerKey`,
//! the format of `pg_authid.rolpassword`), from which no login can be made; pgwire 0.42 could
//! verify those, but arrow-pg still pins 0.41 (deps.md), so the exchange is implemented here.

use std::fmt;
use std::num::NonZeroU32;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::{digest, hmac, pbkdf2};
use subtle::ConstantTimeEq;

pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";
pub const SCRAM_SHA_256_PLUS: &str = "SCRAM-SHA-256-PLUS";
/// PostgreSQL's default and RFC 7677's floor.
pub const DEFAULT_ITERATIONS: u32 = 4096;
const KEY_LEN: usize = 32;
const END_POINT: &str = "tls-server-end-point";

/// A stored SCRAM-SHA-256 secret: enough to check a proof, not enough to make one.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: [u8; KEY_LEN],
    server_key: [u8; KEY_LEN],
}

impl fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScramVerifier(..)")
    }
}

impl fmt::Display for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{SCRAM_SHA_256}${}:{}${}:{}",
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(self.stored_key),
            B64.encode(self.server_key)
        )
    }
}

impl ScramVerifier {
    /// A verifier for `password` with a fresh random salt.
    pub fn generate(password: &str, iterations: u32) -> Self {
        Self::with_salt(password, &rand::random::<[u8; 16]>(), iterations)
    }

    pub fn with_salt(password: &str, salt: &[u8], iterations: u32) -> Self {
        // Like PostgreSQL: SASLprep the password, and use it as it is if SASLprep refuses it.
        let prepared = stringprep::saslprep(password)
            .map(|p| p.into_owned())
            .unwrap_or_else(|_| password.to_owned());
        let mut salted = [0u8; KEY_LEN];
        let rounds = NonZeroU32::new(iterations.max(1)).expect("at least one iteration");
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            rounds,
            salt,
            prepared.as_bytes(),
            &mut salted,
        );
        let client_key = hmac_sha256(&salted, b"Client Key");
        Self {
            iterations,
            salt: salt.to_vec(),
            stored_key: sha256(&client_key),
            server_key: hmac_sha256(&salted, b"Server Key"),
        }
    }

    /// A verifier for a user that does not exist: its salt is derived from the name and a
    /// per-process key (PostgreSQL's `scram_mock_salt`), so repeated attempts see the same
    /// salt, and its keys are random, so no proof matches.
    pub fn mock(user: &str, process_key: &[u8]) -> Self {
        let mut input = process_key.to_vec();
        input.extend_from_slice(user.as_bytes());
        Self {
            iterations: DEFAULT_ITERATIONS,
            salt: sha256(&input)[..16].to_vec(),
            stored_key: rand::random(),
            server_key: rand::random(),
        }
    }

    /// Parses PostgreSQL's verifier text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let malformed = || {
            "is not a SCRAM-SHA-256 verifier (SCRAM-SHA-256$ITERATIONS:SALT$STOREDKEY:SERVERKEY, \
             as `lakegate user add` writes it; plaintext passwords are not accepted)"
                .to_owned()
        };
        let rest = text.strip_prefix("SCRAM-SHA-256$").ok_or_else(malformed)?;
        let (params, keys) = rest.split_once('$').ok_or_else(malformed)?;
        let (iterations, salt) = params.split_once(':').ok_or_else(malformed)?;
        let (stored, server) = keys.split_once(':').ok_or_else(malformed)?;
        let iterations: u32 = iterations.parse().map_err(|_| malformed())?;
        if iterations < DEFAULT_ITERATIONS {
            return Err(format!(
                "uses {iterations} iterations; at least {DEFAULT_ITERATIONS} are required"
            ));
        }
        let key = |b64: &str| -> Result<[u8; KEY_LEN], String> {
            let bytes = B64.decode(b64).map_err(|_| malformed())?;
            bytes.try_into().map_err(|_| malformed())
        };
        Ok(Self {
            iterations,
            salt: B64.decode(salt).map_err(|_| malformed())?,
            stored_key: key(stored)?,
            server_key: key(server)?,
        })
    }
}

/// Why an exchange was refused. Only the kind reaches the client; the text goes to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScramError {
    /// Malformed or out-of-order messages (08P01).
    Protocol(String),
    /// A valid request for something this server does not do (0A000).
    Unsupported(String),
    /// Channel binding refused: a downgrade, or data that does not match the certificate (28000).
    Binding(String),
    /// The proof does not match: wrong password or unknown user (28P01).
    Failed,
}

/// What the server offers for channel binding on this connection.
#[derive(Debug, Clone, Default)]
pub struct ChannelBinding {
    /// `tls-server-end-point` data of the certificate this connection was served with; `None`
    /// on plaintext connections and for certificates whose hash RFC 5929 leaves undefined.
    pub end_point: Option<Vec<u8>>,
}

impl ChannelBinding {
    /// The SASL mechanisms to offer, preferred first.
    pub fn mechanisms(&self) -> Vec<String> {
        match self.end_point {
            Some(_) => vec![SCRAM_SHA_256_PLUS.to_owned(), SCRAM_SHA_256.to_owned()],
            None => vec![SCRAM_SHA_256.to_owned()],
        }
    }
}

/// The server's half of one exchange, between server-first and client-final.
#[derive(Debug)]
pub struct ScramExchange {
    verifier: ScramVerifier,
    /// The gs2 header and binding data `c=` must carry.
    expected_binding: Vec<u8>,
    nonce: String,
    client_first_bare: String,
    server_first: String,
}

impl ScramExchange {
    /// Reads client-first and returns the exchange with the server-first message to send.
    pub fn start(
        mechanism: &str,
        client_first: &[u8],
        binding: &ChannelBinding,
        verifier: ScramVerifier,
    ) -> Result<(Self, String), ScramError> {
        let text = std::str::from_utf8(client_first)
            .map_err(|_| protocol("client-first-message is not UTF-8"))?;
        let (flag, rest) = text
            .split_once(',')
            .ok_or_else(|| protocol("malformed client-first-message"))?;
        let (authzid, bare) = rest
            .split_once(',')
            .ok_or_else(|| protocol("malformed client-first-message"))?;
        if !authzid.is_empty() {
            return Err(ScramError::Unsupported(
                "client uses authorization identity, but it is not supported".into(),
            ));
        }
        let binding_data = check_binding(mechanism, flag, binding)?;
        let client_nonce = client_nonce(bare)?;
        let nonce = format!("{client_nonce}{}", B64.encode(rand::random::<[u8; 18]>()));
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&verifier.salt),
            verifier.iterations
        );
        let mut expected_binding = client_first[..text.len() - bare.len()].to_vec();
        expected_binding.extend_from_slice(&binding_data);
        let exchange = Self {
            verifier,
            expected_binding,
            nonce,
            client_first_bare: bare.to_owned(),
            server_first: server_first.clone(),
        };
        Ok((exchange, server_first))
    }

    /// Checks client-final; on success returns server-final (`v=…`).
    pub fn finish(self, client_final: &[u8]) -> Result<String, ScramError> {
        let text = std::str::from_utf8(client_final)
            .map_err(|_| protocol("client-final-message is not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or_else(|| protocol("client-final-message has no proof"))?;
        let mut attributes = without_proof.split(',');
        let binding = attributes
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or_else(|| protocol("client-final-message has no channel binding"))?;
        let nonce = attributes
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or_else(|| protocol("client-final-message has no nonce"))?;
        let binding = B64
            .decode(binding)
            .map_err(|_| protocol("malformed channel binding"))?;
        if binding.ct_eq(&self.expected_binding).unwrap_u8() != 1 {
            return Err(ScramError::Binding(
                "SCRAM channel binding check failed".into(),
            ));
        }
        if nonce != self.nonce {
            return Err(protocol("SCRAM nonce mismatch"));
        }
        let proof = B64.decode(proof).map_err(|_| protocol("malformed proof"))?;
        if proof.len() != KEY_LEN {
            return Err(protocol("malformed proof"));
        }
        let auth_message = format!(
            "{},{},{without_proof}",
            self.client_first_bare, self.server_first
        );
        let signature = hmac_sha256(&self.verifier.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
        if sha256(&client_key)
            .ct_eq(&self.verifier.stored_key)
            .unwrap_u8()
            != 1
        {
            return Err(ScramError::Failed);
        }
        let server_signature = hmac_sha256(&self.verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)))
    }
}

/// The binding data the client must echo, or why its choice is refused. A client that says it
/// could bind (`y`) while this server offers binding is a downgrade (RFC 5802 §6).
fn check_binding(
    mechanism: &str,
    flag: &str,
    binding: &ChannelBinding,
) -> Result<Vec<u8>, ScramError> {
    match (mechanism, flag, &binding.end_point) {
        (SCRAM_SHA_256_PLUS, f, Some(data)) if f == format!("p={END_POINT}") => Ok(data.clone()),
        (SCRAM_SHA_256_PLUS, f, Some(_)) if f.starts_with("p=") => Err(ScramError::Unsupported(
            format!("unsupported SCRAM channel-binding type {:?}", &f[2..]),
        )),
        (SCRAM_SHA_256_PLUS, _, _) => Err(protocol(
            "SCRAM-SHA-256-PLUS selected without channel binding, or on a connection without it",
        )),
        (SCRAM_SHA_256, "n", _) | (SCRAM_SHA_256, "y", None) => Ok(Vec::new()),
        (SCRAM_SHA_256, "y", Some(_)) => Err(ScramError::Binding(
            "SCRAM channel binding negotiation error: the client supports channel binding but \
             thinks the server does not"
                .into(),
        )),
        (SCRAM_SHA_256, _, _) => Err(protocol("SCRAM-SHA-256 selected with channel binding data")),
        _ => Err(protocol(
            "client selected an invalid SASL authentication mechanism",
        )),
    }
}

fn client_nonce(bare: &str) -> Result<&str, ScramError> {
    let mut attributes = bare.split(',');
    match attributes.next() {
        Some(a) if a.starts_with("m=") => {
            return Err(ScramError::Unsupported(
                "SCRAM mandatory extensions are not supported".into(),
            ))
        }
        Some(a) if a.starts_with("n=") => {}
        _ => return Err(protocol("client-first-message has no user name attribute")),
    }
    let nonce = attributes
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .ok_or_else(|| protocol("client-first-message has no nonce"))?;
    if nonce.is_empty()
        || !nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
    {
        return Err(protocol("client nonce contains invalid characters"));
    }
    Ok(nonce)
}

fn protocol(message: &str) -> ScramError {
    ScramError::Protocol(message.to_owned())
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; KEY_LEN] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message);
    tag.as_ref().try_into().expect("HMAC-SHA-256 is 32 bytes")
}

fn sha256(data: &[u8]) -> [u8; KEY_LEN] {
    digest::digest(&digest::SHA256, data)
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes")
}

/// RFC 5929 `tls-server-end-point` data of a DER certificate: its hash under the certificate's
/// signature hash, with MD5 and SHA-1 replaced by SHA-256. `None` where that is undefined
/// (Ed25519, RSASSA-PSS), in which case SCRAM-SHA-256-PLUS is not offered, as in PostgreSQL.
pub fn tls_server_end_point(cert_der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let algorithm = match cert.signature_algorithm.algorithm.to_id_string().as_str() {
        "1.2.840.113549.1.1.4"
        | "1.2.840.113549.1.1.5"
        | "1.2.840.113549.1.1.11"
        | "1.2.840.10045.4.1"
        | "1.2.840.10045.4.3.2" => &digest::SHA256,
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => &digest::SHA384,
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => &digest::SHA512,
        _ => return None,
    };
    Some(digest::digest(algorithm, cert_der).as_ref().to_vec())
}

#[cfg(test)]
#[path = "scram_tests.rs"]
mod tests;
