//! Audit records as rows of the audit tables: one flat row per statement (its terminal record,
//! which carries everything the decision record said) and one per login attempt.

use serde::Deserialize;
use serde_json::{json, Value};

use super::record::{Event, Record, TableRead};

/// A record as read back from a segment, with its place in the chain.
#[derive(Debug, Deserialize)]
pub struct SealedRecord {
    pub seq: u64,
    #[serde(flatten)]
    pub record: Record,
}

/// `audit.queries`: column names and Glue types.
pub const QUERY_COLUMNS: &[(&str, &str)] = &[
    ("seq", "bigint"),
    ("query_id", "string"),
    ("session_id", "string"),
    ("user_name", "string"),
    ("groups", "array<string>"),
    ("superuser", "boolean"),
    ("auth_method", "string"),
    ("client_addr", "string"),
    ("application_name", "string"),
    ("statement", "string"),
    ("statement_hash", "string"),
    ("class", "string"),
    ("command", "string"),
    ("protocol", "string"),
    ("prepared", "string"),
    ("outcome", "string"),
    ("sqlstate", "string"),
    ("message", "string"),
    ("reason", "string"),
    ("tables", "array<string>"),
    ("columns", "array<string>"),
    ("policies", "array<string>"),
    ("partitions_matched", "bigint"),
    ("partitions_total", "bigint"),
    ("files", "bigint"),
    ("bytes", "bigint"),
    ("rows", "bigint"),
    ("written", "array<string>"),
    ("partial", "boolean"),
    ("started_at", "timestamp"),
    ("ended_at", "timestamp"),
    ("duration_ms", "double"),
    ("segment", "string"),
];

/// `audit.logins`.
pub const LOGIN_COLUMNS: &[(&str, &str)] = &[
    ("seq", "bigint"),
    ("time", "timestamp"),
    ("session_id", "string"),
    ("user_name", "string"),
    ("auth_method", "string"),
    ("client_addr", "string"),
    ("application_name", "string"),
    ("tls", "boolean"),
    ("outcome", "string"),
    ("sqlstate", "string"),
    ("reason", "string"),
    ("segment", "string"),
];

pub fn query_row(sealed: &SealedRecord, segment: &str) -> Option<Value> {
    let r = &sealed.record;
    if !r.event.is_terminal() {
        return None;
    }
    let actor = r.actor.clone().unwrap_or_default();
    let statement = r.statement.clone().unwrap_or_default();
    let outcome = r.outcome.clone().unwrap_or_default();
    let sum = |f: fn(&TableRead) -> Option<u64>| -> Option<u64> {
        r.tables
            .iter()
            .map(f)
            .reduce(|a, b| Some(a? + b?))
            .flatten()
    };
    let columns: Vec<String> = r
        .tables
        .iter()
        .flat_map(|t| t.columns.iter().map(move |c| format!("{}.{c}", t.table)))
        .collect();
    Some(json!({
        "seq": sealed.seq,
        "query_id": r.query_id,
        "session_id": empty_none(&actor.session_id),
        "user_name": empty_none(&actor.user),
        "groups": actor.groups,
        "superuser": actor.superuser,
        "auth_method": empty_none(&actor.auth_method),
        "client_addr": empty_none(&actor.client_addr),
        "application_name": empty_none(&actor.application_name),
        "statement": empty_none(&statement.text),
        "statement_hash": empty_none(&statement.hash),
        "class": empty_none(&statement.class),
        "command": empty_none(&statement.command),
        "protocol": empty_none(&statement.protocol),
        "prepared": statement.prepared,
        "outcome": outcome.status,
        "sqlstate": outcome.sqlstate,
        "message": outcome.message,
        "reason": outcome.reason,
        "tables": r.tables.iter().map(|t| t.table.clone()).collect::<Vec<_>>(),
        "columns": columns,
        "policies": policies(r, actor.superuser),
        "partitions_matched": sum(|t| t.partitions_matched),
        "partitions_total": sum(|t| t.partitions_total),
        "files": r.tables.iter().map(|t| t.files).sum::<u64>(),
        "bytes": r.tables.iter().map(|t| t.bytes).sum::<u64>(),
        "rows": r.rows,
        "written": r.writes.iter().map(written).collect::<Vec<_>>(),
        "partial": r.partial,
        "started_at": r.started_at,
        "ended_at": r.ended_at,
        "duration_ms": r.duration_ms,
        "segment": segment,
    }))
}

pub fn login_row(sealed: &SealedRecord, segment: &str) -> Option<Value> {
    let r = &sealed.record;
    if r.event != Event::Login {
        return None;
    }
    let actor = r.actor.clone().unwrap_or_default();
    let outcome = r.outcome.clone().unwrap_or_default();
    Some(json!({
        "seq": sealed.seq,
        "time": r.time,
        "session_id": empty_none(&actor.session_id),
        "user_name": actor.user,
        "auth_method": empty_none(&actor.auth_method),
        "client_addr": empty_none(&actor.client_addr),
        "application_name": empty_none(&actor.application_name),
        "tls": actor.tls,
        "outcome": outcome.status,
        "sqlstate": outcome.sqlstate,
        "reason": outcome.reason,
        "segment": segment,
    }))
}

/// The policies a statement read through, one readable line each.
fn policies(record: &Record, superuser: bool) -> Vec<String> {
    if superuser {
        return match record.tables.is_empty() {
            true => Vec::new(),
            false => vec!["superuser: no policy applies".to_owned()],
        };
    }
    let mut lines = Vec::new();
    for t in &record.tables {
        if let Some(filter) = &t.row_filter {
            lines.push(format!("{}: row filter {filter}", t.table));
        }
        let mut each = |what: &str, columns: &[String]| {
            lines.extend(columns.iter().map(|c| format!("{}.{c}: {what}", t.table)));
        };
        each("masked", &t.masked);
        each("cell filter", &t.cell_filtered);
        each("hidden", &t.hidden);
        lines.extend(
            t.rules
                .iter()
                .map(|rule| format!("{}: rule {rule}", t.table)),
        );
    }
    lines
}

/// One write, as `audit.queries.written` lists it: `analytics.m: insert, 12 rows`.
fn written(write: &super::record::TableWrite) -> String {
    match write.rows {
        Some(rows) => format!("{}: {}, {rows} rows", write.table, write.operation),
        None => format!("{}: {}", write.table, write.operation),
    }
}

fn empty_none(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}
