//! Authentication and connection limits at the protocol level, against a gateway with a users
//! file the test edits, TLS from a CA the test makes, and small limits.
//! (Real clients over TLS and the token matrix: tests/auth/run.sh.)

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::raw::{self, RawClient};
use lakegate::auth::scram::ScramVerifier;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

struct Fixture {
    addr: SocketAddr,
    users: PathBuf,
}

/// For the limit tests, a second gateway: its connection cap and throttle must not meet the
/// other tests, which run at the same time.
const MAX_CONNECTIONS: usize = 3;
const MAX_FAILURES: u32 = 3;
const IDLE_MS: u64 = 1500;
const MAX_PENDING: usize = 2;

fn users_text(extra: &str) -> String {
    let mut text = String::new();
    for (name, password) in [
        ("alice", "alice-pw"),
        ("bob", "bob-pw"),
        ("locked", "locked-pw"),
    ] {
        let verifier = ScramVerifier::generate(password, 4096);
        text.push_str(&format!(
            "[[user]]\nname = \"{name}\"\ngroups = [\"g\"]\nverifier = \"{verifier}\"\n\n"
        ));
    }
    text + extra
}

fn start(
    name: &str,
    configure: impl FnOnce(&mut lakegate::config::Config) + Send + 'static,
) -> Fixture {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("auth-test-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let users = dir.join("users.toml");
    std::fs::write(&users, users_text("")).unwrap();
    let file = users.clone();
    let gateway = common::start_gateway(move |config| {
        config.auth.users_file = Some(file);
        config.auth.users_reload_check_ms = 100;
        config.limits.startup_timeout_ms = 1000;
        config.limits.max_message_bytes = 64 * 1024;
        configure(config);
    });
    Fixture {
        addr: gateway.addr,
        users,
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        start("main", |config| {
            config.auth.throttle.max_failures_per_user = 1000;
            config.auth.throttle.max_failures_per_address = 1000;
        })
    })
}

fn limited() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        start("limited", |config| {
            config.auth.throttle.max_failures_per_user = MAX_FAILURES;
            config.limits.max_connections = MAX_CONNECTIONS;
            config.limits.idle_session_timeout_ms = IDLE_MS;
            config.limits.max_pending_logins_per_address = MAX_PENDING;
        })
    })
}

/// One field of an ErrorResponse ('' when absent).
fn field(message: &raw::Message, code: u8) -> String {
    let fields = message.fields();
    let value = fields.into_iter().find(|(f, _)| *f == code);
    value.map(|(_, v)| v).unwrap_or_default()
}

/// The SQLSTATE and message of the FATAL that ends a login attempt.
async fn login_error(client: &mut RawClient) -> (String, String) {
    loop {
        let message = client.recv().await;
        if message.tag == b'E' {
            assert_eq!(field(&message, b'S'), "FATAL");
            return (field(&message, b'C'), field(&message, b'M'));
        }
    }
}

async fn scram_login(user: &str, password: &str) -> Result<(), (String, String)> {
    scram_login_at(fixture(), user, password).await
}

async fn scram_login_at(
    gateway: &Fixture,
    user: &str,
    password: &str,
) -> Result<(), (String, String)> {
    let mut client = RawClient::start(gateway.addr, user).await;
    let reply = match client.scram(password).await {
        Ok(()) => client.recv().await,
        Err(refusal) => refusal,
    };
    if reply.tag == b'E' {
        return Err((field(&reply, b'C'), field(&reply, b'M')));
    }
    client.until_ready().await;
    Ok(())
}

/// The salt a server-first message offers to `user`.
async fn offered_salt(user: &str) -> String {
    offered_salt_at(fixture(), user).await
}

async fn offered_salt_at(gateway: &Fixture, user: &str) -> String {
    let mut client = RawClient::start(gateway.addr, user).await;
    let sasl = client.recv().await;
    assert_eq!(sasl.tag, b'R');
    let mut body = Vec::new();
    body.extend_from_slice(b"SCRAM-SHA-256\0");
    let first = b"n,,n=,r=fixednonce";
    body.extend_from_slice(&(first.len() as i32).to_be_bytes());
    body.extend_from_slice(first);
    client.send(&raw::frame(b'p', &body)).await;
    let server_first = String::from_utf8(client.recv().await.body[4..].to_vec()).unwrap();
    server_first
        .split(',')
        .find_map(|a| a.strip_prefix("s="))
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn unknown_users_and_wrong_passwords_look_the_same() {
    scram_login("alice", "alice-pw").await.unwrap();
    let wrong = scram_login("bob", "nope").await.unwrap_err();
    let unknown = scram_login("nobody", "nope").await.unwrap_err();
    assert_eq!(wrong.0, "28P01");
    assert_eq!(unknown.0, wrong.0);
    assert_eq!(
        unknown.1.replace("nobody", "X"),
        wrong.1.replace("bob", "X")
    );
    // The mock salt is stable per name, so repeated probes cannot tell a mock from a real one.
    assert_eq!(offered_salt("nobody").await, offered_salt("nobody").await);
    assert_ne!(offered_salt("nobody").await, offered_salt("someone").await);
}

/// Both limit checks share the limited gateway, one after the other.
#[tokio::test]
async fn connection_cap_and_login_throttling() {
    past_max_connections_clients_get_53300().await;
    repeated_failures_throttle_the_user_with_the_same_error().await;
    idle_sessions_end_with_57p05().await;
    unauthenticated_connections_per_address_are_capped().await;
}

async fn unauthenticated_connections_per_address_are_capped() {
    let mut silent = Vec::new();
    for _ in 0..MAX_PENDING {
        silent.push(TcpStream::connect(limited().addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let mut third = TcpStream::connect(limited().addr).await.unwrap();
    let mut buf = [0u8; 8];
    let read = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "closed: {read:?}");
    // At once, not at the startup timeout.
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
    // The server sees those sockets close at once; then their slots are free again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    common::wait_until(Duration::from_secs(10), || async {
        scram_login_at(limited(), "alice", "alice-pw").await.is_ok()
    })
    .await;
}

async fn idle_sessions_end_with_57p05() {
    let mut client = RawClient::connect(limited().addr, "alice", "alice-pw").await;
    // A statement resets the clock; silence past the limit ends the session.
    client.send(&raw::query("SELECT 1")).await;
    client.until_ready().await;
    let started = Instant::now();
    let fatal = client.recv().await;
    assert_eq!(fatal.sqlstate().as_deref(), Some("57P05"));
    assert!(started.elapsed() >= Duration::from_millis(IDLE_MS - 100));
}

async fn repeated_failures_throttle_the_user_with_the_same_error() {
    scram_login_at(limited(), "locked", "locked-pw")
        .await
        .unwrap();
    for _ in 0..MAX_FAILURES {
        assert_eq!(
            scram_login_at(limited(), "locked", "guess")
                .await
                .unwrap_err()
                .0,
            "28P01"
        );
    }
    // Now even the right password is refused, indistinguishably, until the window passes.
    let throttled = scram_login_at(limited(), "locked", "locked-pw")
        .await
        .unwrap_err();
    assert_eq!(throttled.0, "28P01");
    assert!(
        throttled.1.contains("password authentication failed"),
        "{throttled:?}"
    );
}

#[tokio::test]
async fn the_users_file_reloads_and_a_bad_file_keeps_the_old_users() {
    let users = &fixture().users;
    assert!(scram_login("carol", "carol-pw").await.is_err());
    let carol = ScramVerifier::generate("carol-pw", 4096);
    std::fs::write(
        users,
        users_text(&format!(
            "[[user]]\nname = \"carol\"\nverifier = \"{carol}\"\n"
        )),
    )
    .unwrap();
    common::wait_until(Duration::from_secs(10), || async {
        scram_login("carol", "carol-pw").await.is_ok()
    })
    .await;
    std::fs::write(
        users,
        "[[user]]\nname = \"carol\"\nverifier = \"plaintext\"\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    scram_login("carol", "carol-pw")
        .await
        .expect("the previous users stay in force");
    std::fs::write(users, users_text("")).unwrap();
    common::wait_until(Duration::from_secs(10), || async {
        scram_login("carol", "carol-pw").await.is_err()
    })
    .await;
}

#[tokio::test]
async fn a_client_that_says_nothing_is_dropped_at_the_startup_timeout() {
    let started = Instant::now();
    let mut socket = TcpStream::connect(fixture().addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "closed: {read:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
    // Half-way through SCRAM counts too.
    let mut client = RawClient::start(fixture().addr, "alice").await;
    assert_eq!(client.recv().await.tag, b'R');
    let read = tokio::time::timeout(Duration::from_secs(10), client.stream.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "closed: {read:?}");
}

#[tokio::test]
async fn a_client_that_trickles_its_startup_packet_is_dropped_at_the_startup_timeout() {
    use tokio::io::AsyncWriteExt;
    // One byte every 200 ms: each byte is news, but the timeout bounds the whole login.
    let started = Instant::now();
    let (mut reader, mut writer) = TcpStream::connect(fixture().addr)
        .await
        .unwrap()
        .into_split();
    let packet = raw::startup_packet(&[("user", "alice"), ("database", "lake")]);
    let trickle = tokio::spawn(async move {
        for byte in packet {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
        }
    });
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(10), reader.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "closed: {read:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert!(
        !trickle.is_finished(),
        "dropped before the packet was whole"
    );
    trickle.abort();
}

#[tokio::test]
async fn oversized_startup_packets_and_messages_are_refused() {
    let mut client = RawClient::start_raw(fixture().addr).await;
    client.send(&20_000i32.to_be_bytes()).await;
    client.send(&[0u8; 64]).await;
    let (code, _) = login_error(&mut client).await;
    assert_eq!(code, "08P01");

    let mut client = RawClient::connect(fixture().addr, "alice", "alice-pw").await;
    let big = "x".repeat(100 * 1024);
    client.send(&raw::query(&format!("SELECT '{big}'"))).await;
    let error = client.recv().await;
    assert_eq!(error.tag, b'E');
    assert_eq!(error.sqlstate().as_deref(), Some("54000"));
}

async fn past_max_connections_clients_get_53300() {
    let mut held = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        held.push(RawClient::connect(limited().addr, "alice", "alice-pw").await);
    }
    let mut extra = RawClient::start(limited().addr, "alice").await;
    let (code, message) = login_error(&mut extra).await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("53300", "sorry, too many clients already")
    );
    drop(held);
    common::wait_until(Duration::from_secs(10), || async {
        scram_login_at(limited(), "alice", "alice-pw").await.is_ok()
    })
    .await;
}

#[tokio::test]
async fn replication_and_other_databases_are_refused() {
    let mut client = RawClient::start_raw(fixture().addr).await;
    client
        .send(&raw::startup_packet(&[
            ("user", "alice"),
            ("database", "lake"),
            ("replication", "database"),
        ]))
        .await;
    assert_eq!(login_error(&mut client).await.0, "0A000");
    let mut client = RawClient::start_raw(fixture().addr).await;
    client
        .send(&raw::startup_packet(&[
            ("user", "alice"),
            ("database", "postgres"),
        ]))
        .await;
    assert_eq!(login_error(&mut client).await.0, "3D000");
}

/// Messages whose fields do not fit their length (what `fuzz/` found pgwire reading past, or
/// panicking on): answered FATAL 08P01 as PostgreSQL does, after the whole messages before
/// them, and the server serves on.
#[tokio::test]
async fn malformed_messages_after_login_end_the_connection_with_08p01() {
    let bind_past_its_frame = raw::frame(b'B', &[0, 0, 0, 0, 0, 1, 0x6f, 0x72, 0x64, 0x65, 0, 0]);
    let cases = [
        bind_past_its_frame,
        raw::frame(b'E', b"\0\0\0"),
        raw::frame(b'Q', b"SELECT 1"),
        raw::frame(b'P', b"s\0SELECT 1\0"),
        raw::frame(b'S', b"\0"),
        raw::frame(b'D', b""),
    ];
    for case in cases {
        let mut client = RawClient::connect(fixture().addr, "alice", "alice-pw").await;
        client
            .send(&[raw::query("SELECT 41 + 1"), case.clone()].concat())
            .await;
        let mut answered = Vec::new();
        let error = loop {
            let message = client.recv().await;
            if message.tag == b'E' {
                break message;
            }
            answered.push(message);
        };
        assert_eq!(
            (field(&error, b'S'), error.sqlstate().as_deref()),
            ("FATAL".to_owned(), Some("08P01")),
            "{case:?}"
        );
        let row = answered.iter().find(|m| m.tag == b'D').map(|m| m.row());
        assert_eq!(
            row,
            Some(vec![Some("42".to_owned())]),
            "the query before it ran"
        );
        let mut rest = [0u8; 16];
        let closed = tokio::time::timeout(Duration::from_secs(5), client.stream.read(&mut rest));
        assert!(
            matches!(closed.await, Ok(Ok(0)) | Ok(Err(_))),
            "closed after it"
        );
    }
    scram_login("alice", "alice-pw").await.unwrap();
}

#[tokio::test]
async fn malformed_and_oversized_messages_before_login_are_refused() {
    let sasl_initial = |body: &[u8]| raw::frame(b'p', body);
    let mut cases: Vec<Vec<u8>> = vec![
        sasl_initial(b""),
        sasl_initial(b"SCRAM-SHA-256\0"),
        sasl_initial(b"SCRAM-SHA-256\0\0\0"),
        sasl_initial(
            &[
                b"SCRAM-SHA-256\0".as_slice(),
                &(-2i32).to_be_bytes(),
                b"n,,",
            ]
            .concat(),
        ),
        sasl_initial(
            &[
                b"SCRAM-SHA-256\0".as_slice(),
                &1000i32.to_be_bytes(),
                b"n,,",
            ]
            .concat(),
        ),
    ];
    // Before login, a message may not be larger than the startup limit.
    cases.push(sasl_initial(&vec![b'x'; 20_000]));
    for case in cases {
        let mut client = RawClient::start(fixture().addr, "alice").await;
        assert_eq!(client.recv().await.tag, b'R');
        client.send(&case).await;
        let (code, _) = login_error(&mut client).await;
        assert!(
            ["08P01", "54000"].contains(&code.as_str()),
            "{code} for {:?}",
            &case[..case.len().min(24)]
        );
    }
    // The server is still there.
    scram_login("alice", "alice-pw").await.unwrap();
}
