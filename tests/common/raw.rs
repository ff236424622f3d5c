//! A raw PostgreSQL protocol client for tests that need exact message sequences (Flush without
//! Sync, pipelining, error recovery until Sync, malformed input), which drivers do not expose.

use std::num::NonZeroU32;

use base64::Engine;
use ring::{digest, hmac, pbkdf2};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct RawClient {
    pub stream: TcpStream,
    /// What the server sent after authentication: ParameterStatus, BackendKeyData, ReadyForQuery.
    pub startup: Vec<Message>,
}

/// One backend message: its type byte and body.
#[derive(Debug, Clone)]
pub struct Message {
    pub tag: u8,
    pub body: Vec<u8>,
}

impl Message {
    /// The SQLSTATE of an ErrorResponse.
    pub fn sqlstate(&self) -> Option<String> {
        self.fields()
            .into_iter()
            .find(|(k, _)| *k == b'C')
            .map(|(_, v)| v)
    }

    pub fn fields(&self) -> Vec<(u8, String)> {
        self.body
            .split(|b| *b == 0)
            .filter(|f| !f.is_empty())
            .map(|f| (f[0], String::from_utf8_lossy(&f[1..]).into_owned()))
            .collect()
    }

    /// A ParameterStatus message's (name, value).
    pub fn parameter(&self) -> Option<(String, String)> {
        let mut parts = self
            .body
            .split(|b| *b == 0)
            .map(|p| String::from_utf8_lossy(p).into_owned());
        (self.tag == b'S').then(|| {
            (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            )
        })
    }

    /// A CommandComplete's tag (its body without the terminator).
    pub fn command_tag(&self) -> String {
        String::from_utf8_lossy(self.body.strip_suffix(&[0]).unwrap_or(&self.body)).into_owned()
    }

    /// The values of a DataRow, as text.
    pub fn row(&self) -> Vec<Option<String>> {
        let count = i16::from_be_bytes([self.body[0], self.body[1]]) as usize;
        let mut at = 2;
        (0..count)
            .map(|_| {
                let len = i32::from_be_bytes(self.body[at..at + 4].try_into().unwrap());
                at += 4;
                if len < 0 {
                    return None;
                }
                let value = String::from_utf8_lossy(&self.body[at..at + len as usize]).into_owned();
                at += len as usize;
                Some(value)
            })
            .collect()
    }
}

pub fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

pub fn query(sql: &str) -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, sql);
    frame(b'Q', &body)
}

pub fn parse(name: &str, sql: &str) -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, name);
    cstr(&mut body, sql);
    body.extend_from_slice(&0i16.to_be_bytes());
    frame(b'P', &body)
}

/// Bind with text parameters and all-text results.
pub fn bind(portal: &str, statement: &str, params: &[Option<&str>]) -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, portal);
    cstr(&mut body, statement);
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&(params.len() as i16).to_be_bytes());
    for p in params {
        match p {
            Some(v) => {
                body.extend_from_slice(&(v.len() as i32).to_be_bytes());
                body.extend_from_slice(v.as_bytes());
            }
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    body.extend_from_slice(&0i16.to_be_bytes());
    frame(b'B', &body)
}

pub fn describe(kind: u8, name: &str) -> Vec<u8> {
    let mut body = vec![kind];
    cstr(&mut body, name);
    frame(b'D', &body)
}

pub fn execute(portal: &str, max_rows: i32) -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, portal);
    body.extend_from_slice(&max_rows.to_be_bytes());
    frame(b'E', &body)
}

pub fn close(kind: u8, name: &str) -> Vec<u8> {
    let mut body = vec![kind];
    cstr(&mut body, name);
    frame(b'C', &body)
}

pub fn sync() -> Vec<u8> {
    frame(b'S', &[])
}

pub fn flush() -> Vec<u8> {
    frame(b'H', &[])
}

impl RawClient {
    /// Connects and logs in with SCRAM-SHA-256.
    pub async fn connect(addr: std::net::SocketAddr, user: &str, password: &str) -> Self {
        let mut client = Self::start(addr, user).await;
        client.scram(password).await.expect("a SASL request");
        client.startup = client.until_ready().await;
        client
    }

    /// Connects and sends nothing.
    pub async fn start_raw(addr: std::net::SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.unwrap(),
            startup: Vec::new(),
        }
    }

    /// Connects and sends the startup packet, nothing more.
    pub async fn start(addr: std::net::SocketAddr, user: &str) -> Self {
        let mut client = Self {
            stream: TcpStream::connect(addr).await.unwrap(),
            startup: Vec::new(),
        };
        client
            .send(&startup_packet(&[("user", user), ("database", "lake")]))
            .await;
        client
    }

    /// Runs the client side of SCRAM-SHA-256 (no channel binding) after the startup packet;
    /// a server that answers the startup with anything but a SASL request returns it.
    pub async fn scram(&mut self, password: &str) -> Result<(), Message> {
        let sasl = self.recv().await;
        if sasl.tag != b'R' {
            return Err(sasl);
        }
        let nonce = "rawtestclientnonce0123";
        let first_bare = format!("n=,r={nonce}");
        let mut body = Vec::new();
        cstr(&mut body, "SCRAM-SHA-256");
        let first = format!("n,,{first_bare}");
        body.extend_from_slice(&(first.len() as i32).to_be_bytes());
        body.extend_from_slice(first.as_bytes());
        self.send(&frame(b'p', &body)).await;
        let cont = self.recv().await;
        assert_eq!(
            &cont.body[..4],
            &11i32.to_be_bytes(),
            "expected SASLContinue: {cont:?}"
        );
        let server_first = String::from_utf8(cont.body[4..].to_vec()).unwrap();
        let attr = |k: &str| {
            server_first
                .split(',')
                .find_map(|p| p.strip_prefix(k))
                .unwrap()
                .to_owned()
        };
        let (r, s, i) = (attr("r="), attr("s="), attr("i=").parse::<u32>().unwrap());
        let salt = base64::engine::general_purpose::STANDARD.decode(s).unwrap();
        let mut salted = [0u8; 32];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            NonZeroU32::new(i).unwrap(),
            &salt,
            password.as_bytes(),
            &mut salted,
        );
        let client_key = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &salted), b"Client Key");
        let stored = digest::digest(&digest::SHA256, client_key.as_ref());
        let without_proof = format!("c=biws,r={r}");
        let auth_message = format!("{first_bare},{server_first},{without_proof}");
        let signature = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, stored.as_ref()),
            auth_message.as_bytes(),
        );
        let proof: Vec<u8> = client_key
            .as_ref()
            .iter()
            .zip(signature.as_ref())
            .map(|(a, b)| a ^ b)
            .collect();
        let last = format!(
            "{without_proof},p={}",
            base64::engine::general_purpose::STANDARD.encode(proof)
        );
        self.send(&frame(b'p', last.as_bytes())).await;
        Ok(())
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next backend message.
    pub async fn recv(&mut self) -> Message {
        let tag = self.stream.read_u8().await.expect("connection open");
        let len = self.stream.read_i32().await.unwrap() as usize;
        let mut body = vec![0; len - 4];
        self.stream.read_exact(&mut body).await.unwrap();
        Message { tag, body }
    }

    /// Messages up to and including ReadyForQuery.
    pub async fn until_ready(&mut self) -> Vec<Message> {
        let mut out = Vec::new();
        loop {
            let message = self.recv().await;
            let done = message.tag == b'Z';
            out.push(message);
            if done {
                return out;
            }
        }
    }

    /// Runs one simple query and returns its rows; panics on an error.
    pub async fn simple(&mut self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.send(&query(sql)).await;
        let reply = self.until_ready().await;
        assert!(reply.iter().all(|m| m.tag != b'E'), "{sql}: {reply:?}");
        reply
            .iter()
            .filter(|m| m.tag == b'D')
            .map(Message::row)
            .collect()
    }

    /// The next `n` messages.
    pub async fn take(&mut self, n: usize) -> Vec<Message> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.recv().await);
        }
        out
    }
}

/// A protocol 3.0 startup packet with these parameters.
pub fn startup_packet(parameters: &[(&str, &str)]) -> Vec<u8> {
    let mut startup = Vec::new();
    startup.extend_from_slice(&196_608i32.to_be_bytes());
    for (k, v) in parameters {
        cstr(&mut startup, k);
        cstr(&mut startup, v);
    }
    startup.push(0);
    let mut packet = ((startup.len() + 4) as i32).to_be_bytes().to_vec();
    packet.extend_from_slice(&startup);
    packet
}

/// The type bytes of a message list, as a string (for readable assertions).
pub fn tags(messages: &[Message]) -> String {
    messages.iter().map(|m| m.tag as char).collect()
}
