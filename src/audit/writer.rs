//! The background writer: one OS thread that takes records off a bounded queue, chains them,
//! writes each batch with one write and one sync (group commit), and tells every waiting
//! statement whether its record is durable. A full queue makes statements wait (back-pressure);
//! nothing is dropped silently.
//!
//! Records nobody waits for (terminal records, session ends) wait in [`Deferred`] and are
//! written with the next batch, or before the writer sleeps, and are not synced on their own:
//! the next batch that needs a sync covers them, or a sync follows after `LAZY_SYNC` without
//! one. A statement's decision thus waits for one sync, not also for the
//! previous statement's terminal record's (which doubled the audit's cost per statement).

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot};

use super::chain::Chain;
use super::deferred::Deferred;
use super::group::{self, InFlight};
use super::record::{rfc3339, Event, Record};
use super::segments::{file_name, ChainHead, Resumed, SegmentDir};

/// Records written with one sync at most.
const MAX_BATCH: usize = 4096;

/// The longest records nobody waits for stay held or written but not synced.
const LAZY_SYNC: Duration = Duration::from_millis(10);

/// How often a failing sink is tried again when no record arrives.
const PROBE_FAILING: Duration = Duration::from_secs(1);

/// Records kept for writing once a failing sink recovers; beyond this the oldest are lost (and
/// counted in the `audit.recovered` record).
const MAX_RETRY: usize = 100_000;

pub enum Entry {
    /// A record body; `ack` learns whether it is durable.
    Record {
        body: String,
        ack: Option<oneshot::Sender<bool>>,
    },
    /// Close the current segment if it holds records; answers with the closed segment.
    Seal {
        ack: oneshot::Sender<Option<PathBuf>>,
    },
    /// The gateway stops: close the current segment (a later record opens a new one).
    Close { ack: oneshot::Sender<()> },
    /// Records are waiting in [`Deferred`].
    Wake,
}

impl Entry {
    /// A statement waits for this record to be durable.
    fn waits(&self) -> bool {
        matches!(self, Entry::Record { ack: Some(_), .. })
    }
}

/// Held records as the start of a batch: nobody waits for them.
fn unwaited(held: Vec<String>) -> Vec<(String, Option<oneshot::Sender<bool>>)> {
    let mut batch = Vec::with_capacity(held.len() + 8);
    batch.extend(held.into_iter().map(|body| (body, None)));
    batch
}

pub enum Output {
    Stdout,
    Files(SegmentDir),
}

pub struct Writer {
    output: Output,
    chain: Chain,
    head: ChainHead,
    /// Records that could not be written since the last successful write.
    lost: u64,
    failing_since: Option<SystemTime>,
    last_complaint: Option<Instant>,
    /// Length of the current segment's opening record.
    opening_len: u64,
    /// What the first segment of this run says about the previous run.
    resumed: Option<Resumed>,
    /// Closed segments, for shipping to the lake.
    closed: Option<mpsc::UnboundedSender<PathBuf>>,
    /// The last segment was given up after a failure; the next one says so.
    lost_segment: bool,
    /// Records nobody waited for that a failed write did not take.
    retry: Vec<String>,
    /// Records written that no sync has made durable yet, and when the first of them was.
    unsynced: u64,
    unsynced_since: Option<Instant>,
    shared: Shared,
}

/// What the writer shares with the statements' side.
pub struct Shared {
    /// Statements still being planned, whose decisions a waiting batch may take along.
    pub in_flight: InFlight,
    /// The last write failed (readiness, and the metrics endpoint, report it).
    pub failing: Arc<AtomicBool>,
    /// The longest a batch whose statements wait is held for decisions being planned.
    pub group_wait: Duration,
    /// Records nobody waits for, taken with every batch.
    pub deferred: Arc<Deferred>,
    /// Decisions are synced before their statements hear back (`audit.durability = "synced"`);
    /// otherwise written, and synced within `LAZY_SYNC` like any other record.
    pub sync_decisions: bool,
}

impl Writer {
    pub fn new(
        output: Output,
        chain: Chain,
        resumed: Option<Resumed>,
        closed: Option<mpsc::UnboundedSender<PathBuf>>,
        shared: Shared,
    ) -> Self {
        let head = resumed
            .as_ref()
            .map_or_else(ChainHead::genesis, |r| r.head.clone());
        Self {
            output,
            chain,
            head,
            lost: 0,
            failing_since: None,
            last_complaint: None,
            opening_len: 0,
            resumed,
            closed,
            lost_segment: false,
            retry: Vec::new(),
            unsynced: 0,
            unsynced_since: None,
            shared,
        }
    }

    pub fn spawn(self, queue: mpsc::Receiver<Entry>) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("lakegate-audit".into())
            .spawn(move || self.run(queue))
            .map(|_| ())
    }

    fn run(mut self, mut queue: mpsc::Receiver<Entry>) {
        let clock = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build();
        let Ok(clock) = clock else {
            tracing::error!(
                "the audit writer cannot start its clock; records are synced one batch at a time"
            );
            return self.run_synced(queue);
        };
        while let Some(first) = self.next_entry(&clock, &mut queue) {
            let mut entries = vec![first];
            while entries.len() < MAX_BATCH {
                let Ok(entry) = queue.try_recv() else { break };
                entries.push(entry);
            }
            if entries.iter().any(Entry::waits) {
                let in_flight = &self.shared.in_flight;
                group::gather(
                    in_flight,
                    &mut queue,
                    &mut entries,
                    MAX_BATCH,
                    self.shared.group_wait,
                );
            }
            let mut batch = self.deferred_batch();
            for entry in entries {
                match entry {
                    Entry::Record { body, ack } => batch.push((body, ack)),
                    Entry::Wake => {}
                    Entry::Seal { ack } => {
                        self.write(std::mem::take(&mut batch));
                        let _ = ack.send(self.seal());
                    }
                    Entry::Close { ack } => {
                        self.write(std::mem::take(&mut batch));
                        self.close_current("shutdown");
                        let _ = ack.send(());
                    }
                }
            }
            self.write(batch);
            // Under steady load the queue never runs dry, so the deadline is checked here too.
            if self.sync_deadline() == Some(Duration::ZERO) {
                self.sync_written();
            }
        }
        let last = self.deferred_batch();
        self.write(last);
        self.close_current("shutdown");
    }

    /// The records held in [`Deferred`], as the start of a batch.
    fn deferred_batch(&self) -> Vec<(String, Option<oneshot::Sender<bool>>)> {
        unwaited(self.shared.deferred.take())
    }

    fn close_current(&mut self, reason: &str) {
        if let Output::Files(dir) = &self.output {
            if dir.current_name().is_some() {
                self.close_segment(reason);
            }
        }
    }

    /// The next entry. While written records wait for a sync, waits for one until `LAZY_SYNC`
    /// after the first of them (its batch may sync them) and syncs them itself when none
    /// comes. While the sink fails, tries it again every `PROBE_FAILING` even without records,
    /// so it recovers (and readiness returns) without waiting for a statement that readiness
    /// keeps away.
    fn next_entry(
        &mut self,
        clock: &tokio::runtime::Runtime,
        queue: &mut mpsc::Receiver<Entry>,
    ) -> Option<Entry> {
        loop {
            let wait = match (self.sync_deadline(), self.failing_since.is_some()) {
                (Some(left), _) => left,
                (None, true) => PROBE_FAILING,
                (None, false) => match self.sleep_or_write_held() {
                    true => return self.wait_for_entry(queue),
                    false => continue,
                },
            };
            // The timer is made inside `block_on`, where the clock's runtime is current.
            let waited = clock.block_on(async { tokio::time::timeout(wait, queue.recv()).await });
            if let Ok(entry) = waited {
                return entry;
            }
            // While the sink fails, this writes the `audit.recovered` record once it works.
            let held = self.deferred_batch();
            self.write(held);
            if self.unsynced > 0 {
                self.sync_written();
            }
        }
    }

    /// How long written records may still wait for a sync: `LAZY_SYNC` after the first of them.
    fn sync_deadline(&self) -> Option<Duration> {
        self.unsynced_since
            .map(|since| LAZY_SYNC.saturating_sub(since.elapsed()))
    }

    /// Writes the records held in [`Deferred`], if any (they are synced within `LAZY_SYNC`);
    /// without any, true: the writer may sleep, and the next record held wakes it.
    fn sleep_or_write_held(&mut self) -> bool {
        let held = self.shared.deferred.take_or_sleep();
        if held.is_empty() {
            return true;
        }
        self.write(unwaited(held));
        false
    }

    /// Sleeps until the queue brings an entry (or closes).
    fn wait_for_entry(&self, queue: &mut mpsc::Receiver<Entry>) -> Option<Entry> {
        let entry = queue.blocking_recv();
        self.shared.deferred.awake();
        entry
    }

    /// Without a clock, every batch is synced (as before lazy syncs).
    fn run_synced(mut self, mut queue: mpsc::Receiver<Entry>) {
        loop {
            if !self.sleep_or_write_held() {
                self.sync_written();
                continue;
            }
            let Some(entry) = self.wait_for_entry(&mut queue) else {
                break;
            };
            let held = self.deferred_batch();
            self.write(held);
            match entry {
                Entry::Wake => self.sync_written(),
                Entry::Record { body, ack } => {
                    self.write(vec![(body, ack)]);
                    self.sync_written();
                }
                Entry::Seal { ack } => {
                    let _ = ack.send(self.seal());
                }
                Entry::Close { ack } => {
                    self.close_current("shutdown");
                    let _ = ack.send(());
                }
            }
        }
    }

    /// Syncs the records written since the last sync. If that fails they may be lost (after a
    /// failed `fdatasync` the kernel may drop the pages), so the log fails like a failed write:
    /// statements are refused until a write and sync succeed, and `audit.recovered` counts them.
    fn sync_written(&mut self) {
        let records = std::mem::take(&mut self.unsynced);
        self.unsynced_since = None;
        if let Output::Files(dir) = &mut self.output {
            crate::ops::metrics::metrics().audit_syncs.inc();
            if let Err(e) = dir.sync() {
                tracing::error!(error = %e, "audit records were written but could not be synced");
                self.failed(records, &e);
            }
        }
    }

    /// Writes a batch and acknowledges each record: durable or not. Records nobody waits for
    /// (terminal records, refused logins) are kept and written first once the sink recovers;
    /// records whose statement waits fail back to it (the statement does not run).
    fn write(&mut self, batch: Vec<(String, Option<oneshot::Sender<bool>>)>) {
        if batch.is_empty() && self.retry.is_empty() && self.failing_since.is_none() {
            return;
        }
        // First, as rotating may sync and fail: the records below then say so.
        let ready = self.ready();
        let mut bodies: Vec<String> = Vec::with_capacity(self.retry.len() + batch.len() + 1);
        if let Some(since) = self.failing_since.map(rfc3339) {
            let recovered = Record::new(Event::Recovered)
                .detail("lost_records", self.lost)
                .detail("failing_since", since);
            bodies.push(recovered.to_body());
        }
        bodies.extend(self.retry.iter().cloned());
        bodies.extend(batch.iter().map(|(body, _)| body.clone()));
        // A decision that must be synced, or the log is recovering: synced now. Otherwise
        // within `LAZY_SYNC` (`next_entry`).
        let waited = batch.iter().any(|(_, ack)| ack.is_some());
        let sync = (waited && self.shared.sync_decisions) || bodies.len() > batch.len();
        match ready.and_then(|()| self.append_synced(&bodies, sync)) {
            Ok(()) => {
                self.shared.failing.store(false, Ordering::Relaxed);
                self.lost = 0;
                self.failing_since = None;
                self.retry.clear();
                for ack in batch.into_iter().filter_map(|(_, ack)| ack) {
                    let _ = ack.send(true);
                }
            }
            Err(e) => {
                let mut refused = 0;
                for (body, ack) in batch {
                    match ack {
                        Some(ack) => {
                            refused += 1;
                            let _ = ack.send(false);
                        }
                        None => self.retry.push(body),
                    }
                }
                let overflow = self.retry.len().saturating_sub(MAX_RETRY);
                self.retry.drain(..overflow);
                self.failed(refused + overflow as u64, &e);
            }
        }
    }

    fn failed(&mut self, records: u64, error: &std::io::Error) {
        self.shared.failing.store(true, Ordering::Relaxed);
        crate::ops::metrics::metrics().audit_write_failures.inc();
        self.lost += records;
        self.failing_since.get_or_insert_with(SystemTime::now);
        let quiet = self
            .last_complaint
            .is_some_and(|t| t.elapsed() < Duration::from_secs(10));
        if !quiet {
            self.last_complaint = Some(Instant::now());
            tracing::error!(error = %error, lost_records = self.lost, "audit records cannot be written");
        }
    }

    /// Chains and writes records in one write and one sync.
    fn append(&mut self, bodies: &[String]) -> std::io::Result<()> {
        self.append_synced(bodies, true)
    }

    /// Chains and writes records in one write, synced when `sync` (a sync also makes records
    /// written before it durable).
    fn append_synced(&mut self, bodies: &[String], sync: bool) -> std::io::Result<()> {
        let mut head = self.head.clone();
        let mut bytes = String::with_capacity(bodies.iter().map(|b| b.len() + 180).sum());
        for body in bodies {
            let (line, hash) = self.chain.seal(head.seq + 1, &head.hash, body);
            bytes.push_str(&line);
            head = ChainHead {
                seq: head.seq + 1,
                hash,
            };
        }
        match &mut self.output {
            Output::Files(dir) => {
                dir.append(bytes.as_bytes(), sync)?;
                if sync {
                    self.unsynced = 0;
                    self.unsynced_since = None;
                } else {
                    self.unsynced += bodies.len() as u64;
                    self.unsynced_since.get_or_insert_with(Instant::now);
                }
                let metrics = crate::ops::metrics::metrics();
                metrics.audit_records.inc_by(bodies.len() as u64);
                if sync {
                    metrics.audit_syncs.inc();
                }
            }
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes.as_bytes())?;
                out.flush()?;
            }
        }
        self.head = head;
        Ok(())
    }

    /// Opens a new segment when the current one is full, old, gone or broken.
    fn ready(&mut self) -> std::io::Result<()> {
        let reason = match &mut self.output {
            Output::Files(dir) => dir.needs_new(),
            Output::Stdout => None,
        };
        let reason = match reason {
            Some("start") if self.lost_segment => Some("recovery"),
            other => other,
        };
        match reason {
            Some(reason) => self.rotate(reason),
            None => Ok(()),
        }
    }

    fn rotate(&mut self, reason: &'static str) -> std::io::Result<()> {
        let (previous, reason) = match reason {
            "start" | "replaced" | "recovery" => (self.drop_segment(), reason),
            _ => match self.close_segment(reason) {
                (previous, true) => (previous, reason),
                // Without its close record, the next segment must say why (for `verify`).
                (previous, false) => (previous, "recovery"),
            },
        };
        let Output::Files(dir) = &mut self.output else {
            return Ok(());
        };
        self.lost_segment = true;
        let name = dir.create(self.head.seq + 1)?;
        let mut opening = Record::new(Event::SegmentOpen)
            .detail("segment", name)
            .detail("reason", reason);
        let previous = previous.or_else(|| self.resumed.as_ref()?.last_segment.clone());
        if let Some(previous) = previous {
            opening = opening.detail("previous_segment", previous);
        }
        if let Some(resumed) = &self.resumed {
            opening = opening
                .detail("previous_run_closed", resumed.closed)
                .detail("cut_torn_bytes", resumed.cut_bytes);
        }
        if let Err(e) = self.append(&[opening.to_body()]) {
            if let Output::Files(dir) = &mut self.output {
                dir.discard();
            }
            return Err(e);
        }
        self.resumed = None;
        if let Output::Files(dir) = &self.output {
            self.opening_len = dir.current_len();
        }
        self.lost_segment = false;
        Ok(())
    }

    /// Ends the current segment with a close record; returns its name and whether the close
    /// record was written.
    fn close_segment(&mut self, reason: &str) -> (Option<String>, bool) {
        let close = Record::new(Event::SegmentClose).detail("reason", reason);
        let closed = match self.append(&[close.to_body()]) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "audit segment could not be closed cleanly");
                false
            }
        };
        (self.drop_segment(), closed)
    }

    /// Stops using the current segment (without a close record); returns its name.
    fn drop_segment(&mut self) -> Option<String> {
        if self.unsynced > 0 {
            self.sync_written();
        }
        let Output::Files(dir) = &mut self.output else {
            return None;
        };
        let path = dir.finish()?;
        let name = file_name(&path);
        if let Some(closed) = &self.closed {
            let _ = closed.send(path);
        }
        Some(name)
    }

    /// Closes the current segment if it holds records, so it can be shipped now.
    fn seal(&mut self) -> Option<PathBuf> {
        let Output::Files(dir) = &self.output else {
            return None;
        };
        if !dir.current_has_records(self.opening_len) {
            return None;
        }
        let sealed = dir.current_path();
        self.rotate("read").ok()?;
        sealed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(dir: &std::path::Path, sync_decisions: bool) -> Writer {
        let (segments, resumed) =
            SegmentDir::open(dir, 1 << 20, Duration::from_secs(3600)).unwrap();
        let shared = Shared {
            in_flight: InFlight::default(),
            failing: Arc::default(),
            group_wait: Duration::ZERO,
            deferred: Arc::new(Deferred::new(16)),
            sync_decisions,
        };
        let output = Output::Files(segments);
        Writer::new(output, Chain::new(None), Some(resumed), None, shared)
    }

    #[test]
    fn a_written_decision_is_answered_before_it_is_synced() {
        for (sync_decisions, unsynced) in [(true, 0), (false, 1)] {
            let name = format!("lakegate-writer-{sync_decisions}-{}", std::process::id());
            let dir = std::env::temp_dir().join(name);
            let _ = std::fs::remove_dir_all(&dir);
            let mut writer = writer(&dir, sync_decisions);
            let (ack, mut answer) = oneshot::channel();
            let decision = r#"{"event":"statement.decision","time":"t"}"#.to_owned();
            writer.write(vec![(decision, Some(ack))]);
            assert_eq!(answer.try_recv(), Ok(true), "answered: written");
            assert_eq!(
                writer.unsynced, unsynced,
                "sync_decisions = {sync_decisions}"
            );
            if unsynced > 0 {
                std::thread::sleep(LAZY_SYNC);
                assert_eq!(
                    writer.sync_deadline(),
                    Some(Duration::ZERO),
                    "a sync is due"
                );
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}
