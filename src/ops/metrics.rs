//! Prometheus metrics: one process-wide registry (prometheus-client encodes the text format),
//! fed where things happen: the accept loop, a statement's terminal audit record (outcome,
//! SQLSTATE, duration, what it scanned), the catalog and listing caches, and the audit writer.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::audit::Record;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionLabels {
    /// accepted, refused (past `max_connections` and its headroom, or too many pending logins
    /// from one address).
    pub result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatementLabels {
    /// ok, denied, error, canceled.
    pub outcome: String,
    /// Empty for `ok`.
    pub sqlstate: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// delta_snapshots, partitions, listings, plans (a session's kept physical plans).
    pub cache: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub connections_open: Gauge,
    pub connections: Family<ConnectionLabels, Counter>,
    pub statements: Family<StatementLabels, Counter>,
    pub statement_seconds: Histogram,
    pub scanned_bytes: Counter,
    pub scanned_files: Counter,
    pub partitions_matched: Counter,
    pub partitions_considered: Counter,
    pub cache_lookups: Family<CacheLabels, Counter>,
    pub cache_misses: Family<CacheLabels, Counter>,
    pub audit_durable_seconds: Histogram,
    pub audit_queued: Gauge,
    pub audit_write_failures: Counter,
    pub audit_records: Counter,
    pub audit_syncs: Counter,
}

pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

/// Seconds from 100 µs to about 100 s, doubling.
fn seconds_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 21))
}

impl Metrics {
    fn new() -> Self {
        let mut metrics = Self {
            registry: Registry::with_prefix("lakegate"),
            connections_open: Gauge::default(),
            connections: Family::default(),
            statements: Family::default(),
            statement_seconds: seconds_buckets(),
            scanned_bytes: Counter::default(),
            scanned_files: Counter::default(),
            partitions_matched: Counter::default(),
            partitions_considered: Counter::default(),
            cache_lookups: Family::default(),
            cache_misses: Family::default(),
            audit_durable_seconds: seconds_buckets(),
            audit_queued: Gauge::default(),
            audit_write_failures: Counter::default(),
            audit_records: Counter::default(),
            audit_syncs: Counter::default(),
        };
        metrics.register();
        metrics
    }

    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "connections_open",
            "Client connections open now",
            self.connections_open.clone(),
        );
        r.register(
            "connections",
            "Client connections by admission result",
            self.connections.clone(),
        );
        r.register(
            "statements",
            "Statements ended, by outcome and SQLSTATE",
            self.statements.clone(),
        );
        r.register(
            "statement_duration_seconds",
            "Statement duration, arrival to last row",
            self.statement_seconds.clone(),
        );
        r.register(
            "scanned_bytes",
            "Bytes of lake files selected for scanning",
            self.scanned_bytes.clone(),
        );
        r.register(
            "scanned_files",
            "Lake files selected for scanning",
            self.scanned_files.clone(),
        );
        r.register(
            "partitions_matched",
            "Partitions left after pruning",
            self.partitions_matched.clone(),
        );
        r.register(
            "partitions_considered",
            "Partitions of the tables scanned, where known",
            self.partitions_considered.clone(),
        );
        r.register(
            "cache_lookups",
            "Cache lookups (delta_snapshots, partitions, listings)",
            self.cache_lookups.clone(),
        );
        r.register(
            "cache_misses",
            "Cache lookups that had to fetch",
            self.cache_misses.clone(),
        );
        r.register(
            "audit_durable_seconds",
            "Time from queueing a decision record to its sync",
            self.audit_durable_seconds.clone(),
        );
        r.register(
            "audit_queued_records",
            "Audit records waiting for the writer",
            self.audit_queued.clone(),
        );
        r.register(
            "audit_write_failures",
            "Audit writes (batches, or retries of a failing sink) that failed",
            self.audit_write_failures.clone(),
        );
        r.register(
            "audit_records",
            "Audit records written to segment files",
            self.audit_records.clone(),
        );
        r.register(
            "audit_syncs",
            "Syncs of the audit segment (each makes every record written before it durable)",
            self.audit_syncs.clone(),
        );
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }

    /// A statement's terminal record: its outcome, duration and what it scanned.
    pub fn statement_ended(&self, record: &Record, duration: Duration) {
        let (outcome, sqlstate) = record.outcome.as_ref().map_or(("ok", ""), |o| {
            (o.status.as_str(), o.sqlstate.as_deref().unwrap_or_default())
        });
        let labels = StatementLabels {
            outcome: outcome.to_owned(),
            sqlstate: sqlstate.to_owned(),
        };
        self.statements.get_or_create(&labels).inc();
        self.statement_seconds.observe(duration.as_secs_f64());
        for table in &record.tables {
            self.scanned_bytes.inc_by(table.bytes);
            self.scanned_files.inc_by(table.files);
            self.partitions_matched
                .inc_by(table.partitions_matched.unwrap_or(0));
            self.partitions_considered
                .inc_by(table.partitions_total.unwrap_or(0));
        }
    }

    pub fn cache_lookup(&self, cache: &'static str) {
        self.cache_lookups
            .get_or_create(&CacheLabels { cache })
            .inc();
    }

    pub fn cache_missed(&self, cache: &'static str) {
        self.cache_misses
            .get_or_create(&CacheLabels { cache })
            .inc();
    }

    /// `cache.try_get_with(key, fetch)`, counting the lookup, and the miss when `fetch` runs.
    pub async fn cached<K, V, E>(
        &self,
        cache: &moka::future::Cache<K, V>,
        name: &'static str,
        key: K,
        fetch: impl std::future::Future<Output = Result<V, E>>,
    ) -> Result<V, std::sync::Arc<E>>
    where
        K: std::hash::Hash + Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        E: Send + Sync + 'static,
    {
        self.cache_lookup(name);
        let fetch = async {
            self.cache_missed(name);
            fetch.await
        };
        cache.try_get_with(key, fetch).await
    }

    pub fn connection(&self, result: &'static str) {
        self.connections
            .get_or_create(&ConnectionLabels { result })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_counted_by_outcome_and_sqlstate() {
        let mut record = Record::new(crate::audit::Event::Statement);
        record.outcome = Some(crate::audit::Outcome {
            status: "denied".into(),
            sqlstate: Some("42501".into()),
            ..Default::default()
        });
        metrics().statement_ended(&record, Duration::from_millis(3));
        let text = metrics().encode();
        assert!(
            text.contains(r#"lakegate_statements_total{outcome="denied",sqlstate="42501"}"#),
            "{text}"
        );
        assert!(
            text.contains("lakegate_statement_duration_seconds_bucket"),
            "{text}"
        );
    }
}
