//! One statement's audit context: created when the statement arrives, filled in as it is
//! planned (what it reads, through which policies, which partitions and files), written as a
//! decision record before the statement runs or sends its first row, and closed by exactly one
//! terminal record, also when the statement is dropped half-way (cancel, client gone).

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::record::{rfc3339, Actor, Event, Outcome, Record, StatementInfo, TableRead, TableWrite};
use super::{text, AuditLog};
use crate::error::{ClientError, LakegateError};
use crate::scan::report::{PolicyRead, TableScan};

/// Where a statement's text came from.
#[derive(Debug, Clone)]
pub struct StatementSource {
    pub text: String,
    /// `simple` or `extended`.
    pub protocol: &'static str,
    /// The prepared statement (extended protocol); `Some("")` is the unnamed one.
    pub prepared: Option<String>,
    /// It did not parse (or plan): its literals are not recorded, whatever they were.
    pub unparsed: bool,
}

pub struct StatementAudit {
    log: Arc<AuditLog>,
    record: Record,
    started: Instant,
    /// The decision record was written: the statement ran (or is sending rows).
    decided: bool,
    /// The terminal record was written, or the statement was handed to its result stream.
    finished: bool,
    /// The client asked for the result (its stream was polled).
    streaming: bool,
    /// Rows sent so far.
    rows: u64,
    /// Its literals were replaced: error messages (which may quote them) are not recorded.
    redacted: bool,
    /// Rows a write statement wrote (or deleted).
    written: Option<u64>,
    /// Counted as being planned until the decision is queued (group commit).
    planning: Option<super::group::Planning>,
}

impl StatementAudit {
    pub fn begin(log: &Arc<AuditLog>, actor: Actor, source: StatementSource) -> Self {
        let mut record = Record::new(Event::Decision);
        record.query_id = Some(crate::session::query_id::new_id());
        record.actor = Some(actor);
        record.started_at = Some(record.time.clone());
        let (statement, redacted) = if log.is_on() {
            let (info, redacted) = statement_info(log, source);
            (Some(info), redacted)
        } else {
            (None, false)
        };
        record.statement = statement;
        Self {
            planning: log.planning(),
            log: Arc::clone(log),
            record,
            started: Instant::now(),
            decided: false,
            finished: false,
            streaming: false,
            rows: 0,
            redacted,
            written: None,
        }
    }

    /// Moves the open statement into its result stream, which writes the terminal record.
    pub fn handoff(&mut self) -> StatementAudit {
        self.finished = true;
        StatementAudit {
            log: Arc::clone(&self.log),
            record: self.record.clone(),
            started: self.started,
            decided: self.decided,
            finished: false,
            streaming: false,
            rows: 0,
            redacted: self.redacted,
            written: self.written,
            planning: self.planning.take(),
        }
    }

    /// The client asked for the result.
    pub fn streaming(&mut self) {
        self.streaming = true;
    }

    /// Rows sent so far.
    pub fn add_rows(&mut self, rows: u64) {
        self.rows += rows;
    }

    pub fn query_id(&self) -> &str {
        self.record.query_id.as_deref().unwrap_or_default()
    }

    /// pgaudit's class and the command tag.
    pub fn classify(&mut self, class: &str, command: &str) {
        if let Some(statement) = &mut self.record.statement {
            statement.class = class.to_owned();
            statement.command = command.to_owned();
        }
    }

    /// What the statement reads, from its planned scans.
    pub fn set_reads(&mut self, scans: &[TableScan], reads: &[PolicyRead]) {
        self.record.tables = tables_read(scans, reads);
    }

    /// What the statement writes; `rows` once it has written them.
    pub fn set_written(&mut self, table: &str, operation: &str, rows: Option<u64>) {
        let write = TableWrite {
            table: table.to_owned(),
            operation: operation.to_owned(),
            rows,
        };
        match self.record.writes.iter_mut().find(|w| w.table == table) {
            Some(existing) => *existing = write,
            None => self.record.writes.push(write),
        }
        let counted: Vec<u64> = self.record.writes.iter().filter_map(|w| w.rows).collect();
        self.written = (!counted.is_empty()).then(|| counted.iter().sum());
    }

    /// Writes the decision record and waits until it is durable: for statements that act
    /// (SET, PREPARE …), nothing happens before (D9).
    pub async fn decide(&mut self) -> Result<(), LakegateError> {
        let pending = self.queue_decision().await;
        pending.wait().await
    }

    /// Queues the decision record; the returned handle must resolve before any row is sent
    /// (results wait for it in [`crate::session`]'s audited stream, so the sync overlaps with
    /// computing the first batch).
    pub async fn queue_decision(&mut self) -> PendingDecision {
        let mut decision = self.record.clone();
        decision.event = Event::Decision;
        decision.time = super::record::now_rfc3339();
        let durability = self.log.queue_durable(&decision).await;
        // Queued first, then no longer counted: the writer's last look finds it (`group`).
        self.planning = None;
        self.decided = true;
        PendingDecision {
            durability,
            query_id: self.query_id().to_owned(),
        }
    }

    /// The terminal record, unless the statement was handed to its result stream; waits only
    /// for room in the queue.
    pub async fn finish(&mut self, outcome: Result<(), &ClientError>) {
        if self.finished {
            return;
        }
        // Rows are counted for results that stream; commands answered in place report none.
        let rows = self.written.or(self.streaming.then_some(self.rows));
        let record = self.terminal(outcome_of(outcome), rows, false);
        self.finished = true;
        self.planning = None;
        let _ = self.log.write(&record, false).await;
    }

    fn terminal(&mut self, mut outcome: Outcome, rows: Option<u64>, partial: bool) -> Record {
        if self.redacted {
            outcome.message = None;
        }
        let mut record = self.record.clone();
        record.event = Event::Statement;
        record.time = rfc3339(SystemTime::now());
        record.ended_at = Some(record.time.clone());
        record.duration_ms = Some(self.started.elapsed().as_secs_f64() * 1000.0);
        record.outcome = Some(outcome);
        record.rows = rows;
        record.partial = partial;
        crate::ops::metrics::metrics().statement_ended(&record, self.started.elapsed());
        record
    }
}

/// A statement dropped before its terminal record: stopped before it ran (cancel request,
/// client gone), or a result that was not read to its end (portal closed, client gone).
/// A decision record on its way to disk.
#[derive(Debug)]
pub struct PendingDecision {
    durability: super::Durability,
    query_id: String,
}

impl PendingDecision {
    pub async fn wait(self) -> Result<(), LakegateError> {
        self.durability
            .wait()
            .await
            .map_err(|_| LakegateError::AuditUnavailable {
                query_id: self.query_id,
            })
    }
}

impl Drop for StatementAudit {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let not_run = |reason: &str| Outcome {
            status: "canceled".into(),
            sqlstate: Some("57014".into()),
            message: None,
            reason: Some(reason.into()),
        };
        let record = match (self.decided, self.streaming) {
            (true, true) => {
                let ok = Outcome {
                    status: "ok".into(),
                    ..Outcome::default()
                };
                self.terminal(ok, Some(self.rows), true)
            }
            (true, false) => self.terminal(
                not_run("its result was never read (an earlier statement of the message failed, or the client went away)"),
                None,
                false,
            ),
            (false, _) => self.terminal(
                not_run("stopped before it ran (cancel request, or the client went away)"),
                None,
                false,
            ),
        };
        self.log.write_detached(record);
    }
}

/// The statement as recorded, and whether its literals were replaced.
fn statement_info(log: &AuditLog, source: StatementSource) -> (StatementInfo, bool) {
    let redact = log.redact_literals || source.unparsed || text::may_carry_secret(&source.text);
    let mut text = if redact {
        text::redact_literals(&source.text)
    } else {
        source.text
    };
    let truncated_bytes = text::truncate(&mut text, log.max_statement_bytes);
    let info = StatementInfo {
        hash: super::chain::sha256_hex(&text),
        text,
        class: "UNKNOWN".into(),
        command: String::new(),
        protocol: source.protocol.into(),
        prepared: source.prepared,
        truncated_bytes,
    };
    (info, redact)
}

/// ok, denied (privileges and authentication), canceled (cancel and timeouts) or error.
pub fn outcome_of(result: Result<(), &ClientError>) -> Outcome {
    let Err(error) = result else {
        return Outcome {
            status: "ok".into(),
            ..Outcome::default()
        };
    };
    let code = error.state.code();
    let status = match code {
        "42501" => "denied",
        c if c.starts_with("28") => "denied",
        "57014" => "canceled",
        _ => "error",
    };
    Outcome {
        status: status.into(),
        sqlstate: Some(code.into()),
        message: Some(error.message.clone()),
        reason: None,
    }
}

/// One entry per table: the columns asked for and the policy read through (from the secured
/// scan), partitions, files and bytes (from the raw scan).
fn tables_read(scans: &[TableScan], reads: &[PolicyRead]) -> Vec<TableRead> {
    let mut tables: Vec<TableRead> = Vec::new();
    for scan in scans {
        let entry = match tables.iter_mut().position(|t| t.table == scan.table) {
            Some(i) => &mut tables[i],
            None => {
                tables.push(TableRead {
                    table: scan.table.clone(),
                    delta_version: scan.delta_version,
                    connection: scan.remote.clone(),
                    ..TableRead::default()
                });
                tables.last_mut().expect("just pushed")
            }
        };
        if let Some(p) = &scan.partitions {
            *entry.partitions_matched.get_or_insert(0) += p.matched as u64;
            entry.partitions_total = p.total.map(|t| t as u64);
        }
        entry.files += scan.files as u64;
        entry.bytes += scan.bytes;
        union(&mut entry.columns, &scan.columns);
    }
    let mut through_policy: Vec<&str> = Vec::new();
    for read in reads {
        let Some(entry) = tables.iter_mut().find(|t| t.table == read.table) else {
            continue;
        };
        // Through a policy, the columns asked for are the principal's, not the raw ones the
        // row filter also reads.
        if !through_policy.contains(&read.table.as_str()) {
            through_policy.push(&read.table);
            entry.columns.clear();
        }
        union(&mut entry.columns, &read.columns);
        entry.row_filter = read.row_filter.clone();
        entry.masked = read.masked.clone();
        entry.cell_filtered = read.cell_filtered.clone();
        entry.hidden = read.hidden.clone();
        entry.rules = read.rules.clone();
    }
    tables
}

fn union(into: &mut Vec<String>, more: &[String]) {
    for column in more {
        if !into.contains(column) {
            into.push(column.clone());
        }
    }
}
