//! The operations endpoint (`server.http_listen`): `GET /healthz` (the process serves),
//! `GET /readyz` (it accepts new work: not shutting down, and the audit log can be written
//! unless it fails open), and `GET /metrics` (Prometheus text format).
//!
//! Three fixed GET routes need no HTTP framework: requests are read up to a small bound and a
//! deadline, answered once, and the connection is closed.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::metrics::metrics;
use super::shutdown::Shutdown;
use crate::audit::AuditLog;

/// The most of a request that is read: the request line and headers of a scraper fit.
const MAX_REQUEST: usize = 8 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What readiness depends on.
pub struct Readiness {
    pub shutdown: Shutdown,
    pub audit: Arc<AuditLog>,
}

/// Serves the endpoint for the life of the process (through the shutdown drain, when
/// readiness says 503).
pub async fn serve(listener: TcpListener, readiness: Arc<Readiness>) {
    loop {
        match listener.accept().await {
            Ok((socket, _)) => {
                let readiness = Arc::clone(&readiness);
                tokio::spawn(async move {
                    let _ = answer(socket, &readiness).await;
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "operations endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn answer(mut socket: TcpStream, readiness: &Readiness) -> std::io::Result<()> {
    let request = tokio::time::timeout(READ_TIMEOUT, read_head(&mut socket)).await;
    let (status, content_type, body) = match request {
        Ok(Ok(head)) => route(&head, readiness),
        _ => ("400 Bad Request", "text/plain", "bad request\n".to_owned()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(response.as_bytes()).await?;
    socket.shutdown().await
}

/// Reads until the end of the headers (or the bound).
async fn read_head(socket: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
        let read = socket.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..read]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

fn route(head: &str, readiness: &Readiness) -> (&'static str, &'static str, String) {
    let mut words = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, path) = (words.next(), words.next().unwrap_or_default());
    let path = path.split('?').next().unwrap_or_default();
    match (method, path) {
        (Some("GET"), "/healthz") => ("200 OK", "text/plain", "ok\n".to_owned()),
        (Some("GET"), "/readyz") => match not_ready(readiness) {
            None => ("200 OK", "text/plain", "ready\n".to_owned()),
            Some(why) => ("503 Service Unavailable", "text/plain", format!("{why}\n")),
        },
        (Some("GET"), "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            metrics().encode(),
        ),
        (Some("GET"), _) => ("404 Not Found", "text/plain", "not found\n".to_owned()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_owned(),
        ),
    }
}

fn not_ready(readiness: &Readiness) -> Option<&'static str> {
    if readiness.shutdown.is_begun() {
        return Some("shutting down");
    }
    readiness
        .audit
        .refuses_statements()
        .then_some("the audit log cannot be written (statements fail with 58030)")
}
