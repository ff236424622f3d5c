//! The audit log (issue 6): one terminal record per statement for every outcome and protocol,
//! decisions before rows, login attempts, tamper detection, a sink that fails and recovers, and
//! `audit.queries` in the lake under the policies.
//! (A full audit volume: tests/audit_full.rs, which changes the process's file-size limit.)

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    audit_segments, connect_to, fresh_audit_dir, rows, segment_text, sqlstate, start_gateway,
    TestGateway,
};
use serde_json::Value;

/// Every record of a gateway's audit directory, in chain order.
fn records(dir: &Path) -> Vec<Value> {
    audit_segments(dir)
        .iter()
        .flat_map(|file| {
            segment_text(file)
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Records of one event for statements whose text is `text`.
fn for_text<'a>(all: &'a [Value], event: &str, text: &str) -> Vec<&'a Value> {
    all.iter()
        .filter(|r| r["event"] == event && r["statement"]["text"] == text)
        .collect()
}

/// The terminal record of `text`, after checking it is the only one and a decision came first
/// when the statement ran.
fn terminal<'a>(all: &'a [Value], text: &str) -> &'a Value {
    let ends = for_text(all, "statement", text);
    assert_eq!(ends.len(), 1, "one terminal record for {text:?}: {ends:#?}");
    ends[0]
}

async fn wait_for_terminal(dir: &Path, text: &str, count: usize) -> Vec<Value> {
    common::wait_until(Duration::from_secs(20), || async {
        for_text(&records(dir), "statement", text).len() >= count
    })
    .await;
    records(dir)
}

fn audited_gateway() -> &'static TestGateway {
    static GATEWAY: std::sync::OnceLock<TestGateway> = std::sync::OnceLock::new();
    GATEWAY.get_or_init(|| start_gateway(|_| {}))
}

#[tokio::test]
async fn simple_protocol_outcomes_and_multi_statement_messages() {
    let gateway = audited_gateway();
    let client = connect_to(gateway, "analyst").await;
    let ok = "SELECT order_id, amount FROM sales.orders WHERE order_date = '2024-03-15' LIMIT 3";
    let got = rows(&client.simple_query(ok).await.unwrap());
    let hidden = "SELECT email FROM sales.customers";
    let e = client.simple_query(hidden).await.unwrap_err();
    assert_eq!(sqlstate(&e), "42703");
    let refused = "CREATE TABLE sales.x AS SELECT 1 AS a";
    let e = client.simple_query(refused).await.unwrap_err();
    assert_eq!(sqlstate(&e), "42501");
    // AD-06: text that would break a naive log line stays inside one record.
    let tricky = "SELECT 'x\"}\n{\"event\":\"login\"} \u{1b}[31m' AS forged";
    client.simple_query(tricky).await.unwrap();
    let message = "SET application_name = 'audit-test'; SELECT 1 AS one; SELECT 1/0; SELECT 2";
    let e = client.simple_query(message).await.unwrap_err();
    assert_eq!(sqlstate(&e), "22012");

    // SELECT 2's record comes last: from its unread result, when pgwire drops it.
    wait_for_terminal(&gateway.audit_dir, "SELECT 1/0", 1).await;
    let all = wait_for_terminal(&gateway.audit_dir, "SELECT 2", 1).await;
    let read = terminal(&all, ok);
    assert_eq!(read["outcome"]["status"], "ok");
    assert_eq!(read["rows"], got.len() as u64);
    assert_eq!(read["actor"]["user"], "analyst");
    assert_eq!(read["actor"]["groups"][0], "analysts");
    assert_eq!(read["actor"]["auth_method"], "SCRAM-SHA-256");
    assert!(read["actor"]["client_addr"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert_eq!(read["statement"]["class"], "READ");
    assert_eq!(read["statement"]["protocol"], "simple");
    assert_eq!(read["statement"]["hash"], sha256(ok));
    let id = read["query_id"].as_str().unwrap();
    assert_eq!((id.len(), &id[14..15]), (36, "7"), "UUIDv7: {id}");
    let table = &read["tables"][0];
    assert_eq!(table["table"], "sales.orders");
    assert_eq!(table["columns"], serde_json::json!(["order_id", "amount"]));
    assert_eq!(
        table["partitions_matched"], 4,
        "one day in four regions: {table}"
    );
    assert!(table["files"].as_u64().unwrap() >= 1);
    assert!(
        table["hidden"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "card_number"),
        "analyst reads orders without card_number: {table}"
    );
    assert!(!table["rules"].as_array().unwrap().is_empty());
    // The decision came first, with the same query id and what was read.
    let decision: Vec<&Value> = for_text(&all, "statement.decision", ok);
    assert_eq!(decision.len(), 1);
    assert_eq!(decision[0]["query_id"], read["query_id"]);
    assert!(decision[0]["seq"].as_u64() < read["seq"].as_u64());
    assert_eq!(decision[0]["tables"], read["tables"]);

    assert_eq!(terminal(&all, tricky)["outcome"]["status"], "ok");
    let hidden_record = terminal(&all, hidden);
    assert_eq!(hidden_record["outcome"]["status"], "error");
    assert_eq!(hidden_record["outcome"]["sqlstate"], "42703");
    assert!(for_text(&all, "statement.decision", hidden).is_empty());
    let refused_record = terminal(&all, refused);
    assert_eq!(refused_record["outcome"]["status"], "denied");
    assert_eq!(refused_record["outcome"]["sqlstate"], "42501");

    // A message of four statements: three ran (the last is never reached), each its own text.
    let set = terminal(&all, "SET application_name = 'audit-test'");
    assert_eq!(set["statement"]["class"], "MISC_SET");
    let one = terminal(&all, "SELECT 1 AS one");
    assert_eq!(one["actor"]["application_name"], "audit-test");
    assert_eq!(one["rows"], 1);
    let failed = terminal(&all, "SELECT 1/0");
    assert_eq!(failed["outcome"]["sqlstate"], "22012");
    // Planned with the others, but its result was never read: on record as not run.
    let never = terminal(&all, "SELECT 2");
    assert_eq!(never["outcome"]["status"], "canceled");
    assert!(never["rows"].is_null());
}

fn sha256(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn prepared_statements_executed_many_times_each_have_a_record() {
    let gateway = audited_gateway();
    let client = connect_to(gateway, "analyst").await;
    let sql = "SELECT name FROM sales.customers WHERE customer_id = $1";
    let statement = client.prepare(sql).await.unwrap();
    for id in [1i64, 2, 3] {
        client.query(&statement, &[&id]).await.unwrap();
    }
    let bad = client.prepare("SELECT nope FROM sales.customers").await;
    assert_eq!(sqlstate(&bad.unwrap_err()), "42703");

    wait_for_terminal(&gateway.audit_dir, sql, 3).await;
    let all = wait_for_terminal(&gateway.audit_dir, "SELECT nope FROM sales.customers", 1).await;
    let runs = for_text(&all, "statement", sql);
    assert_eq!(runs.len(), 3, "one record per execution");
    let ids: std::collections::HashSet<&str> = runs
        .iter()
        .map(|r| r["query_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "each execution has its own query id");
    for run in &runs {
        assert_eq!(run["statement"]["protocol"], "extended");
        assert_eq!(
            run["statement"]["prepared"],
            runs[0]["statement"]["prepared"]
        );
        assert_eq!(run["outcome"]["status"], "ok");
        assert_eq!(run["tables"][0]["table"], "sales.customers");
    }
    let parse_failure = terminal(&all, "SELECT nope FROM sales.customers");
    assert_eq!(parse_failure["outcome"]["sqlstate"], "42703");
}

#[tokio::test]
async fn canceled_statements_and_failed_logins_are_recorded() {
    let gateway = audited_gateway();
    let client = connect_to(gateway, "admin").await;
    let slow = "SELECT count(*) FROM sales.orders a, sales.orders b WHERE a.amount + b.amount < 0";
    let cancel = client.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        cancel.cancel_query(tokio_postgres::NoTls).await.unwrap();
    });
    let e = client.simple_query(slow).await.unwrap_err();
    assert_eq!(sqlstate(&e), "57014");
    canceller.await.unwrap();

    let conn = format!(
        "host={} port={} dbname=lake user=analyst password=Tr0ub4dor-guess application_name=intruder",
        gateway.addr.ip(),
        gateway.addr.port()
    );
    let e = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
        .await
        .err()
        .unwrap();
    assert_eq!(sqlstate(&e), "28P01");

    let intruder =
        |r: &&Value| r["event"] == "login" && r["actor"]["application_name"] == "intruder";
    common::wait_until(Duration::from_secs(20), || async {
        records(&gateway.audit_dir).iter().any(|r| intruder(&r))
    })
    .await;
    let all = wait_for_terminal(&gateway.audit_dir, slow, 1).await;
    let canceled = terminal(&all, slow);
    assert_eq!(canceled["outcome"]["status"], "canceled");
    assert_eq!(canceled["outcome"]["sqlstate"], "57014");
    assert_eq!(canceled["actor"]["superuser"], true);
    let refused: Vec<&Value> = all.iter().filter(intruder).collect();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0]["outcome"]["status"], "denied");
    assert_eq!(refused[0]["outcome"]["sqlstate"], "28P01");
    assert_eq!(refused[0]["actor"]["user"], "analyst");
    let reason = refused[0]["outcome"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("proof"),
        "the real reason is on record: {reason}"
    );
    let text = all.iter().map(Value::to_string).collect::<String>();
    assert!(!text.contains("Tr0ub4dor"), "no password in the audit log");
}

/// `lakegate audit verify` on copies of a gateway's segments, one tampering at a time.
#[tokio::test]
async fn tampering_is_detected_by_audit_verify() {
    let gateway = start_gateway(|config| config.audit.rotate_bytes = 4096);
    let client = connect_to(&gateway, "analyst").await;
    for i in 0..12 {
        client
            .simple_query(&format!("SELECT {i} AS n, 'filler filler filler filler'"))
            .await
            .unwrap();
    }
    records_settle(&gateway.audit_dir).await;
    let files = audit_segments(&gateway.audit_dir);
    assert!(files.len() >= 3, "small segments rotate: {files:?}");
    let (status, out) = verify_cli(&files);
    assert!(status && out.starts_with("ok:"), "{out}");

    let middle = &files[1];
    let lines: Vec<String> = segment_text(middle)
        .lines()
        .map(|l| format!("{l}\n"))
        .collect();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "edit",
            lines
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    if i == 2 {
                        l.replacen("analyst", "analysx", 1)
                    } else {
                        l.clone()
                    }
                })
                .collect(),
            "modified",
        ),
        (
            "delete",
            lines
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != 2)
                .map(|(_, l)| l.clone())
                .collect(),
            "missing",
        ),
        (
            "reorder",
            {
                let mut l = lines.clone();
                l.swap(2, 3);
                l.concat()
            },
            "out of order",
        ),
        (
            "truncate the end",
            lines[..lines.len() - 2].concat(),
            "missing",
        ),
        (
            "cut a record",
            {
                let all = lines.concat();
                all[..all.len() - 30].to_owned()
            },
            "cut short",
        ),
    ];
    for (what, text, expected) in cases {
        let copy = copy_audit_segments(&files);
        std::fs::write(&copy[1], text).unwrap();
        let (status, out) = verify_cli(&copy);
        assert!(!status, "{what} must be detected: {out}");
        assert!(out.contains(expected), "{what}: {out}");
        assert!(
            out.contains(&lakegate_name(&copy[1])),
            "{what} names the segment: {out}"
        );
    }
    let mut without_middle = copy_audit_segments(&files);
    without_middle.remove(1);
    let (status, out) = verify_cli(&without_middle);
    assert!(
        !status && out.contains("missing"),
        "a deleted segment: {out}"
    );
}

fn lakegate_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// Waits until the writer has nothing left to write (the record count stops changing).
async fn records_settle(dir: &Path) {
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = records(dir).len();
        if now == last {
            return;
        }
        last = now;
    }
}

fn copy_audit_segments(files: &[PathBuf]) -> Vec<PathBuf> {
    let dir = fresh_audit_dir();
    std::fs::create_dir_all(&dir).unwrap();
    files
        .iter()
        .map(|f| {
            let to = dir.join(f.file_name().unwrap());
            std::fs::copy(f, &to).unwrap();
            to
        })
        .collect()
}

fn verify_cli(files: &[PathBuf]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lakegate"))
        .arg("audit")
        .arg("verify")
        .args(files)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The audit directory is replaced by a file: statements fail with 58030 and send no rows;
/// once it is back, statements run again and the chain continues unbroken.
#[tokio::test]
async fn an_unwritable_audit_directory_fails_statements_closed_then_recovers() {
    let gateway = start_gateway(|_| {});
    let client = connect_to(&gateway, "analyst").await;
    client.simple_query("SELECT 1").await.unwrap();
    let dir = &gateway.audit_dir;
    let aside = dir.with_extension("aside");
    std::fs::rename(dir, &aside).unwrap();
    std::fs::write(dir, b"not a directory").unwrap();

    let e = client
        .simple_query("SELECT order_id FROM sales.orders LIMIT 1")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "58030");
    let message = e.as_db_error().unwrap().message().to_owned();
    assert!(message.contains("audit log cannot be written"), "{message}");
    assert!(
        !message.contains(&dir.display().to_string()),
        "no path leaks: {message}"
    );
    let e = client.query("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(sqlstate(&e), "58030", "extended protocol too");

    std::fs::remove_file(dir).unwrap();
    std::fs::rename(&aside, dir).unwrap();
    // The writer retries the sink by itself (readiness must not wait for a statement).
    common::wait_until(Duration::from_secs(10), || async {
        records(dir).iter().any(|r| r["event"] == "audit.recovered")
    })
    .await;
    let back = client.simple_query("SELECT 42 AS back").await.unwrap();
    assert_eq!(rows(&back), vec![vec![Some("42".to_owned())]]);
    records_settle(dir).await;
    let all = records(dir);
    assert!(
        all.iter()
            .any(|r| r["event"] == "audit.recovered"
                && r["details"]["lost_records"].as_u64() >= Some(2)),
        "the gap is on record"
    );
    let (status, out) = verify_cli(&audit_segments(dir));
    assert!(status, "the chain continues across the failure: {out}");
}

/// `audit.queries` as the acceptance describes it: an EMEA analyst's session, then
/// admin reads it back with its columns, policies and pruning; the analyst cannot see it.
#[tokio::test]
async fn admin_reads_an_analysts_statements_from_audit_queries() {
    let gateway = audited_gateway();
    let emea = connect_to(gateway, "emea_analyst").await;
    let sql = "SELECT order_id, region, amount FROM sales.orders WHERE order_date = '2024-03-15'";
    emea.simple_query(sql).await.unwrap();
    let e = emea
        .simple_query("SELECT * FROM audit.queries")
        .await
        .unwrap_err();
    assert_eq!(
        sqlstate(&e),
        "42P01",
        "the audit tables do not exist for analysts"
    );

    let admin = connect_to(gateway, "admin").await;
    let query = format!(
        "SELECT outcome, columns, policies, partitions_matched, partitions_total, rows \
         FROM audit.queries WHERE user_name = 'emea_analyst' AND statement = '{sql}'",
        sql = sql.replace('\'', "''")
    );
    let found = rows(&admin.simple_query(&query).await.unwrap());
    assert_eq!(found.len(), 1, "{found:?}");
    let row = &found[0];
    assert_eq!(row[0].as_deref(), Some("ok"));
    let columns = row[1].as_deref().unwrap();
    for column in [
        "sales.orders.order_id",
        "sales.orders.region",
        "sales.orders.amount",
    ] {
        assert!(columns.contains(column), "{columns}");
    }
    assert!(!columns.contains("card_number"), "{columns}");
    let policies = row[2].as_deref().unwrap();
    assert!(
        policies.contains("row filter region = 'EMEA'"),
        "{policies}"
    );
    assert!(policies.contains("card_number: hidden"), "{policies}");
    assert_eq!(row[3].as_deref(), Some("1"), "one region of one day");
    assert_eq!(
        row[5].as_deref(),
        Some(row_count(&emea, sql).await.as_str())
    );
    let logins = rows(
        &admin
            .simple_query("SELECT count(*) FROM audit.logins WHERE user_name = 'emea_analyst' AND outcome = 'ok'")
            .await
            .unwrap(),
    );
    assert_ne!(logins[0][0].as_deref(), Some("0"));
}

async fn row_count(client: &tokio_postgres::Client, sql: &str) -> String {
    rows(&client.simple_query(sql).await.unwrap())
        .len()
        .to_string()
}

/// A gateway killed while a statement runs (AD-03): the decision is on record without a terminal
/// record; the next start marks the statement incomplete and continues the chain.
#[tokio::test]
async fn a_statement_cut_off_by_a_crash_is_marked_incomplete_at_the_next_start() {
    let lake = common::test_lake();
    let audit = fresh_audit_dir();
    let config = audit.with_extension("toml");
    let zone = audit.with_extension("zone");
    std::fs::write(
        &config,
        format!("[audit]\ndir = {:?}\nlake_location = {:?}\n", audit, zone),
    )
    .unwrap();
    let serve = |port: u16| {
        std::process::Command::new(env!("CARGO_BIN_EXE_lakegate"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--lake-root",
            ])
            .arg(&lake)
            .arg("--config")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let port = free_port();
    let mut first = serve(port);
    let gateway = TestGateway {
        addr: ([127, 0, 0, 1], port).into(),
        lake_root: lake.clone(),
        audit_dir: audit.clone(),
    };
    wait_for_port(port).await;
    let client = connect_to(&gateway, "admin").await;
    let slow = "SELECT count(*) FROM sales.orders a, sales.orders b WHERE a.amount + b.amount < 0";
    let running = tokio::spawn(async move { client.simple_query(slow).await });
    common::wait_until(Duration::from_secs(20), || async {
        !for_text(&records(&audit), "statement.decision", slow).is_empty()
    })
    .await;
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        running.await.unwrap().is_err(),
        "the client saw the connection end"
    );

    let mut second = serve(port);
    wait_for_port(port).await;
    let all = records(&audit);
    second.kill().unwrap();
    second.wait().unwrap();
    let decision = for_text(&all, "statement.decision", slow)[0];
    let incomplete: Vec<&Value> = all
        .iter()
        .filter(|r| r["event"] == "statement.incomplete" && r["query_id"] == decision["query_id"])
        .collect();
    assert_eq!(incomplete.len(), 1, "{all:#?}");
    let (status, out) = verify_cli(&audit_segments(&audit));
    assert!(status, "{out}");
    assert!(out.contains("ended without its close record"), "{out}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_for_port(port: u16) {
    common::wait_until(Duration::from_secs(60), || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    })
    .await;
}
