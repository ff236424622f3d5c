//! One client connection, from the first byte to the last: encryption negotiation, then
//! pgwire's message dispatch under lakegate's limits.
//!
//! pgwire 0.41's `process_socket` fixes the startup timeout at 60 s, has no idle timeout and no
//! size limit after authentication, and keeps bytes a client pipelined after SSLRequest in its
//! buffer, where they would be read as if they had arrived encrypted (CVE-2021-23214's class).
//! So negotiation and the loop are done here, reading exactly one 8-byte request at a time,
//! and each message is handed to pgwire's own `process_message`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use pgwire::api::{
    ClientInfo, DefaultClient, ErrorHandler, PgWireConnectionState, PgWireServerHandlers,
};
use pgwire::error::{ErrorInfo, PgWireError};
use pgwire::messages::response::TransactionStatus;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::server::{process_error, process_message, PgWireMessageServerCodec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_util::codec::Framed;

use super::admission::PendingLogin;
use super::handlers::{ConnectionFacts, ConnectionHandlers, TlsFacts};
use super::tls::TlsServing;
use super::transport::{CheckedTransport, FrameViolation, Transport};
use super::Gateway;
use crate::session::PreparedStatement;

const SSL_REQUEST: u32 = 80877103;
const GSSENC_REQUEST: u32 = 80877104;

type Socket = Framed<CheckedTransport, PgWireMessageServerCodec<PreparedStatement>>;

/// The accepted side of a negotiation: the transport and the bytes of the first frame read.
struct Negotiated {
    transport: Transport,
    prefix: Vec<u8>,
    tls: Option<TlsFacts>,
}

/// Serves one connection until it ends. `over_limit` connections are told 53300 at startup.
pub async fn serve(
    tcp: TcpStream,
    peer: SocketAddr,
    gateway: Arc<Gateway>,
    over_limit: bool,
    pending: PendingLogin,
) {
    let limits = &gateway.limits;
    let deadline = Instant::now() + limits.startup_timeout;
    let tls = gateway.tls.as_ref().map(|t| t.current());
    let negotiated = match timeout_at(deadline, negotiate(tcp, tls)).await {
        Ok(Ok(Some(negotiated))) => negotiated,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "encryption negotiation failed"),
        Err(_) => return tracing::info!(%peer, "connection dropped: startup timeout"),
    };
    let secure = negotiated.tls.is_some();
    let transport = CheckedTransport::new(
        negotiated.transport,
        negotiated.prefix,
        limits.max_startup_packet_bytes,
        limits.max_message_bytes,
    );
    let mut socket = Framed::new(
        transport,
        PgWireMessageServerCodec::new(DefaultClient::new(peer, secure)),
    );
    socket.set_state(PgWireConnectionState::AwaitingStartup);
    let facts = ConnectionFacts {
        peer,
        tls: negotiated.tls,
        over_limit,
    };
    let handlers = ConnectionHandlers::new(Arc::clone(&gateway), facts);
    let waits = Waits {
        deadline,
        idle_session_timeout: limits.idle_session_timeout,
        shutdown: gateway.shutdown.clone(),
    };
    if let Err(e) = run(&mut socket, &handlers, waits, pending).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Answers SSLRequest and GSSENCRequest, and accepts TLS (after SSLRequest, or directly with
/// ALPN `postgresql`). `None`: the connection is to be closed without a word.
async fn negotiate(
    mut tcp: TcpStream,
    tls: Option<Arc<TlsServing>>,
) -> io::Result<Option<Negotiated>> {
    let _ = tcp.set_nodelay(true);
    let mut first = [0u8; 1];
    if tcp.peek(&mut first).await? == 1 && first[0] == 0x16 {
        return direct_tls(tcp, tls).await;
    }
    let mut offered_gss = false;
    loop {
        let mut request = [0u8; 8];
        tcp.read_exact(&mut request).await?;
        let length = u32::from_be_bytes(request[..4].try_into().expect("4 bytes"));
        let code = u32::from_be_bytes(request[4..].try_into().expect("4 bytes"));
        match (length, code, &tls) {
            (8, SSL_REQUEST, Some(serving)) => {
                tcp.write_all(b"S").await?;
                // Nothing past the 8-byte request was read, so bytes a client pipelined before
                // its ClientHello reach rustls, which refuses them, and never the codec.
                let stream = serving.acceptor.accept(tcp).await?;
                return Ok(Some(tls_negotiated(stream, serving)));
            }
            (8, SSL_REQUEST, None) => tcp.write_all(b"N").await?,
            (8, GSSENC_REQUEST, _) if !offered_gss => {
                offered_gss = true;
                tcp.write_all(b"N").await?;
            }
            _ => {
                return Ok(Some(Negotiated {
                    transport: Transport::Plain(tcp),
                    prefix: request.to_vec(),
                    tls: None,
                }))
            }
        }
    }
}

async fn direct_tls(
    tcp: TcpStream,
    tls: Option<Arc<TlsServing>>,
) -> io::Result<Option<Negotiated>> {
    let Some(serving) = tls else {
        return Ok(None);
    };
    let stream = serving.acceptor.accept(tcp).await?;
    if stream.get_ref().1.alpn_protocol() != Some(b"postgresql") {
        tracing::info!("direct TLS without ALPN \"postgresql\" refused");
        return Ok(None);
    }
    Ok(Some(tls_negotiated(stream, &serving)))
}

fn tls_negotiated(
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    serving: &TlsServing,
) -> Negotiated {
    let client_certificate = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .map(|cert| cert.clone().into_owned());
    Negotiated {
        transport: Transport::Tls(Box::new(stream)),
        prefix: Vec::new(),
        tls: Some(TlsFacts {
            end_point: serving.end_point.clone(),
            client_certificate,
        }),
    }
}

/// pgwire's dispatch loop, with the startup deadline covering authentication, an idle-session
/// timeout, shutdown between statements (57P01), and a FATAL answer to frames the transport
/// refused.
async fn run(
    socket: &mut Socket,
    handlers: &ConnectionHandlers,
    waits: Waits,
    pending: PendingLogin,
) -> io::Result<()> {
    let Waits {
        deadline,
        idle_session_timeout,
        shutdown,
    } = waits;
    let mut pending = Some(pending);
    // The concrete handlers: pgwire's trait methods return opaque types that hide the
    // statement type `process_message` needs to see.
    let startup = Arc::clone(&handlers.startup);
    let simple = Arc::clone(&handlers.query);
    let extended = Arc::clone(&handlers.query);
    let copy = Arc::new(pgwire::api::NoopHandler);
    let cancel = Arc::clone(&handlers.cancel);
    let errors = handlers.error_handler();
    loop {
        let waited = tokio::select! {
            waited = next_message(socket, deadline, idle_session_timeout) => waited,
            // Between statements: a running statement is never interrupted by the shutdown.
            () = shutdown.begun() => Waited::ShuttingDown,
        };
        let next = match waited {
            Waited::Message(next) => next,
            Waited::AuthenticationTimeout => {
                tracing::info!(peer = %socket.socket_addr(), "connection dropped: authentication timeout");
                return Ok(());
            }
            Waited::IdleTimeout => {
                return send_fatal(
                    socket,
                    "57P05",
                    "terminating connection due to idle-session timeout",
                )
                .await
            }
            Waited::IdleInTransactionTimeout => {
                return send_fatal(
                    socket,
                    "25P03",
                    "terminating connection due to idle-in-transaction timeout",
                )
                .await
            }
            Waited::ShuttingDown => {
                return send_fatal(
                    socket,
                    "57P01",
                    "terminating connection due to administrator command",
                )
                .await
            }
        };
        let message = match next {
            None | Some(Ok(PgWireFrontendMessage::Terminate(_))) => return Ok(()),
            Some(Err(e)) => return refuse_frame(socket, e).await,
            Some(Ok(message)) => message,
        };
        let cancel_request = matches!(message, PgWireFrontendMessage::CancelRequest(_));
        let extended_message = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => message.is_extended_query(),
        };
        let result = process_message(
            message,
            socket,
            Arc::clone(&startup),
            Arc::clone(&simple),
            Arc::clone(&extended),
            Arc::clone(&copy),
            Arc::clone(&cancel),
        )
        .await;
        if let Err(mut error) = result {
            errors.on_error(socket, &mut error);
            let info: ErrorInfo = error.into();
            if info.is_fatal() {
                // pgwire would send ReadyForQuery after it; PostgreSQL closes at once.
                let _ = socket
                    .send(PgWireBackendMessage::ErrorResponse(info.into()))
                    .await;
                let _ = socket.close().await;
                return Ok(());
            }
            let error = PgWireError::UserError(Box::new(info));
            process_error(socket, error, extended_message).await?;
        }
        // A CancelRequest connection carries nothing else (pgwire has already closed it).
        if cancel_request {
            return Ok(());
        }
        if !matches!(
            socket.state(),
            PgWireConnectionState::AwaitingStartup
                | PgWireConnectionState::AuthenticationInProgress
        ) {
            socket.get_mut().authenticated();
            // Signed in: no longer counts against its address's pending logins.
            drop(pending.take());
        }
    }
}

/// What bounds waiting for a message: the startup deadline, the idle-session timeout, and
/// the gateway's shutdown.
struct Waits {
    deadline: Instant,
    idle_session_timeout: Option<Duration>,
    shutdown: crate::ops::shutdown::Shutdown,
}

/// What waiting for the next message ended with.
enum Waited {
    Message(Option<Result<PgWireFrontendMessage, PgWireError>>),
    AuthenticationTimeout,
    IdleTimeout,
    IdleInTransactionTimeout,
    ShuttingDown,
}

/// The next message, under the startup deadline until signed in and the idle-session timeout
/// between transactions.
async fn next_message(
    socket: &mut Socket,
    deadline: Instant,
    idle_session_timeout: Option<Duration>,
) -> Waited {
    match (socket.state(), idle_session_timeout) {
        (
            PgWireConnectionState::AwaitingStartup
            | PgWireConnectionState::AuthenticationInProgress,
            _,
        ) => match timeout_at(deadline, socket.next()).await {
            Ok(next) => Waited::Message(next),
            Err(_) => Waited::AuthenticationTimeout,
        },
        (_, Some(idle)) if socket.transaction_status() == TransactionStatus::Idle => {
            match timeout(idle, socket.next()).await {
                Ok(next) => Waited::Message(next),
                Err(_) => Waited::IdleTimeout,
            }
        }
        _ => match idle_in_transaction_timeout(socket) {
            Some(idle) => match timeout(idle, socket.next()).await {
                Ok(next) => Waited::Message(next),
                Err(_) => Waited::IdleInTransactionTimeout,
            },
            None => Waited::Message(socket.next().await),
        },
    }
}

/// The session's `idle_in_transaction_session_timeout`, while a transaction is open.
fn idle_in_transaction_timeout(socket: &Socket) -> Option<Duration> {
    if socket.transaction_status() == TransactionStatus::Idle {
        return None;
    }
    let session = socket
        .session_extensions()
        .get::<Arc<crate::session::Session>>()?;
    let millis = session
        .settings
        .read()
        .expect("settings lock")
        .idle_in_transaction_timeout_ms();
    (millis > 0).then(|| Duration::from_millis(millis))
}

/// A frame the transport or codec could not accept: FATAL 08P01 (or 54000 for size), as
/// PostgreSQL does, then close.
async fn refuse_frame(socket: &mut Socket, error: PgWireError) -> io::Result<()> {
    let (code, message) = match socket.get_ref().violation() {
        Some(FrameViolation::MessageTooLarge(limit)) => (
            "54000",
            format!("message is larger than the server accepts ({limit} bytes)"),
        ),
        Some(FrameViolation::StartupTooLarge(_)) => {
            ("08P01", "invalid length of startup packet".to_owned())
        }
        Some(FrameViolation::InvalidLength) => ("08P01", "invalid message length".to_owned()),
        Some(FrameViolation::Malformed(reason)) => ("08P01", reason.to_owned()),
        None => match error {
            PgWireError::IoError(e) => {
                tracing::debug!(peer = %socket.socket_addr(), error = %e, "connection read failed");
                return Ok(());
            }
            other => ("08P01", format!("invalid frontend message: {other}")),
        },
    };
    tracing::info!(peer = %socket.socket_addr(), code, %message, "connection closed: protocol violation");
    send_fatal(socket, code, &message).await
}

async fn send_fatal(socket: &mut Socket, code: &str, message: &str) -> io::Result<()> {
    let info = ErrorInfo::new("FATAL".into(), code.into(), message.into());
    let _ = socket
        .send(PgWireBackendMessage::ErrorResponse(info.into()))
        .await;
    let _ = socket.close().await;
    Ok(())
}
