//! Graceful shutdown. On SIGTERM (or SIGINT) the listener stops accepting, readiness turns
//! false, idle sessions are ended with 57P01 as PostgreSQL's fast shutdown does, and sessions
//! that are running a statement finish it first. Whatever still runs at the deadline is
//! dropped, and the audit log is closed.

use tokio_util::sync::CancellationToken;

/// The process-wide "stop now" flag, cheap to clone into every connection.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(CancellationToken);

impl Shutdown {
    pub fn begin(&self) {
        self.0.cancel();
    }

    pub fn is_begun(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Resolves once shutdown has begun.
    pub async fn begun(&self) {
        self.0.cancelled().await
    }

    /// Begins the shutdown when the process receives SIGTERM or SIGINT.
    pub fn on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let shutdown = self.clone();
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            };
            tracing::info!(
                signal = name,
                "shutting down: no new connections; running statements may finish"
            );
            shutdown.begin();
        });
        Ok(())
    }
}
