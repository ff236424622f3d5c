//! The client side of the wire fuzz target: what it sends before the fuzzer's bytes (a real
//! SCRAM-SHA-256 login, so the bytes reach the authenticated message handlers), and how it turns
//! the fuzzer's bytes into frames with correct lengths, so most inputs get past the framing.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ring::{digest, hmac, pbkdf2};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The demo principals the target signs in as; each password equals the name.
pub const USERS: [&str; 2] = ["analyst", "admin"];

/// Frontend message types (PostgreSQL protocol 3.0), indexed by the fuzzer's tag byte.
const FRONTEND_TAGS: &[u8] = b"QPBEDCSHFdcfpX";

const CLIENT_NONCE: &str = "bGFrZWdhdGUtZnV6ei1ub25jZQ";

/// What the first input byte selects.
pub enum Plan<'a> {
    /// The bytes from the first one on: negotiation, startup packet, authentication.
    Raw(&'a [u8]),
    /// Signed in as `user`; then the bytes as they are.
    SignedIn { user: &'static str, bytes: &'a [u8] },
    /// Signed in as `user`; then the bytes read as (tag, length, body) and framed correctly.
    Framed { user: &'static str, bytes: &'a [u8] },
}

impl<'a> Plan<'a> {
    pub fn of(input: &'a [u8]) -> Option<Self> {
        let (&selector, bytes) = input.split_first()?;
        let user = USERS[usize::from(selector / 3) % USERS.len()];
        Some(match selector % 3 {
            0 => Plan::Raw(bytes),
            1 => Plan::SignedIn { user, bytes },
            _ => Plan::Framed { user, bytes },
        })
    }
}

/// Frames the fuzzer's bytes: each message is a tag byte (mapped onto a frontend type), a body
/// length byte, and that many body bytes (fewer at the end of the input).
pub fn frame_messages(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    while let [tag, length, rest @ ..] = bytes {
        let take = usize::from(*length).min(rest.len());
        let (body, next) = rest.split_at(take);
        out.push(FRONTEND_TAGS[usize::from(*tag) % FRONTEND_TAGS.len()]);
        out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        out.extend_from_slice(body);
        bytes = next;
    }
    out
}

/// Signs in as `user` with SCRAM-SHA-256 and reads up to the first ReadyForQuery. The statement
/// timeout bounds whatever SQL the fuzzer writes.
pub async fn sign_in(stream: &mut TcpStream, user: &str) -> Result<(), String> {
    let params = [
        ("user", user),
        ("database", "lake"),
        ("application_name", "fuzz"),
        ("statement_timeout", "1000"),
    ];
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for (name, value) in params {
        body.extend_from_slice(format!("{name}\0{value}\0").as_bytes());
    }
    body.push(0);
    let mut packet = (body.len() as u32 + 4).to_be_bytes().to_vec();
    packet.extend_from_slice(&body);
    write(stream, &packet).await?;
    expect_auth(stream, 10).await?;
    let client_first_bare = format!("n=,r={CLIENT_NONCE}");
    let mut initial = b"SCRAM-SHA-256\0".to_vec();
    let client_first = format!("n,,{client_first_bare}");
    initial.extend_from_slice(&(client_first.len() as u32).to_be_bytes());
    initial.extend_from_slice(client_first.as_bytes());
    send(stream, b'p', &initial).await?;
    let server_first = String::from_utf8(expect_auth(stream, 11).await?)
        .map_err(|_| "server-first-message is not UTF-8")?;
    let client_final = client_final(user, &client_first_bare, &server_first)?;
    send(stream, b'p', client_final.as_bytes()).await?;
    expect_auth(stream, 12).await?;
    expect_auth(stream, 0).await?;
    while read_message(stream).await?.0 != b'Z' {}
    Ok(())
}

/// The client-final-message, with the proof for `user`'s password (the user name).
fn client_final(user: &str, client_first_bare: &str, server_first: &str) -> Result<String, String> {
    let field = |key: &str| {
        server_first
            .split(',')
            .find_map(|part| part.strip_prefix(key))
            .ok_or_else(|| format!("server-first-message without {key}"))
    };
    let nonce = field("r=")?;
    let salt = field("s=")?;
    let iterations: u32 = field("i=")?.parse().map_err(|_| "bad iteration count")?;
    let salted = salted_password(user, salt, iterations)?;
    let client_key = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &salted), b"Client Key");
    let stored_key = digest::digest(&digest::SHA256, client_key.as_ref());
    let without_proof = format!("c=biws,r={nonce}");
    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
    let signature = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, stored_key.as_ref()),
        auth_message.as_bytes(),
    );
    let proof: Vec<u8> = client_key
        .as_ref()
        .iter()
        .zip(signature.as_ref())
        .map(|(k, s)| k ^ s)
        .collect();
    Ok(format!("{without_proof},p={}", BASE64.encode(proof)))
}

/// PBKDF2 over the password, once per user and salt: 4096 rounds per input would dominate.
fn salted_password(user: &str, salt: &str, iterations: u32) -> Result<Vec<u8>, String> {
    static SALTED: Mutex<Option<HashMap<String, Vec<u8>>>> = Mutex::new(None);
    let key = format!("{user}:{salt}:{iterations}");
    let mut cache = SALTED.lock().expect("salted-password cache");
    if let Some(salted) = cache.get_or_insert_with(HashMap::new).get(&key) {
        return Ok(salted.clone());
    }
    let salt = BASE64.decode(salt).map_err(|_| "salt is not base64")?;
    let rounds = std::num::NonZeroU32::new(iterations).ok_or("zero iterations")?;
    let mut salted = vec![0u8; 32];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        &salt,
        user.as_bytes(),
        &mut salted,
    );
    cache
        .get_or_insert_with(HashMap::new)
        .insert(key, salted.clone());
    Ok(salted)
}

/// Reads an Authentication message with the given code and returns the rest of its body.
async fn expect_auth(stream: &mut TcpStream, code: u32) -> Result<Vec<u8>, String> {
    let (tag, body) = read_message(stream).await?;
    let got = body
        .get(..4)
        .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")));
    if tag != b'R' || got != Some(code) {
        let text = String::from_utf8_lossy(&body);
        return Err(format!(
            "expected authentication code {code}, got {:?} {text}",
            tag as char
        ));
    }
    Ok(body[4..].to_vec())
}

async fn read_message(stream: &mut TcpStream) -> Result<(u8, Vec<u8>), String> {
    let mut header = [0u8; 5];
    stream
        .read_exact(&mut header)
        .await
        .map_err(|e| e.to_string())?;
    let length = u32::from_be_bytes(header[1..].try_into().expect("4 bytes")) as usize;
    let mut body = vec![0u8; length.saturating_sub(4)];
    stream
        .read_exact(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    Ok((header[0], body))
}

async fn send(stream: &mut TcpStream, tag: u8, body: &[u8]) -> Result<(), String> {
    let mut message = vec![tag];
    message.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    message.extend_from_slice(body);
    write(stream, &message).await
}

async fn write(stream: &mut TcpStream, bytes: &[u8]) -> Result<(), String> {
    stream.write_all(bytes).await.map_err(|e| e.to_string())
}

/// Sends the bytes, closes the sending side, and reads whatever the server answers until it
/// closes the connection. Reading and writing run together, so neither side's buffers fill.
pub async fn send_and_drain(stream: TcpStream, bytes: &[u8]) {
    let (mut reader, mut writer) = stream.into_split();
    let send = async {
        // The server may close first (a FATAL error): the rest is then not needed.
        let _ = writer.write_all(bytes).await;
        let _ = writer.shutdown().await;
    };
    let drain = async {
        let mut buffer = [0u8; 16 * 1024];
        while let Ok(1..) = reader.read(&mut buffer).await {}
    };
    tokio::join!(send, drain);
}
