//! The audit log (D9): a record of every login attempt and every statement, written before any
//! result leaves the server, hash-chained, and shipped to the lake as `audit.queries`.
//!
//! Statements build their record in a [`StatementAudit`] (a request context that accumulates
//! what the statement read and how it ended); the [`AuditLog`] hands records to a background
//! writer over a bounded queue. A statement's decision record is synced before its first row;
//! when that cannot be done, the statement fails with 58030 unless `audit.on_failure` says
//! `continue`.

mod chain;
pub mod cli;
mod deferred;
mod group;
pub mod lake;
pub mod record;
mod rows;
mod segments;
pub mod settings;
mod statement;
mod text;
pub mod verify;
mod watch;
mod writer;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

pub use record::{Actor, Event, Outcome, Record};
pub use settings::{AuditSettings, AuditSink, DecisionDurability, OnFailure};
pub use statement::{PendingDecision, StatementAudit, StatementSource};
use writer::{Entry, Output, Writer};

/// The text of each of a message's `count` statements: their own text when the message splits
/// into exactly that many, else the whole message for each.
pub fn statement_texts(message: &str, count: usize) -> Vec<String> {
    text::split_statements(message)
        .filter(|texts| texts.len() == count)
        .unwrap_or_else(|| vec![message.to_owned(); count])
}

/// The audit tables are read after everything recorded so far is shipped.
#[async_trait::async_trait]
impl crate::catalog::fresh::BeforeRead for AuditLog {
    async fn before_read(&self) -> Result<(), String> {
        self.publish().await
    }
}

/// How long a stopping gateway waits to ship its last audit segment.
const SHIP_AT_CLOSE: std::time::Duration = std::time::Duration::from_secs(5);

/// A queued record on its way to disk.
#[derive(Debug)]
pub struct Durability {
    state: Pending,
    on_failure: OnFailure,
}

#[derive(Debug)]
enum Pending {
    /// The audit log is off.
    Off,
    /// The writer is gone: the record was never queued.
    Lost,
    /// The writer will say whether it is written and synced.
    Queued(oneshot::Receiver<bool>, Instant),
}

impl Durability {
    /// Resolves when the record is written and synced (or the log is off or fails open).
    pub async fn wait(self) -> Result<(), AuditUnavailable> {
        let durable = match self.state {
            Pending::Off => true,
            Pending::Lost => false,
            Pending::Queued(written, queued) => {
                let durable = written.await.unwrap_or(false);
                let metrics = crate::ops::metrics::metrics();
                metrics
                    .audit_durable_seconds
                    .observe(queued.elapsed().as_secs_f64());
                durable
            }
        };
        if durable || self.on_failure == OnFailure::Continue {
            Ok(())
        } else {
            Err(AuditUnavailable)
        }
    }
}

/// The audit record could not be made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the audit log cannot be written")]
pub struct AuditUnavailable;

#[derive(Debug)]
pub struct AuditLog {
    /// `None` when the audit is off.
    queue: Option<mpsc::Sender<Entry>>,
    on_failure: OnFailure,
    pub redact_literals: bool,
    pub max_statement_bytes: usize,
    shipper: Option<Arc<lake::Shipper>>,
    /// Statements being planned (for group commit).
    in_flight: group::InFlight,
    /// The writer's last write failed (set and cleared by the writer).
    failing: Arc<AtomicBool>,
    /// Records nobody waits for, on their way to the writer without waking it each time.
    deferred: Arc<deferred::Deferred>,
}

impl AuditLog {
    /// Starts the writer: takes the audit directory, continues the chain where the previous
    /// run stopped, and records the start (with the settings that matter for trusting the log).
    pub async fn start(
        settings: &AuditSettings,
        shipping: Option<lake::ShipTarget>,
    ) -> Result<Arc<Self>, String> {
        if settings.sink == AuditSink::Off {
            tracing::warn!("audit log is OFF (audit.sink = \"off\"): statements are not recorded");
            return Ok(Arc::new(Self::off()));
        }
        let chain = chain::Chain::new(settings.chain_key()?.as_deref());
        let (queue, receiver) = mpsc::channel(settings.queue_capacity.max(16));
        let (output, resumed, shipper) = match settings.sink {
            AuditSink::File => {
                let dir = settings.directory()?;
                let rotate_after = std::time::Duration::from_secs(settings.rotate_seconds);
                let (segments, resumed) =
                    segments::SegmentDir::open(&dir, settings.rotate_bytes, rotate_after)?;
                let shipper = shipping
                    .map(|target| lake::Shipper::start(target, dir.clone()))
                    .transpose()?;
                (Output::Files(segments), Some(resumed), shipper)
            }
            AuditSink::Stdout | AuditSink::Off => (Output::Stdout, None, None),
        };
        let incomplete = resumed
            .as_ref()
            .map(|r| r.incomplete.clone())
            .unwrap_or_default();
        let closed = shipper.as_ref().map(|s| s.closed_segments());
        let in_flight = group::InFlight::default();
        let failing = Arc::new(AtomicBool::new(false));
        let deferred = Arc::new(deferred::Deferred::new(settings.queue_capacity.max(16)));
        let sync_decisions = settings.durability == DecisionDurability::Synced;
        // Written decisions are not synced by their batch: there is no sync to share.
        let group_wait = match sync_decisions {
            true => std::time::Duration::from_micros(settings.group_commit_wait_us),
            false => std::time::Duration::ZERO,
        };
        let shared = writer::Shared {
            in_flight: in_flight.clone(),
            failing: Arc::clone(&failing),
            deferred: Arc::clone(&deferred),
            group_wait,
            sync_decisions,
        };
        Writer::new(output, chain.clone(), resumed, closed, shared)
            .spawn(receiver)
            .map_err(|e| format!("cannot start the audit writer: {e}"))?;
        let log = Arc::new(Self {
            queue: Some(queue),
            on_failure: settings.on_failure,
            redact_literals: settings.redact_literals,
            max_statement_bytes: settings.max_statement_bytes,
            shipper,
            in_flight,
            failing,
            deferred,
        });
        log.record_start(settings, chain.name(), incomplete).await?;
        Ok(log)
    }

    pub fn off() -> Self {
        Self {
            queue: None,
            on_failure: OnFailure::Fail,
            redact_literals: false,
            max_statement_bytes: usize::MAX,
            shipper: None,
            in_flight: group::InFlight::default(),
            failing: Arc::default(),
            deferred: Arc::new(deferred::Deferred::new(0)),
        }
    }

    pub fn is_on(&self) -> bool {
        self.queue.is_some()
    }

    /// Statements are refused now: the last write failed and the log fails closed (D9).
    pub fn refuses_statements(&self) -> bool {
        self.on_failure == OnFailure::Fail && self.failing.load(Ordering::Relaxed)
    }

    /// Counts a statement as being planned until the guard is dropped, so a waiting batch
    /// may hold its sync for this statement's decision (`group`).
    fn planning(&self) -> Option<group::Planning> {
        self.is_on().then(|| self.in_flight.enter())
    }

    async fn record_start(
        &self,
        settings: &AuditSettings,
        chain: &str,
        incomplete: Vec<String>,
    ) -> Result<(), String> {
        let start = Record::new(Event::AuditStart)
            .detail("lakegate_version", env!("CARGO_PKG_VERSION"))
            .detail(
                "on_failure",
                format!("{:?}", settings.on_failure).to_lowercase(),
            )
            .detail("redact_literals", settings.redact_literals)
            .detail("durability", settings.durability.name())
            .detail("chain", chain);
        if settings.on_failure == OnFailure::Continue {
            tracing::warn!("audit.on_failure = \"continue\": statements run even when their audit record cannot be written");
        }
        self.write(&start, true)
            .await
            .map_err(|_| "cannot write the first audit record; check audit.dir".to_owned())?;
        for query_id in incomplete {
            let mut record = Record::new(Event::Incomplete);
            record.query_id = Some(query_id);
            record.outcome = Some(Outcome {
                status: "unknown".into(),
                reason: Some("the gateway stopped before the statement ended".into()),
                ..Outcome::default()
            });
            let _ = self.write(&record, false).await;
        }
        Ok(())
    }

    /// Queues a record (waiting while the queue is full); with `durable`, also waits until it
    /// is written and synced. Fails only when the record is lost and the log fails closed.
    pub async fn write(&self, record: &Record, durable: bool) -> Result<(), AuditUnavailable> {
        if durable {
            self.queue_durable(record).await.wait().await
        } else {
            self.queue(record).await
        }
    }

    /// Queues a record that must be durable; the handle resolves once it is. The caller may
    /// work meanwhile, but must not release anything before the handle says so.
    pub async fn queue_durable(&self, record: &Record) -> Durability {
        let state = match &self.queue {
            None => Pending::Off,
            Some(queue) => {
                let (ack, written) = oneshot::channel();
                let body = record.to_body();
                let queued = Instant::now();
                let sent = queue.send(Entry::Record {
                    body,
                    ack: Some(ack),
                });
                let state = match sent.await {
                    Ok(()) => Pending::Queued(written, queued),
                    Err(_) => Pending::Lost,
                };
                let backlog = queue.max_capacity() - queue.capacity();
                crate::ops::metrics::metrics()
                    .audit_queued
                    .set(backlog as i64);
                state
            }
        };
        Durability {
            state,
            on_failure: self.on_failure,
        }
    }

    /// Queues a record nobody waits for (through [`deferred`], which wakes the writer only
    /// when it must).
    async fn queue(&self, record: &Record) -> Result<(), AuditUnavailable> {
        let Some(queue) = &self.queue else {
            return Ok(());
        };
        let entry = match self.deferred.push(record.to_body()) {
            deferred::Deferral::Held { wake: false } => return Ok(()),
            deferred::Deferral::Held { wake: true } => Entry::Wake,
            deferred::Deferral::Full(body) => Entry::Record { body, ack: None },
        };
        match (queue.send(entry).await, self.on_failure) {
            (Ok(()), _) | (Err(_), OnFailure::Continue) => Ok(()),
            (Err(_), OnFailure::Fail) => Err(AuditUnavailable),
        }
    }

    /// Queues a record from where nothing can wait (a dropped statement or session).
    pub fn write_detached(self: &Arc<Self>, record: Record) {
        if self.queue.is_none() {
            return;
        }
        let log = Arc::clone(self);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = log.write(&record, false).await;
            });
        }
    }

    /// Writes what is queued and closes the current segment (the gateway stops); records
    /// written after this start a new segment.
    pub async fn close(&self) {
        let Some(queue) = &self.queue else {
            return;
        };
        let (ack, closed) = oneshot::channel();
        if queue.send(Entry::Close { ack }).await.is_ok() {
            let _ = closed.await;
        }
        // Ship the segment just closed while the runtime still runs (else the next start does).
        if let Some(shipper) = &self.shipper {
            let shipped = tokio::time::timeout(SHIP_AT_CLOSE, shipper.ship_all()).await;
            if !matches!(shipped, Ok(Ok(()))) {
                tracing::warn!("the last audit segment is shipped to the lake at the next start");
            }
        }
    }

    /// Closes the current segment (if it holds records) and ships every closed segment, so
    /// the audit tables show everything recorded so far.
    pub async fn publish(&self) -> Result<(), String> {
        let (Some(queue), Some(shipper)) = (&self.queue, &self.shipper) else {
            return Ok(());
        };
        let (ack, sealed) = oneshot::channel();
        if queue.send(Entry::Seal { ack }).await.is_ok() {
            let _ = sealed.await;
        }
        shipper.ship_closed().await
    }
}
