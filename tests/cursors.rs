//! SQL cursors (DECLARE / FETCH / MOVE / CLOSE) and MOVE on a protocol-level portal: rows come
//! in the pieces asked for and equal the query's rows; the errors carry PostgreSQL's SQLSTATEs.

mod common;

use common::raw::{self, RawClient};
use common::{connect, gateway, rows, sqlstate};
use tokio_postgres::SimpleQueryMessage;

const QUERY: &str = "SELECT order_id, status FROM sales.orders ORDER BY order_id LIMIT 10";

/// The first column of each row of every result in a simple-query response.
fn first_column(messages: &[SimpleQueryMessage]) -> Vec<String> {
    rows(messages)
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect()
}

/// The row counts of the command tags (CommandComplete) in a simple-query response.
fn counts(messages: &[SimpleQueryMessage]) -> Vec<u64> {
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_cursor_returns_the_query_rows_in_the_pieces_asked_for() {
    let client = connect("analyst").await;
    let all = first_column(&client.simple_query(QUERY).await.unwrap());
    client.simple_query("BEGIN").await.unwrap();
    let declare = format!("DECLARE c NO SCROLL CURSOR FOR {QUERY}");
    client.simple_query(&declare).await.unwrap();
    let first = client.simple_query("FETCH FORWARD 3 FROM c").await.unwrap();
    assert_eq!(first_column(&first), all[..3]);
    assert_eq!(counts(&first), [3]);
    let moved = client.simple_query("MOVE FORWARD 2 IN c").await.unwrap();
    assert_eq!(counts(&moved), [2]);
    let next = client.simple_query("FETCH NEXT FROM c").await.unwrap();
    assert_eq!(first_column(&next), all[5..6]);
    let rest = client.simple_query("FETCH ALL FROM c").await.unwrap();
    assert_eq!(first_column(&rest), all[6..]);
    let after_end = client.simple_query("FETCH 5 FROM c").await.unwrap();
    assert_eq!(
        (first_column(&after_end).len(), counts(&after_end)),
        (0, vec![0])
    );
    client.simple_query("CLOSE c").await.unwrap();
    client.simple_query("COMMIT").await.unwrap();
}

#[tokio::test]
async fn cursors_live_as_long_as_postgresql_keeps_them() {
    let client = connect("analyst").await;
    let error = client
        .simple_query(&format!("DECLARE c CURSOR FOR {QUERY}"))
        .await;
    assert_eq!(sqlstate(&error.unwrap_err()), "25P01");
    let unknown = client.simple_query("FETCH 1 FROM nope").await.unwrap_err();
    assert_eq!(sqlstate(&unknown), "34000");
    let message = unknown.as_db_error().map(|e| e.message().to_owned());
    assert_eq!(message.as_deref(), Some("cursor \"nope\" does not exist"));

    client.simple_query("BEGIN").await.unwrap();
    client
        .simple_query(&format!("DECLARE c CURSOR FOR {QUERY}"))
        .await
        .unwrap();
    // Unquoted names fold to lower case: H is h.
    let held = format!("DECLARE H CURSOR WITH HOLD FOR {QUERY}");
    client.simple_query(&held).await.unwrap();
    let twice = client
        .simple_query(&format!("DECLARE c CURSOR FOR {QUERY}"))
        .await;
    assert_eq!(sqlstate(&twice.unwrap_err()), "42P03");
    client.simple_query("ROLLBACK").await.unwrap();

    client.simple_query("BEGIN").await.unwrap();
    let closed = client.simple_query("FETCH 1 FROM c").await.unwrap_err();
    assert_eq!(
        sqlstate(&closed),
        "34000",
        "COMMIT/ROLLBACK closes a cursor without HOLD"
    );
    client.simple_query("ROLLBACK").await.unwrap();
    let kept = client.simple_query("FETCH 2 FROM h").await.unwrap();
    assert_eq!(
        first_column(&kept),
        ["1", "2"],
        "WITH HOLD survives the transaction"
    );
    let backward = client
        .simple_query("FETCH BACKWARD 1 FROM h")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&backward), "55000");
    client.simple_query("CLOSE ALL").await.unwrap();
    let gone = client.simple_query("FETCH 1 FROM h").await.unwrap_err();
    assert_eq!(sqlstate(&gone), "34000");
}

#[tokio::test]
async fn a_cursor_reads_under_the_principals_policy() {
    let client = connect("emea_analyst").await;
    client.simple_query("BEGIN").await.unwrap();
    let hidden = "DECLARE c CURSOR FOR SELECT card_number FROM sales.orders";
    assert_eq!(
        sqlstate(&client.simple_query(hidden).await.unwrap_err()),
        "42703"
    );
    client.simple_query("ROLLBACK").await.unwrap();
    client.simple_query("BEGIN").await.unwrap();
    let regions = "DECLARE r CURSOR FOR SELECT DISTINCT region FROM sales.orders";
    client.simple_query(regions).await.unwrap();
    let fetched = client.simple_query("FETCH ALL FROM r").await.unwrap();
    assert_eq!(first_column(&fetched), ["EMEA"]);
}

/// asyncpg's `cursor.forward(n)`: MOVE by SQL on a portal bound with the extended protocol,
/// then Execute on the same portal goes on after the skipped rows.
#[tokio::test]
async fn move_skips_rows_of_a_protocol_portal() {
    let mut client = RawClient::connect(gateway().addr, "analyst", "analyst").await;
    client.send(&raw::query("BEGIN")).await;
    client.until_ready().await;
    let mut batch = raw::parse("s", QUERY);
    batch.extend(raw::bind("p", "s", &[]));
    batch.extend(raw::execute("p", 2));
    batch.extend(raw::sync());
    client.send(&batch).await;
    let first: Vec<_> = client
        .until_ready()
        .await
        .into_iter()
        .filter(|m| m.tag == b'D')
        .collect();
    assert_eq!(first.len(), 2);
    client.send(&raw::query("MOVE FORWARD 3 p")).await;
    let moved = client.until_ready().await;
    assert!(
        moved
            .iter()
            .any(|m| m.tag == b'C' && m.body.starts_with(b"MOVE 3")),
        "{moved:?}"
    );
    let mut next = raw::execute("p", 2);
    next.extend(raw::sync());
    client.send(&next).await;
    let ids: Vec<String> = client
        .until_ready()
        .await
        .into_iter()
        .filter(|m| m.tag == b'D')
        .map(|m| m.row()[0].clone().unwrap())
        .collect();
    assert_eq!(ids, ["6", "7"]);
}
