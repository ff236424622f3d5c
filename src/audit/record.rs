//! The audit record: one JSON object per line, one schema for every event, versioned by `v`.
//! The writer adds `v`, `seq`, `prev` and `hash` (see `chain`); everything else is here.
//!
//! Fields that do not apply to an event are left out. Text that comes from clients (statement
//! text, user and application names) is JSON-escaped by serde, so control characters, quotes
//! and newlines cannot break a record apart (AD-06).

use serde::{Deserialize, Serialize};

/// The record format version written in `v`.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A login attempt, successful or not.
    #[serde(rename = "login")]
    Login,
    /// A session ended.
    #[serde(rename = "session.end")]
    SessionEnd,
    /// What a statement was allowed to read, written and synced before its first row (D9).
    #[serde(rename = "statement.decision")]
    Decision,
    /// A statement's terminal record: its outcome and everything known about it.
    #[serde(rename = "statement")]
    Statement,
    /// Written at start for a decision of the previous run that has no terminal record.
    #[serde(rename = "statement.incomplete")]
    Incomplete,
    /// The audit log started, with the settings that matter for trusting it.
    #[serde(rename = "audit.start")]
    AuditStart,
    /// Records that could not be written before the sink recovered.
    #[serde(rename = "audit.recovered")]
    Recovered,
    #[serde(rename = "segment.open")]
    SegmentOpen,
    #[serde(rename = "segment.close")]
    SegmentClose,
}

impl Event {
    /// Events that end a statement (exactly one per statement).
    pub fn is_terminal(self) -> bool {
        matches!(self, Event::Statement | Event::Incomplete)
    }
}

/// Who ran it and from where.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    pub session_id: String,
    pub user: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub superuser: bool,
    pub auth_method: String,
    pub client_addr: String,
    pub tls: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub application_name: String,
    pub database: String,
}

/// The statement as run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatementInfo {
    /// As sent (literals replaced by `$n` with `audit.redact_literals`), cut past the limit.
    pub text: String,
    /// SHA-256 of `text` as recorded, hex.
    pub hash: String,
    /// pgaudit's class: READ, WRITE, DDL, ROLE, MISC, MISC_SET, or UNKNOWN (did not parse).
    pub class: String,
    /// The command tag (`SELECT`, `SET`, `BEGIN`, …).
    pub command: String,
    /// `simple` or `extended`.
    pub protocol: String,
    /// The prepared statement's name (extended protocol; empty for the unnamed one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepared: Option<String>,
    /// Bytes cut from `text`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub truncated_bytes: usize,
}

/// One table a statement read, with the policy it was read through.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableRead {
    pub table: String,
    /// Columns the statement asked for.
    pub columns: Vec<String>,
    /// The row filter the principal reads the table through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_filter: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked: Vec<String>,
    /// Columns NULLed outside their data filter's rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cell_filtered: Vec<String>,
    /// Columns that do not exist for the principal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden: Vec<String>,
    /// The policy rules that decided the access (empty for superusers: no policy applies).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions_matched: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions_total: Option<u64>,
    pub files: u64,
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_version: Option<i64>,
    /// The federated connection a remote table was read through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
}

/// How it ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// ok, denied, error or canceled.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqlstate: Option<String>,
    /// What the client was told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The real reason, when the client was told less (login failures, AD-09).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One table a statement writes: the operation and, once it is done, the rows written (for
/// DELETE, the rows deleted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableWrite {
    pub table: String,
    /// create, create view, insert, delete, rename, drop.
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub event: Event,
    /// When the record was made (RFC 3339, UTC, microseconds).
    pub time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<StatementInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<TableRead>,
    /// What the statement wrote or changed (tables created, rows inserted or deleted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<TableWrite>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// The result was not read to its end (portal closed, client gone).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// Event-specific details (segment names, settings, counts).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl Record {
    pub fn new(event: Event) -> Self {
        Self {
            event,
            time: now_rfc3339(),
            query_id: None,
            actor: None,
            statement: None,
            tables: Vec::new(),
            writes: Vec::new(),
            outcome: None,
            rows: None,
            partial: false,
            started_at: None,
            ended_at: None,
            duration_ms: None,
            details: serde_json::Map::new(),
        }
    }

    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// The record's body as one JSON object (without the chain fields).
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("audit records serialize")
    }
}

pub fn now_rfc3339() -> String {
    rfc3339(std::time::SystemTime::now())
}

pub fn rfc3339(time: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
