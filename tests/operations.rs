//! Operations (issue 11), against the real binary: the HTTP endpoint is scraped (health,
//! readiness, Prometheus metrics that move with the statements run), and SIGTERM stops the
//! gateway gracefully (idle sessions get 57P01, a running statement finishes, new connections
//! are refused, the audit segment is closed, the process exits 0).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{audit_segments, fresh_audit_dir, sqlstate, test_lake};
use tokio_postgres::{NoTls, SimpleQueryMessage};

struct Served {
    child: Child,
    pg: SocketAddr,
    http: SocketAddr,
    audit_dir: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// `lakegate serve` over the test lake with the operations endpoint on.
fn serve() -> Served {
    serve_with(Command::new(env!("CARGO_BIN_EXE_lakegate")))
}

/// `serve()` with more arguments or environment given in `command`.
fn serve_with(mut command: Command) -> Served {
    let (pg, http, audit_dir) = (free_port(), free_port(), fresh_audit_dir());
    let child = command
        .args(["serve", "--listen", &pg.to_string()])
        .args(["--http-listen", &http.to_string()])
        .arg("--lake-root")
        .arg(test_lake())
        .env("LAKEGATE_AUDIT_DIR", &audit_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while TcpStream::connect(pg).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "lakegate did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Served {
        child,
        pg,
        http,
        audit_dir,
    }
}

/// (status code, body) of `GET path`.
fn get(address: SocketAddr, path: &str) -> (u16, String) {
    let mut socket = TcpStream::connect(address).unwrap();
    write!(socket, "GET {path} HTTP/1.1\r\nHost: lakegate\r\n\r\n").unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

/// The value of the first sample line starting with `prefix`, 0 when there is none.
fn sample(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

async fn client(served: &Served, user: &str) -> tokio_postgres::Client {
    let conn = format!(
        "host=127.0.0.1 port={} dbname=lake user={user} password={user}",
        served.pg.port()
    );
    let (client, connection) = tokio_postgres::connect(&conn, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

#[tokio::test]
async fn the_operations_endpoint_reports_health_readiness_and_metrics() {
    let served = serve();
    assert_eq!(get(served.http, "/healthz"), (200, "ok\n".to_owned()));
    assert_eq!(get(served.http, "/readyz"), (200, "ready\n".to_owned()));
    assert_eq!(get(served.http, "/nope").0, 404);
    let before = get(served.http, "/metrics").1;
    let ok = r#"lakegate_statements_total{outcome="ok",sqlstate=""}"#;
    let missing = r#"lakegate_statements_total{outcome="error",sqlstate="42P01"}"#;

    let analyst = client(&served, "analyst").await;
    for _ in 0..3 {
        analyst
            .simple_query("SELECT count(*) FROM sales.orders WHERE order_date = '2024-03-15'")
            .await
            .unwrap();
    }
    let error = analyst.simple_query("SELECT * FROM sales.nope").await;
    assert_eq!(sqlstate(&error.unwrap_err()), "42P01");

    let (status, after) = get(served.http, "/metrics");
    assert_eq!(status, 200);
    assert!(sample(&after, ok) - sample(&before, ok) >= 3.0, "{after}");
    assert_eq!(
        sample(&after, missing) - sample(&before, missing),
        1.0,
        "{after}"
    );
    assert!(
        sample(&after, "lakegate_connections_open ") >= 1.0,
        "{after}"
    );
    assert!(
        sample(&after, "lakegate_scanned_bytes_total") > 0.0,
        "{after}"
    );
    assert!(
        sample(&after, "lakegate_partitions_matched_total") >= 3.0,
        "{after}"
    );
    assert!(
        sample(&after, "lakegate_statement_duration_seconds_count") >= 4.0,
        "{after}"
    );
    assert!(
        sample(&after, "lakegate_audit_durable_seconds_count") >= 3.0,
        "{after}"
    );
    let (records, syncs) = ("lakegate_audit_records_total", "lakegate_audit_syncs_total");
    assert!(
        sample(&after, records) - sample(&before, records) >= 5.0,
        "three decisions, and the terminal records written with the later ones: {after}"
    );
    assert!(
        sample(&after, syncs) - sample(&before, syncs) >= 3.0,
        "each decision is synced before its rows: {after}"
    );
    let lookups = r#"lakegate_cache_lookups_total{cache="partitions"}"#;
    let misses = r#"lakegate_cache_misses_total{cache="partitions"}"#;
    assert!(
        sample(&after, lookups) > sample(&after, misses),
        "the same day's partitions come from the cache: {after}"
    );
}

/// A session keeps the physical plans of its repeated statements (`plan_cache.rs`): a kept
/// plan runs again from a reset copy, so every run answers in full, through the row filter
/// of the principal's policy, with each run's own parameters.
#[tokio::test]
async fn repeated_statements_reuse_their_plans_and_answer_in_full_each_time() {
    let served = serve();
    let lookups = |cache: &str| format!(r#"lakegate_cache_lookups_total{{cache="{cache}"}}"#);
    let misses = |cache: &str| format!(r#"lakegate_cache_misses_total{{cache="{cache}"}}"#);
    let emea = client(&served, "emea_analyst").await;
    let day = "FROM sales.orders WHERE order_date = '2024-03-15'";
    let everything = format!("SELECT order_id, region {day}");
    let first = emea.query(everything.as_str(), &[]).await.unwrap();
    assert!(!first.is_empty());
    assert!(first.iter().all(|row| row.get::<_, String>(1) == "EMEA"));
    let before = get(served.http, "/metrics").1;
    for _ in 0..3 {
        assert_eq!(
            emea.query(everything.as_str(), &[]).await.unwrap().len(),
            first.len()
        );
        let simple = emea.simple_query(everything.as_str()).await.unwrap();
        let rows = simple
            .iter()
            .filter(|m| matches!(m, SimpleQueryMessage::Row(_)));
        assert_eq!(rows.count(), first.len());
    }
    let lookup = emea
        .prepare(&format!("SELECT order_id, region {day} AND order_id = $1"))
        .await
        .unwrap();
    for row in first.iter().take(3) {
        let id: i64 = row.get(0);
        for _ in 0..2 {
            let found = emea.query(&lookup, &[&id]).await.unwrap();
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].get::<_, i64>(0), id);
        }
    }
    let after = get(served.http, "/metrics").1;
    let reused = |m: &str, cache: &str| sample(m, &lookups(cache)) - sample(m, &misses(cache));
    let gained = |cache: &str| reused(&after, cache) - reused(&before, cache);
    assert!(
        gained("plans") >= 9.0,
        "6 repeated queries and 3 repeated lookups reuse their plans: {after}"
    );
    assert!(
        gained("statements") >= 6.0,
        "6 repeated query texts (3 parsed, 3 simple) are not planned again: {after}"
    );
}

#[tokio::test]
async fn sigterm_lets_the_running_statement_finish_and_ends_idle_sessions() {
    let mut served = serve();
    let idle = client(&served, "analyst").await;
    let busy = client(&served, "admin").await;
    // A nested-loop join over the test lake's orders: seconds in a debug build.
    let long = "SELECT count(*) FROM sales.orders a JOIN sales.orders b ON a.amount < b.amount";
    let started = Instant::now();
    let running = tokio::spawn(async move { busy.simple_query(long).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = served.child.id() as i32;
    // SAFETY: sends a signal to the child process this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    tokio::time::sleep(Duration::from_millis(200)).await;

    assert_eq!(
        get(served.http, "/readyz").0,
        503,
        "not ready while draining"
    );
    let refused = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} dbname=lake user=analyst password=analyst",
            served.pg.port()
        ),
        NoTls,
    )
    .await;
    assert!(refused.is_err(), "no new connections once shutdown began");
    let ended = idle.simple_query("SELECT 1").await;
    assert!(ended.is_err(), "the idle session was ended");

    let answer = running
        .await
        .unwrap()
        .expect("the running statement finished");
    assert!(
        started.elapsed() > Duration::from_millis(700),
        "the statement was still running when SIGTERM arrived ({:?}); make it longer",
        started.elapsed()
    );
    assert_eq!(common::rows(&answer).len(), 1);
    let status = wait_exit(&mut served.child, Duration::from_secs(20));
    assert!(status.success(), "exit status {status:?}");
    assert_last_record_closes(&served.audit_dir);
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            started.elapsed() < limit,
            "lakegate did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_last_record_closes(dir: &Path) {
    let last = audit_segments(dir).pop().expect("an audit segment");
    let text = common::segment_text(&last);
    let record: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(record["event"], "segment.close", "{record}");
    assert_eq!(record["details"]["reason"], "shutdown", "{record}");
}

#[tokio::test]
async fn an_idle_transaction_past_its_timeout_ends_the_session_with_25p03() {
    let client = common::connect("analyst").await;
    client
        .batch_execute("SET idle_in_transaction_session_timeout = '300ms'")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let outside = client.simple_query("SELECT 1").await;
    assert!(
        outside.is_ok(),
        "outside a transaction the timeout does not apply"
    );
    client.batch_execute("BEGIN").await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        client.simple_query("SELECT 1").await.is_err(),
        "the session was ended"
    );
    assert!(client.is_closed());
}

/// `lakegate serve` with one Parquet table, `faulty.events`, in a bucket at `endpoint`.
fn serve_over_store(endpoint: SocketAddr, timeout_seconds: u64, max_retries: u32) -> Served {
    let dir = fresh_audit_dir().with_extension(format!("store-{}", endpoint.port()));
    std::fs::create_dir_all(dir.join("tables")).unwrap();
    std::fs::write(
        dir.join("databases.json"),
        r#"{"DatabaseList": [{"Name": "faulty"}]}"#,
    )
    .unwrap();
    let table = r#"{"TableList": [{"Name": "events", "DatabaseName": "faulty",
        "Parameters": {"classification": "parquet"},
        "StorageDescriptor": {"Columns": [{"Name": "id", "Type": "bigint"}],
                              "Location": "s3://lakegate-fault/events/"}}]}"#;
    std::fs::write(dir.join("tables/faulty.json"), table).unwrap();
    let config = dir.join("lakegate.toml");
    std::fs::write(
        &config,
        format!(
            "[storage.s3]\nendpoint = \"http://{endpoint}\"\nallow_http = true\nregion = \"us-east-1\"\n\
             timeout_seconds = {timeout_seconds}\nmax_retries = {max_retries}\n"
        ),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_lakegate"));
    command
        .env("LAKEGATE_CONFIG", &config)
        .env("LAKEGATE_CATALOG_FIXTURES", &dir)
        .env("AWS_ACCESS_KEY_ID", "lakegate")
        .env("AWS_SECRET_ACCESS_KEY", "lakegate");
    serve_with(command)
}

/// Runs a statement on `faulty.events` that must fail; its message names the table and not the
/// store, and another session is served meanwhile. Returns how long the statement took.
async fn fails_naming_the_table_only(served: &Served, endpoint: SocketAddr) -> Duration {
    let admin = client(served, "admin").await;
    let started = Instant::now();
    let error = admin
        .simple_query("SELECT count(*) FROM faulty.events")
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    let message = error
        .as_db_error()
        .map(|e| e.message().to_owned())
        .unwrap_or_default();
    assert!(message.contains("faulty.events"), "{message}");
    assert!(!message.contains(&endpoint.port().to_string()), "{message}");
    assert!(!message.contains("127.0.0.1"), "{message}");
    eprintln!(
        "store fault after {elapsed:?}: {} {message}",
        sqlstate(&error)
    );
    let other = client(served, "analyst").await;
    assert_eq!(
        common::rows(&other.simple_query("SELECT 1").await.unwrap()).len(),
        1
    );
    elapsed
}

/// An S3 endpoint that accepts connections and never answers: the statement fails within the
/// configured bound (request timeout × attempts), says which table, not where the store is,
/// and the gateway keeps serving.
#[tokio::test]
async fn an_unanswering_object_store_fails_the_statement_in_bounded_time() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = silent.local_addr().unwrap();
    let served = serve_over_store(endpoint, 2, 1);
    let elapsed = fails_naming_the_table_only(&served, endpoint).await;
    // Waited for (the request timeout), not refused at once, and not for object_store's
    // default of minutes.
    assert!(
        elapsed > Duration::from_secs(1) && elapsed < Duration::from_secs(20),
        "took {elapsed:?}"
    );
    drop(silent);
}

/// An S3 endpoint that answers every request with 503 (S3's "slow down"): each request is
/// retried `max_retries` times with backoff, then the statement fails with a clear error.
#[tokio::test]
async fn an_object_store_that_keeps_failing_is_retried_then_reported() {
    let failing = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = failing.local_addr().unwrap();
    let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in failing.incoming() {
            let Ok(mut stream) = stream else { return };
            let counted = std::sync::Arc::clone(&counted);
            std::thread::spawn(move || answer_503(&mut stream, &counted));
        }
    });
    let served = serve_over_store(endpoint, 5, 2);
    let elapsed = fails_naming_the_table_only(&served, endpoint).await;
    // The first attempt and two retries of the listing, at least; and not object_store's
    // default of ten retries over minutes.
    let seen = requests.load(std::sync::atomic::Ordering::SeqCst);
    assert!(seen >= 3, "{seen} requests");
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
}

/// Answers each HTTP request on a connection with 503, counting them.
fn answer_503(stream: &mut TcpStream, counted: &std::sync::atomic::AtomicUsize) {
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while stream.read(&mut byte).is_ok_and(|n| n == 1) {
        request.push(byte[0]);
        if request.ends_with(b"\r\n\r\n") {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            request.clear();
            let reply = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
            if stream.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    }
}

/// Under a 1 MiB budget per statement, a sort of every test order spills (EXPLAIN ANALYZE
/// shows it) or fails with 53200; either way the gateway answers the next statement.
#[tokio::test]
async fn a_statement_past_its_memory_budget_spills_or_fails_with_53200() {
    let gateway = common::start_gateway(|config| config.engine.query_memory_limit_mb = 1);
    let admin = common::connect_to(&gateway, "admin").await;
    let sort = "SELECT order_id, card_number, customer_id FROM sales.orders ORDER BY card_number, order_id";
    match admin.simple_query(&format!("EXPLAIN ANALYZE {sort}")).await {
        Ok(plan) => {
            let text = format!("{:?}", common::rows(&plan));
            let spilled = text
                .split("spill_count=")
                .skip(1)
                .any(|rest| !rest.starts_with('0'));
            assert!(spilled, "the sort spilled: {text}");
        }
        Err(e) => assert_eq!(sqlstate(&e), "53200", "{e}"),
    }
    let unbounded = common::connect("admin").await;
    let all = unbounded.simple_query(sort).await.unwrap();
    assert!(
        common::rows(&all).len() > 1000,
        "no bound of its own: the sort runs in memory"
    );
    assert_eq!(
        common::rows(&admin.simple_query("SELECT 1").await.unwrap()).len(),
        1
    );
}

/// With one slot and no queue, a second statement is refused with 53300 at once while the
/// first runs, and runs once the slot is free.
#[tokio::test]
async fn past_the_running_and_queued_bounds_statements_get_53300() {
    let gateway = common::start_gateway(|config| {
        config.limits.max_running_statements = 1;
        config.limits.max_queued_statements = 0;
    });
    let busy = common::connect_to(&gateway, "admin").await;
    let long = "SELECT count(*) FROM sales.orders a JOIN sales.orders b ON a.amount < b.amount";
    let running = tokio::spawn(async move { busy.simple_query(long).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let other = common::connect_to(&gateway, "analyst").await;
    let started = Instant::now();
    let refused = other.simple_query("SELECT 1").await.unwrap_err();
    assert_eq!(sqlstate(&refused), "53300", "{refused}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused at once"
    );
    assert!(
        !running.is_finished(),
        "the first statement was still running"
    );
    running.await.unwrap().unwrap();
    assert_eq!(
        common::rows(&other.simple_query("SELECT 1").await.unwrap()).len(),
        1
    );
}
