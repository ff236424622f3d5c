//! The wire protocol as drivers use it: startup and authentication, simple and extended query,
//! portals, pipelining, error recovery, text and binary results.

mod common;

use common::raw::{self, tags, RawClient};
use common::{connect, gateway, sqlstate};
use tokio_postgres::types::Type;
use tokio_postgres::{NoTls, SimpleQueryMessage};

#[tokio::test]
async fn startup_reports_the_parameters_drivers_read() {
    let mut client = RawClient::connect(gateway().addr, "analyst", "analyst").await;
    // The login already consumed startup; ask again through SHOW to see the same values.
    client
        .send(&raw::query(
            "SHOW server_version; SHOW client_encoding; SHOW is_superuser",
        ))
        .await;
    let rows: Vec<_> = client
        .until_ready()
        .await
        .into_iter()
        .filter(|m| m.tag == b'D')
        .map(|m| m.row())
        .collect();
    assert_eq!(rows[0][0].as_deref(), Some("15.0"));
    assert_eq!(rows[1][0].as_deref(), Some("UTF8"));
    assert_eq!(rows[2][0].as_deref(), Some("off"));
}

#[tokio::test]
async fn startup_sends_parameter_status_and_backend_key() {
    let raw = RawClient::connect(gateway().addr, "emea_analyst", "emea_analyst").await;
    let parameters: std::collections::HashMap<String, String> =
        raw.startup.iter().filter_map(|m| m.parameter()).collect();
    for name in [
        "server_version",
        "server_encoding",
        "client_encoding",
        "DateStyle",
        "TimeZone",
        "integer_datetimes",
        "standard_conforming_strings",
        "IntervalStyle",
        "application_name",
        "is_superuser",
        "session_authorization",
    ] {
        assert!(
            parameters.contains_key(name),
            "missing ParameterStatus {name}: {parameters:?}"
        );
    }
    assert_eq!(parameters["session_authorization"], "emea_analyst");
    assert_eq!(parameters["is_superuser"], "off");
    assert!(
        raw.startup.iter().any(|m| m.tag == b'K'),
        "no BackendKeyData"
    );
    let admin = RawClient::connect(gateway().addr, "admin", "admin").await;
    assert!(admin
        .startup
        .iter()
        .filter_map(|m| m.parameter())
        .any(|p| p == ("is_superuser".into(), "on".into())));
}

#[tokio::test]
async fn current_user_is_the_real_user() {
    let client = connect("marketing").await;
    let row = client
        .query_one("SELECT current_user, session_user, current_database()", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "marketing");
    assert_eq!(row.get::<_, String>(1), "marketing");
    assert_eq!(row.get::<_, String>(2), "lake");
}

async fn login_error(conn: &str) -> tokio_postgres::Error {
    match tokio_postgres::connect(conn, NoTls).await {
        Ok(_) => panic!("login with {conn} succeeded"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_user_fail_alike() {
    let wrong = login_error(&common::conn_string("analyst", "nope")).await;
    let unknown = login_error(&common::conn_string("mallory", "nope")).await;
    assert_eq!(sqlstate(&wrong), "28P01");
    assert_eq!(sqlstate(&unknown), "28P01");
}

#[tokio::test]
async fn wrong_database_is_refused() {
    let addr = gateway().addr;
    let conn = format!(
        "host={} port={} dbname=postgres user=analyst password=analyst",
        addr.ip(),
        addr.port()
    );
    let error = login_error(&conn).await;
    assert_eq!(sqlstate(&error), "3D000");
}

#[tokio::test]
async fn simple_query_runs_several_statements() {
    let client = connect("analyst").await;
    let messages = client
        .simple_query("SELECT 1 AS a; SELECT 'x' AS b, 2 AS c")
        .await
        .unwrap();
    let rows = common::rows(&messages);
    assert_eq!(
        rows,
        vec![
            vec![Some("1".to_owned())],
            vec![Some("x".to_owned()), Some("2".to_owned())]
        ]
    );
}

#[tokio::test]
async fn an_error_stops_the_rest_of_a_simple_query() {
    let mut raw = RawClient::connect(gateway().addr, "analyst", "analyst").await;
    raw.send(&raw::query(
        "SELECT 1; SELECT nope FROM sales.orders; SELECT 3",
    ))
    .await;
    let messages = raw.until_ready().await;
    assert_eq!(tags(&messages), "TDCEZ");
    assert_eq!(messages[3].sqlstate().as_deref(), Some("42703"));
}

#[tokio::test]
async fn empty_query_gets_empty_query_response() {
    let mut raw = RawClient::connect(gateway().addr, "analyst", "analyst").await;
    raw.send(&raw::query("  ;  ")).await;
    assert_eq!(tags(&raw.until_ready().await), "IZ");
    raw.send(
        &[
            raw::parse("", ""),
            raw::bind("", "", &[]),
            raw::execute("", 0),
            raw::sync(),
        ]
        .concat(),
    )
    .await;
    assert_eq!(tags(&raw.until_ready().await), "12IZ");
}

#[tokio::test]
async fn extended_query_infers_parameter_types() {
    let client = connect("analyst").await;
    let statement = client
        .prepare("SELECT order_id, amount FROM sales.orders WHERE order_id = $1 AND status = $2")
        .await
        .unwrap();
    assert_eq!(statement.params(), &[Type::INT8, Type::TEXT]);
    assert_eq!(statement.columns()[0].type_(), &Type::INT8);
    assert_eq!(statement.columns()[1].type_(), &Type::NUMERIC);
    let rows = client
        .query(&statement, &[&1i64, &"delivered"])
        .await
        .unwrap();
    assert!(rows.len() <= 1);
}

#[tokio::test]
async fn binary_parameters_and_results() {
    let client = connect("analyst").await;
    let row = client
        .query_one(
            "SELECT order_id, customer_id, order_ts, amount FROM sales.orders WHERE order_id = $1",
            &[&42i64],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 42);
    assert!(row.get::<_, i64>(1) >= 1);
    let ts: chrono::DateTime<chrono::Utc> = row.get(2);
    assert!(ts.timestamp() >= 1_704_067_200, "{ts}"); // 2024-01-01
    let amount: rust_decimal::Decimal = row.get(3);
    assert_eq!(amount.scale(), 2);
}

#[tokio::test]
async fn text_results_keep_postgres_formats() {
    let client = connect("analyst").await;
    let messages = client
        .simple_query(
            "SELECT CAST(1.5 AS DECIMAL(12,2)) AS n, DATE '2024-03-15' AS d, true AS b, NULL AS z",
        )
        .await
        .unwrap();
    let SimpleQueryMessage::Row(row) = &messages[1] else {
        panic!("{messages:?}")
    };
    assert_eq!(row.get(0), Some("1.50"));
    assert_eq!(row.get(1), Some("2024-03-15"));
    assert_eq!(row.get(2), Some("t"));
    assert_eq!(row.get(3), None);
}

#[tokio::test]
async fn portal_with_row_limit_suspends_and_resumes() {
    let mut client = connect("analyst").await;
    let transaction = client.transaction().await.unwrap();
    let statement = transaction
        .prepare("SELECT order_id FROM sales.orders ORDER BY order_id LIMIT 7")
        .await
        .unwrap();
    let portal = transaction.bind(&statement, &[]).await.unwrap();
    let first = transaction.query_portal(&portal, 3).await.unwrap();
    let second = transaction.query_portal(&portal, 3).await.unwrap();
    let rest = transaction.query_portal(&portal, 3).await.unwrap();
    let ids: Vec<i64> = first
        .iter()
        .chain(&second)
        .chain(&rest)
        .map(|r| r.get(0))
        .collect();
    assert_eq!((first.len(), second.len(), rest.len()), (3, 3, 1));
    assert_eq!(ids, (1..=7).collect::<Vec<i64>>());
    transaction.commit().await.unwrap();
}

/// PostgreSQL reads an Execute's `max_rows` of zero or less as "all rows"; a huge one is a limit
/// that is never reached. Neither may size anything up front (pgwire's fetch did, and a negative
/// count panicked the connection while `i32::MAX` could abort the server).
#[tokio::test]
async fn execute_with_negative_or_huge_max_rows_returns_all_rows() {
    let mut raw = RawClient::connect(gateway().addr, "analyst", "analyst").await;
    let sql = "SELECT order_id FROM sales.orders ORDER BY order_id LIMIT 5";
    for max_rows in [-1, i32::MIN, i32::MAX, 0] {
        let mut messages = raw::parse("", sql);
        messages.extend(raw::bind("", "", &[]));
        messages.extend(raw::execute("", max_rows));
        messages.extend(raw::sync());
        raw.send(&messages).await;
        let reply = raw.until_ready().await;
        assert_eq!(tags(&reply), "12DDDDDCZ", "max_rows {max_rows}");
        let ids: Vec<_> = reply[2..7].iter().map(|m| m.row()[0].clone()).collect();
        let expected: Vec<_> = (1..=5).map(|id| Some(id.to_string())).collect();
        assert_eq!(ids, expected, "max_rows {max_rows}");
    }
    assert_eq!(
        raw.simple("SELECT 41 + 1").await,
        vec![vec![Some("42".into())]]
    );
}

/// A portal read two rows at a time: PortalSuspended after each full batch (also the one that
/// happens to take the last row, as PostgreSQL does), then CommandComplete with the rest's count.
#[tokio::test]
async fn execute_in_batches_suspends_until_the_portal_runs_out() {
    let mut raw = RawClient::connect(gateway().addr, "analyst", "analyst").await;
    let sql = "SELECT order_id FROM sales.orders ORDER BY order_id LIMIT 4";
    let mut messages = raw::query("BEGIN");
    messages.extend(raw::parse("", sql));
    messages.extend(raw::bind("p", "", &[]));
    for _ in 0..3 {
        messages.extend(raw::execute("p", 2));
    }
    messages.extend(raw::sync());
    raw.send(&messages).await;
    assert_eq!(tags(&raw.until_ready().await), "CZ");
    let reply = raw.until_ready().await;
    assert_eq!(tags(&reply), "12DDsDDsCZ");
    assert_eq!(reply[8].command_tag(), "SELECT 0");
    assert_eq!(
        raw.simple("COMMIT").await,
        Vec::<Vec<Option<String>>>::new()
    );
}

#[tokio::test]
async fn parse_describe_flush_without_sync() {
    let mut raw = RawClient::connect(gateway().addr, "analyst", "analyst").await;
    let sql = "SELECT region, count(*) FROM sales.orders WHERE customer_id > $1 GROUP BY region";
    raw.send(
        &[
            raw::parse("s1", sql),
            raw::describe(b'S', "s1"),
            raw::flush(),
        ]
        .concat(),
    )
    .await;
    // ParseComplete, ParameterDescription, RowDescription arrive before any Sync.
    let messages = raw.take(3).await;
    assert_eq!(tags(&messages), "1tT");
    assert_eq!(&messages[1].body[..2], &1i16.to_be_bytes());
    assert_eq!(
        &messages[1].body[2..6],
        &20i32.to_be_bytes(),
        "int8 parameter"
    );
    raw.send(
        &[
            raw::bind("", "s1", &[Some("0")]),
            raw::execute("", 0),
            raw::sync(),
        ]
        .concat(),
    )
    .await;
    let rest = raw.until_ready().await;
    assert_eq!(tags(&rest), "2DDDDCZ");
}

#[tokio::test]
async fn pipelined_statements_before_one_sync() {
    let mut raw = RawClient::connect(gateway().addr, "analyst", "analyst").await;
    let batch = [
        raw::parse("", "SELECT 1"),
        raw::bind("", "", &[]),
        raw::execute("", 0),
        raw::parse("named", "SELECT $1::bigint + 1"),
        raw::bind("p", "named", &[Some("41")]),
        raw::describe(b'P', "p"),
        raw::execute("p", 0),
        raw::close(b'P', "p"),
        raw::close(b'S', "named"),
        raw::sync(),
    ]
    .concat();
    raw.send(&batch).await;
    let messages = raw.until_ready().await;
    assert_eq!(tags(&messages), "12DC12TDC33Z");
    assert_eq!(messages[7].row(), vec![Some("42".to_owned())]);
}

#[tokio::test]
async fn errors_skip_to_sync_then_recover() {
    let mut raw = RawClient::connect(gateway().addr, "analyst", "analyst").await;
    let batch = [
        raw::parse("", "SELECT nope FROM sales.orders"),
        raw::bind("", "", &[]),
        raw::execute("", 0),
        raw::sync(),
    ]
    .concat();
    raw.send(&batch).await;
    let messages = raw.until_ready().await;
    assert_eq!(tags(&messages), "EZ");
    assert_eq!(messages[0].sqlstate().as_deref(), Some("42703"));
    raw.send(
        &[
            raw::parse("", "SELECT 2"),
            raw::bind("", "", &[]),
            raw::execute("", 0),
            raw::sync(),
        ]
        .concat(),
    )
    .await;
    assert_eq!(tags(&raw.until_ready().await), "12DCZ");
}

#[tokio::test]
async fn unknown_statement_and_portal_names_are_errors() {
    let mut raw = RawClient::connect(gateway().addr, "analyst", "analyst").await;
    raw.send(&[raw::bind("", "missing", &[]), raw::sync()].concat())
        .await;
    let messages = raw.until_ready().await;
    assert_eq!(messages[0].sqlstate().as_deref(), Some("26000"));
}

#[tokio::test]
async fn named_statements_survive_and_deallocate() {
    let mut raw = RawClient::connect(gateway().addr, "analyst", "analyst").await;
    raw.send(&[raw::parse("keep", "SELECT 5"), raw::sync()].concat())
        .await;
    raw.until_ready().await;
    raw.send(&[raw::bind("", "keep", &[]), raw::execute("", 0), raw::sync()].concat())
        .await;
    assert_eq!(tags(&raw.until_ready().await), "2DCZ");
    raw.send(&raw::query("DEALLOCATE keep")).await;
    assert_eq!(tags(&raw.until_ready().await), "CZ");
    raw.send(&[raw::bind("", "keep", &[]), raw::sync()].concat())
        .await;
    assert_eq!(
        raw.until_ready().await[0].sqlstate().as_deref(),
        Some("26000")
    );
}

#[tokio::test]
async fn transactions_and_savepoints_are_accepted() {
    let client = connect("analyst").await;
    client
        .batch_execute("BEGIN; SAVEPOINT a; SELECT 1; RELEASE SAVEPOINT a; COMMIT")
        .await
        .unwrap();
    client.batch_execute("BEGIN; ROLLBACK").await.unwrap();
    let error = client.batch_execute("SAVEPOINT outside").await.unwrap_err();
    assert_eq!(sqlstate(&error), "25P01");
}

#[tokio::test]
async fn a_failed_transaction_ignores_commands_until_rollback() {
    let client = connect("analyst").await;
    client.batch_execute("BEGIN").await.unwrap();
    assert!(client
        .simple_query("SELECT nope FROM sales.orders")
        .await
        .is_err());
    let error = client.simple_query("SELECT 1").await.unwrap_err();
    assert_eq!(sqlstate(&error), "25P02");
    client.batch_execute("ROLLBACK").await.unwrap();
    client.simple_query("SELECT 1").await.unwrap();
}

#[tokio::test]
async fn server_survives_garbage() {
    use tokio::io::AsyncWriteExt;
    let mut socket = tokio::net::TcpStream::connect(gateway().addr)
        .await
        .unwrap();
    socket
        .write_all(&[0, 0, 0, 8, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3])
        .await
        .unwrap();
    drop(socket);
    let client = connect("analyst").await;
    client.simple_query("SELECT 1").await.unwrap();
}
