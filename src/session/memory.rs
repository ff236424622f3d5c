//! A memory budget per session (`engine.query_memory_limit_mb`) on top of the gateway's shared
//! pool (`engine.memory_limit_mb`). A session runs one statement at a time, so the budget is
//! that statement's: one large query spills (or fails with 53200) at its own limit instead of
//! taking the whole shared pool from everyone else's queries.
//!
//! Every reservation still goes through the shared pool, which keeps its own accounting and
//! fairness between spilling operators; this pool only adds the per-session bound.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};

#[derive(Debug)]
pub struct SessionPool {
    shared: Arc<dyn MemoryPool>,
    limit: usize,
    used: AtomicUsize,
}

impl SessionPool {
    pub fn new(shared: Arc<dyn MemoryPool>, limit: usize) -> Self {
        Self {
            shared,
            limit,
            used: AtomicUsize::new(0),
        }
    }
}

impl fmt::Display for SessionPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "session pool ({} bytes) over {}",
            self.limit, self.shared
        )
    }
}

impl MemoryPool for SessionPool {
    fn name(&self) -> &str {
        "lakegate-session"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.shared.register(consumer)
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.shared.unregister(consumer)
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.shared.grow(reservation, additional);
        self.used.fetch_add(additional, Ordering::Relaxed);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.shared.shrink(reservation, shrink);
        self.used.fetch_sub(shrink, Ordering::Relaxed);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let before = self.used.fetch_add(additional, Ordering::Relaxed);
        if before + additional > self.limit {
            self.used.fetch_sub(additional, Ordering::Relaxed);
            // ResourcesExhausted: spilling operators spill on it; others fail with 53200.
            return Err(DataFusionError::ResourcesExhausted(format!(
                "the statement needs more than its {} MiB (engine.query_memory_limit_mb)",
                self.limit / (1024 * 1024)
            )));
        }
        self.shared
            .try_grow(reservation, additional)
            .inspect_err(|_| {
                self.used.fetch_sub(additional, Ordering::Relaxed);
            })
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::GreedyMemoryPool;

    #[test]
    fn the_session_bound_applies_before_the_shared_pool() {
        let shared: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(1000));
        let pool: Arc<dyn MemoryPool> = Arc::new(SessionPool::new(Arc::clone(&shared), 100));
        let reservation = MemoryConsumer::new("sort").register(&pool);
        reservation.try_grow(80).unwrap();
        assert!(
            reservation.try_grow(30).is_err(),
            "past the session's 100 bytes"
        );
        assert_eq!((pool.reserved(), shared.reserved()), (80, 80));
        reservation.free();
        assert_eq!((pool.reserved(), shared.reserved()), (0, 0));
    }
}
