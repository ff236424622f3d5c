//! Operating the gateway: graceful shutdown on SIGTERM, Prometheus metrics, and the HTTP
//! endpoint that serves health, readiness and the metrics.

pub mod http;
pub mod metrics;
pub mod shutdown;
