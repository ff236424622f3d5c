//! The hash chain that makes the log tamper-evident (AD-05). Each line is
//!
//! `{"v":1,"seq":N,"prev":"<hash of record N-1>",<record fields>,"hash":"<hash of this line>"}`
//!
//! where `hash` covers the line up to (not including) `,"hash"`. Editing a record breaks its own
//! hash; removing, inserting or reordering records breaks `seq` and `prev`. With a chain key the
//! hash is HMAC-SHA-256, so whoever can edit the files but not read the key cannot recompute it.

use std::fmt::Write;

use ring::{digest, hmac};
use serde::Deserialize;

use super::record::{Event, FORMAT_VERSION};

/// `prev` of the first record ever written.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `,"hash":"` + 64 hex digits + `"}`.
const HASH_SUFFIX_LEN: usize = 9 + 64 + 2;

#[derive(Debug, Clone)]
pub enum Chain {
    Sha256,
    Hmac(hmac::Key),
}

/// The chain fields and event of a line that passed its own hash check.
#[derive(Debug, Clone, Deserialize)]
pub struct Sealed {
    pub v: u32,
    pub seq: u64,
    pub prev: String,
    pub event: Event,
    #[serde(default)]
    pub query_id: Option<String>,
    #[serde(default)]
    pub details: serde_json::Map<String, serde_json::Value>,
    #[serde(skip)]
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// Not a sealed record at all (cut short, or not JSON).
    Malformed,
    /// Its content does not match its hash.
    Modified,
}

impl Chain {
    pub fn new(key: Option<&[u8]>) -> Self {
        match key {
            Some(key) => Chain::Hmac(hmac::Key::new(hmac::HMAC_SHA256, key)),
            None => Chain::Sha256,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Chain::Sha256 => "sha256",
            Chain::Hmac(_) => "hmac-sha256",
        }
    }

    fn digest(&self, content: &[u8]) -> String {
        match self {
            Chain::Sha256 => hex(digest::digest(&digest::SHA256, content).as_ref()),
            Chain::Hmac(key) => hex(hmac::sign(key, content).as_ref()),
        }
    }

    /// The line (with its newline) for a record body, and its hash.
    pub fn seal(&self, seq: u64, prev: &str, body: &str) -> (String, String) {
        debug_assert!(body.starts_with('{') && body.ends_with('}') && body.len() > 2);
        let mut line = String::with_capacity(body.len() + 180);
        let _ = write!(
            line,
            "{{\"v\":{FORMAT_VERSION},\"seq\":{seq},\"prev\":\"{prev}\","
        );
        line.push_str(&body[1..body.len() - 1]);
        let hash = self.digest(line.as_bytes());
        line.push_str(",\"hash\":\"");
        line.push_str(&hash);
        line.push_str("\"}\n");
        (line, hash)
    }

    /// Checks one line (without its newline) against its own hash and reads its chain fields.
    pub fn open(&self, line: &str) -> Result<Sealed, LineError> {
        let at = line.len().saturating_sub(HASH_SUFFIX_LEN);
        if at < 2 || !line.ends_with("\"}") || !line.is_char_boundary(at) {
            return Err(LineError::Malformed);
        }
        let (content, suffix) = line.split_at(line.len() - HASH_SUFFIX_LEN);
        let stated = suffix
            .strip_prefix(",\"hash\":\"")
            .and_then(|s| s.strip_suffix("\"}"))
            .ok_or(LineError::Malformed)?;
        let mut sealed: Sealed =
            serde_json::from_str(&format!("{content}}}")).map_err(|_| LineError::Malformed)?;
        if self.digest(content.as_bytes()) != stated {
            return Err(LineError::Modified);
        }
        sealed.hash = stated.to_owned();
        Ok(sealed)
    }
}

/// Lower-case hex. Three hashes per statement go through this, so it formats by table
/// rather than through `format!` per byte (an allocation each).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    text
}

/// SHA-256 of a text, hex (the statement hash).
pub fn sha256_hex(text: &str) -> String {
    hex(digest::digest(&digest::SHA256, text.as_bytes()).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_lines_open_and_edits_are_caught() {
        let chain = Chain::new(None);
        let body = r#"{"event":"login","time":"t","note":"a \"quoted\" ,\"hash\":\"x\" text"}"#;
        let (line, hash) = chain.seal(7, GENESIS, body);
        let sealed = chain.open(line.trim_end()).unwrap();
        assert_eq!((sealed.seq, sealed.hash.as_str()), (7, hash.as_str()));
        assert_eq!(sealed.event, Event::Login);
        let edited = line.trim_end().replace("quoted", "QUOTED");
        assert_eq!(chain.open(&edited).unwrap_err(), LineError::Modified);
        assert_eq!(
            chain.open(&line[..line.len() / 2]).unwrap_err(),
            LineError::Malformed
        );
    }

    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_keyed_chain_differs_and_needs_the_key() {
        let keyed = Chain::new(Some(&[7u8; 32]));
        let (line, _) = keyed.seal(1, GENESIS, r#"{"event":"login","time":"t"}"#);
        assert!(keyed.open(line.trim_end()).is_ok());
        assert_eq!(
            Chain::new(None).open(line.trim_end()).unwrap_err(),
            LineError::Modified
        );
    }
}
