//! Query ids: UUIDv7 strings (time-ordered), so log lines sort by time and a client can quote
//! the id of a failed statement to an operator.

use std::time::{SystemTime, UNIX_EPOCH};

tokio::task_local! {
    /// The id of the statement the task is running: error messages and the audit record quote
    /// the same id.
    static CURRENT: String;
}

/// The running statement's id, or a new one outside any statement.
pub fn current_or_new() -> String {
    CURRENT.try_with(Clone::clone).unwrap_or_else(|_| new_id())
}

/// Runs `work` as the statement `id`.
pub async fn scope<F: std::future::Future>(id: String, work: F) -> F::Output {
    use tracing::Instrument;
    // Log lines written while the statement runs carry its id (a span field in JSON logs).
    let span = tracing::info_span!("statement", query_id = %id);
    CURRENT.scope(id, work).instrument(span).await
}

/// Runs `work` as the statement `id` (synchronous code, such as classifying an error).
pub fn sync_scope<R>(id: String, work: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(id, work)
}

/// A new UUIDv7: 48 bits of Unix milliseconds, version and variant bits, 74 random bits.
pub fn new_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let random: u128 = rand::random();
    let value = (u128::from(millis & 0xffff_ffff_ffff) << 80)
        | (0x7 << 76)
        | ((random >> 64) & 0x0fff) << 64
        | (0b10 << 62)
        | (random & 0x3fff_ffff_ffff_ffff);
    let hex = format!("{value:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_uuid_v7() {
        let id = super::new_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "7");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(id, super::new_id());
    }
}
