//! Federated tables whose remote cannot be used: nothing listening, a server that accepts and
//! never answers, a missing secret, an undefined connection, a password in the URL. Each fails
//! with its SQLSTATE and a message naming the connection and nothing else (no host, port, user
//! or password), within the connect timeout, while other statements go on. The remote-backed
//! suite (real PostgreSQL and MariaDB) is `tests/federation/run.sh`.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{connect_to, copy_dir, rows, sqlstate, start_gateway, TestGateway};
use lakegate::federation::ConnectionConfig;
use serde_json::json;

const PASSWORD: &str = "pw-that-must-not-show";

struct Fixture {
    gateway: TestGateway,
    /// The port nothing listens on.
    closed_port: u16,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("federation-test");
        let _ = std::fs::remove_dir_all(&tmp);
        let catalog = tmp.join("catalog");
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog-fixtures"),
            &catalog,
        );
        add_ops_database(&catalog);
        let closed_port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let silent_port = silent_server();
        let gateway = start_gateway(move |config| {
            config.catalog.fixtures = Some(catalog);
            config.federation.connect_timeout_seconds = 1;
            let pg = |port: u16, secret: &str| ConnectionConfig {
                jdbc_connection_url: format!("jdbc:postgresql://127.0.0.1:{port}/ops"),
                secret_id: Some(secret.to_owned()),
                jdbc_enforce_ssl: false,
            };
            let connections = &mut config.federation.connections;
            connections.insert("down_pg".into(), pg(closed_port, "test-login"));
            connections.insert("silent_pg".into(), pg(silent_port, "test-login"));
            connections.insert("no_secret_pg".into(), pg(closed_port, "never-set"));
            let mut in_url = pg(closed_port, "test-login");
            in_url.jdbc_connection_url =
                format!("jdbc:postgresql://admin:{PASSWORD}@127.0.0.1:{closed_port}/ops");
            connections.insert("password_pg".into(), in_url);
            std::env::set_var(
                "LAKEGATE_SECRET_TEST_LOGIN",
                json!({"username": "someone", "password": PASSWORD}).to_string(),
            );
        });
        Fixture {
            gateway,
            closed_port,
        }
    })
}

/// Accepts connections and never answers: a remote that hangs.
fn silent_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    port
}

fn add_ops_database(catalog: &Path) {
    let path = catalog.join("databases.json");
    let mut databases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    databases["DatabaseList"]
        .as_array_mut()
        .unwrap()
        .push(json!({"Name": "ops"}));
    std::fs::write(&path, databases.to_string()).unwrap();
    let table = |name: &str, connection: &str| {
        json!({
            "Name": name,
            "Parameters": {"connectionName": connection, "classification": "postgresql"},
            "StorageDescriptor": {
                "Columns": [{"Name": "customer_id", "Type": "bigint"}, {"Name": "segment", "Type": "string"}],
                "Location": "ops.public.customers",
            },
        })
    };
    let tables = json!({"TableList": [
        table("down", "down_pg"), table("silent", "silent_pg"), table("no_secret", "no_secret_pg"),
        table("password", "password_pg"), table("undefined", "not_a_connection"),
    ]});
    std::fs::write(catalog.join("tables/ops.json"), tables.to_string()).unwrap();
}

/// (SQLSTATE, message, seconds) of a statement that must fail.
async fn failure(sql: &str) -> (String, String, f64) {
    let client = connect_to(&fixture().gateway, "admin").await;
    let started = Instant::now();
    let error = client.simple_query(sql).await.expect_err(sql);
    let message = error
        .as_db_error()
        .map(|e| e.message().to_owned())
        .unwrap_or_default();
    (sqlstate(&error), message, started.elapsed().as_secs_f64())
}

fn assert_discreet(message: &str) {
    let port = fixture().closed_port.to_string();
    for secret in ["127.0.0.1", port.as_str(), "someone", PASSWORD, "admin:"] {
        assert!(!message.contains(secret), "{secret:?} shows in {message:?}");
    }
}

#[tokio::test]
async fn an_unreachable_remote_is_08001_naming_only_the_connection() {
    let (state, message, seconds) = failure("SELECT * FROM ops.down").await;
    assert_eq!(state, "08001", "{message}");
    assert!(
        message.contains("\"down_pg\"") && message.contains("not reachable"),
        "{message}"
    );
    assert!(message.contains("query id"), "{message}");
    assert!(seconds < 3.0, "took {seconds} s");
    assert_discreet(&message);
}

#[tokio::test]
async fn a_hanging_remote_fails_within_the_timeout_while_others_run() {
    let slow = tokio::spawn(failure("SELECT count(*) FROM ops.silent"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = connect_to(&fixture().gateway, "analyst").await;
    let started = Instant::now();
    let other = client
        .simple_query("SELECT count(*) FROM sales.customers")
        .await
        .unwrap();
    let other_seconds = started.elapsed().as_secs_f64();
    let (state, message, seconds) = slow.await.unwrap();
    assert_eq!(state, "08001", "{message}");
    assert!(
        message.contains("\"silent_pg\"") && message.contains("no answer within 1 s"),
        "{message}"
    );
    assert!((0.9..4.0).contains(&seconds), "took {seconds} s");
    assert!(
        !rows(&other).is_empty() && other_seconds < seconds,
        "{other_seconds} s"
    );
    assert_discreet(&message);
}

#[tokio::test]
async fn connections_without_usable_credentials_say_what_to_set() {
    let (state, message, _) = failure("SELECT * FROM ops.no_secret").await;
    assert_eq!(state, "HV000", "{message}");
    assert!(
        message.contains("LAKEGATE_SECRET_NEVER_SET") && message.contains("secrets_file"),
        "{message}"
    );
    let (state, message, _) = failure("SELECT * FROM ops.password").await;
    assert_eq!(state, "HV000", "{message}");
    assert!(
        message.contains("password") && message.contains("SECRET_ID"),
        "{message}"
    );
    assert_discreet(&message);
    let (state, message, _) = failure("SELECT * FROM ops.undefined").await;
    assert_eq!(
        (state.as_str(), message.contains("not defined")),
        ("HV000", true),
        "{message}"
    );
}

#[tokio::test]
async fn metadata_of_federated_tables_needs_no_remote() {
    let client = connect_to(&fixture().gateway, "admin").await;
    let columns = client
        .simple_query(
            "SELECT column_name FROM information_schema.columns \
             WHERE table_schema = 'ops' AND table_name = 'down' ORDER BY ordinal_position",
        )
        .await
        .unwrap();
    let want = vec![
        vec![Some("customer_id".to_owned())],
        vec![Some("segment".to_owned())],
    ];
    assert_eq!(rows(&columns), want);
    let described = client
        .simple_query(
            "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_class c ON a.attrelid = c.oid \
             WHERE c.relname = 'down' AND a.attnum > 0 ORDER BY a.attnum",
        )
        .await
        .unwrap();
    let want = vec![
        vec![Some("bigint".to_owned())],
        vec![Some("text".to_owned())],
    ];
    assert_eq!(rows(&described), want);
}
