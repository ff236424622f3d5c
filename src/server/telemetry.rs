//! Logging: human-readable lines on stderr, filtered with `RUST_LOG` (default: info for
//! lakegate, warn for libraries); one JSON object per line with `LAKEGATE_LOG_FORMAT=json`
//! (for log shippers: the statement span's `query_id` is a field of each line).

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("warn,lakegate=info,buoyant_kernel::snapshot::builder=off")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match std::env::var("LAKEGATE_LOG_FORMAT").as_deref() {
        Ok("json") => builder.json().with_current_span(true).try_init(),
        _ => builder.try_init(),
    };
}
