//! Group commit across statements that are still being planned.
//!
//! A sync costs the same CPU (about 100 µs of kernel time here) whether it covers one record or
//! twenty. Syncing the moment the first decision arrives means that, with many sessions, most
//! syncs cover one or two records and the syncs themselves use up the CPU the statements need.
//! So, like PostgreSQL's `commit_delay` with `commit_siblings`, the writer holds a batch whose
//! statements wait while other statements are still being planned (their decisions are moments
//! away), up to a short bound. A lone session never waits: nobody else is in flight.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

/// How often the held batch looks for newly queued records.
const POLL: Duration = Duration::from_micros(20);

/// Statements that have begun and not yet queued their decision record.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    /// Counts a statement until the returned guard is dropped (its decision is queued, or it
    /// ends without one).
    pub fn enter(&self) -> Planning {
        self.0.fetch_add(1, Ordering::AcqRel);
        Planning(Arc::clone(&self.0))
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// One statement being planned.
#[derive(Debug)]
pub struct Planning(Arc<AtomicUsize>);

impl Drop for Planning {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Adds to `batch` the entries queued while other statements finish planning: returns once
/// none is in flight, the batch is full, or `wait` (`audit.group_commit_wait_us`) has passed.
pub fn gather<T>(
    in_flight: &InFlight,
    queue: &mut mpsc::Receiver<T>,
    batch: &mut Vec<T>,
    max: usize,
    wait: Duration,
) {
    let deadline = Instant::now() + wait;
    while batch.len() < max && !wait.is_zero() {
        match queue.try_recv() {
            Ok(entry) => batch.push(entry),
            Err(mpsc::error::TryRecvError::Disconnected) => return,
            Err(mpsc::error::TryRecvError::Empty) => {
                if in_flight.count() == 0 || Instant::now() >= deadline {
                    // A statement queues its decision before it stops counting: take it.
                    while batch.len() < max {
                        let Ok(entry) = queue.try_recv() else { return };
                        batch.push(entry);
                    }
                    return;
                }
                std::thread::sleep(POLL);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_batch_is_not_held_and_a_held_one_takes_late_records() {
        let in_flight = InFlight::default();
        let (send, mut queue) = mpsc::channel(8);
        let mut batch = vec![0];
        let started = Instant::now();
        gather(
            &in_flight,
            &mut queue,
            &mut batch,
            8,
            Duration::from_secs(5),
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "nobody in flight: no wait"
        );

        let planning = in_flight.enter();
        let late = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_micros(60));
            send.blocking_send(1).unwrap();
            drop(planning);
        });
        // A generous bound: the point is that the batch waits for the late decision.
        gather(
            &in_flight,
            &mut queue,
            &mut batch,
            8,
            Duration::from_secs(5),
        );
        late.join().unwrap();
        assert_eq!(batch, vec![0, 1], "the late decision joined the batch");
        assert_eq!(in_flight.count(), 0);
    }
}
