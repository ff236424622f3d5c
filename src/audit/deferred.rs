//! Records nobody waits for (a statement's terminal record, a session's end, a refused login)
//! are collected here rather than sent to the writer one by one: each send wakes the writer's
//! thread, and two wake-ups per statement (its decision, then its terminal record) cost more
//! CPU than writing the records. The writer takes them all whenever it wakes for anything
//! else; only the first record into an empty collection wakes it, so none waits longer than
//! one writer cycle. Past `limit` records they go through the bounded queue again, whose
//! back-pressure then applies: a slow sink slows statements rather than growing this.

use std::sync::Mutex;

#[derive(Debug)]
pub struct Deferred {
    records: Mutex<Vec<String>>,
    limit: usize,
}

/// What became of a record handed to [`Deferred::push`].
pub enum Deferral {
    /// Held for the writer; `wake` when the writer must be told (the first one held).
    Held { wake: bool },
    /// Too many held: send it through the queue.
    Full(String),
}

impl Deferred {
    pub fn new(limit: usize) -> Self {
        Self {
            records: Mutex::new(Vec::new()),
            limit,
        }
    }

    pub fn push(&self, body: String) -> Deferral {
        let mut records = self.records.lock().expect("audit deferral lock");
        if records.len() >= self.limit {
            return Deferral::Full(body);
        }
        records.push(body);
        Deferral::Held {
            wake: records.len() == 1,
        }
    }

    /// Everything held, for the writer.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.records.lock().expect("audit deferral lock"))
    }
}
