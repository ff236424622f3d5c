//! Admission of statements: at most `limits.max_running_statements` run at once; the next
//! `limits.max_queued_statements` wait their turn (at most `limits.statement_queue_timeout_ms`,
//! and a cancel request or `statement_timeout` still stops them); past that, overload is
//! refused with 53300 at once rather than piling up memory (issue 11).
//!
//! A statement holds its slot until its result is sent or dropped: a result left open (a
//! cursor, a suspended portal) keeps its slot, as it keeps its memory. The queue's timeout
//! bounds how long others can be held up by that.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::LakegateError;

#[derive(Debug)]
pub struct StatementQueue {
    /// `None`: no bound on running statements.
    running: Option<Arc<Semaphore>>,
    waiting: AtomicUsize,
    max_waiting: usize,
    max_wait: Duration,
}

/// A running statement's slot; dropping it lets the next one in.
#[derive(Debug)]
pub struct Running(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl StatementQueue {
    pub fn new(max_running: usize, max_waiting: usize, max_wait: Duration) -> Self {
        Self {
            running: (max_running > 0).then(|| Arc::new(Semaphore::new(max_running))),
            waiting: AtomicUsize::new(0),
            max_waiting,
            max_wait,
        }
    }

    /// A slot to run in, waiting for one if the queue has room.
    pub async fn enter(&self) -> Result<Running, LakegateError> {
        let Some(running) = &self.running else {
            return Ok(Running(None));
        };
        if let Ok(permit) = Arc::clone(running).try_acquire_owned() {
            return Ok(Running(Some(permit)));
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(LakegateError::Overloaded(format!(
                "{} statements are already waiting to run",
                self.max_waiting
            )));
        }
        let waited = tokio::time::timeout(self.max_wait, Arc::clone(running).acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(permit)) => Ok(Running(Some(permit))),
            Ok(Err(_)) => Err(LakegateError::Internal("statement queue closed".into())),
            Err(_) => Err(LakegateError::Overloaded(format!(
                "no statement slot became free within {} ms",
                self.max_wait.as_millis()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn past_the_running_and_waiting_bounds_statements_are_refused() {
        let queue = Arc::new(StatementQueue::new(1, 1, Duration::from_millis(200)));
        let first = queue.enter().await.unwrap();
        let waiter = {
            let queue = Arc::clone(&queue);
            tokio::spawn(async move { queue.enter().await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let refused = queue.enter().await.unwrap_err();
        assert!(matches!(refused, LakegateError::Overloaded(_)), "{refused}");
        drop(first);
        waiter.await.unwrap().expect("the waiting statement ran");
        let _held = queue.enter().await.unwrap();
        let timed_out = queue.enter().await.unwrap_err();
        assert!(
            timed_out.to_string().contains("within 200 ms"),
            "{timed_out}"
        );
    }
}
