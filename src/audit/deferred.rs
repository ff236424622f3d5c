//! Records nobody waits for (a statement's terminal record, a session's end, a refused login)
//! are collected here rather than sent to the writer one by one: each send wakes the writer's
//! thread, and a wake-up per record costs more CPU than writing the records. The writer takes
//! them all whenever it wakes for anything else, and when it times out (`LAZY_SYNC`). Only a
//! writer asleep with no timeout (nothing unsynced) is woken, by the first record held after it
//! fell asleep. Past `limit` records they go through the bounded queue again, whose
//! back-pressure then applies: a slow sink slows statements rather than growing this.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

#[derive(Debug)]
pub struct Deferred {
    records: Mutex<Vec<String>>,
    limit: usize,
    /// The writer sleeps until the queue brings something: the next record held must wake it.
    writer_asleep: AtomicBool,
}

/// What became of a record handed to [`Deferred::push`].
pub enum Deferral {
    /// Held for the writer; `wake` when the writer must be told.
    Held { wake: bool },
    /// Too many held: send it through the queue.
    Full(String),
}

impl Deferred {
    pub fn new(limit: usize) -> Self {
        Self {
            records: Mutex::new(Vec::new()),
            limit,
            writer_asleep: AtomicBool::new(false),
        }
    }

    pub fn push(&self, body: String) -> Deferral {
        {
            let mut records = self.records.lock().expect("audit deferral lock");
            if records.len() >= self.limit {
                return Deferral::Full(body);
            }
            records.push(body);
        }
        // After the record is in: a writer that checked for records before it went to sleep
        // has set the flag by now (see `take_or_sleep`), so one of the two sees the other.
        Deferral::Held {
            wake: self.writer_asleep.swap(false, Ordering::SeqCst),
        }
    }

    /// Everything held, for the writer.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.records.lock().expect("audit deferral lock"))
    }

    /// The writer is about to sleep until the queue brings something: everything held (to
    /// write first, and not sleep), or nothing, and then the next record held wakes it.
    pub fn take_or_sleep(&self) -> Vec<String> {
        self.writer_asleep.store(true, Ordering::SeqCst);
        let held = self.take();
        if !held.is_empty() {
            self.writer_asleep.store(false, Ordering::SeqCst);
        }
        held
    }

    /// The writer woke up: records held from now on are taken with its next batch.
    pub fn awake(&self) {
        self.writer_asleep.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_sleeping_writer_is_woken_and_only_once() {
        let deferred = Deferred::new(8);
        assert!(matches!(
            deferred.push("a".into()),
            Deferral::Held { wake: false }
        ));
        assert_eq!(
            deferred.take_or_sleep(),
            vec!["a"],
            "held records: no sleep"
        );
        assert!(matches!(
            deferred.push("b".into()),
            Deferral::Held { wake: false }
        ));
        assert_eq!(deferred.take(), vec!["b"]);
        assert!(deferred.take_or_sleep().is_empty());
        assert!(matches!(
            deferred.push("c".into()),
            Deferral::Held { wake: true }
        ));
        assert!(matches!(
            deferred.push("d".into()),
            Deferral::Held { wake: false }
        ));
        deferred.awake();
        assert_eq!(deferred.take(), vec!["c", "d"]);
    }

    #[test]
    fn past_the_limit_records_go_through_the_queue() {
        let deferred = Deferred::new(1);
        assert!(matches!(deferred.push("a".into()), Deferral::Held { .. }));
        assert!(matches!(deferred.push("b".into()), Deferral::Full(b) if b == "b"));
    }
}
