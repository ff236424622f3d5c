//! The byte stream under pgwire's codec: plain TCP or TLS, with frontend message lengths checked
//! as the bytes arrive, so a client cannot make the server buffer a huge message before the
//! codec sees it (pgwire only limits pre-authentication messages), and each message's layout
//! checked before the codec gets its last byte ([`super::frame_layout`]).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::frame_layout;

pub enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

macro_rules! delegate {
    ($self:ident, $method:ident($($arg:expr),*)) => {
        match $self.get_mut() {
            Transport::Plain(io) => Pin::new(io).$method($($arg),*),
            Transport::Tls(io) => Pin::new(io.as_mut()).$method($($arg),*),
        }
    };
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, poll_read(cx, buf))
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, poll_shutdown(cx))
    }
}

/// Why the frame check stopped a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameViolation {
    /// A length field below 4.
    InvalidLength,
    /// The startup packet is longer than allowed.
    StartupTooLarge(usize),
    /// A message is longer than allowed.
    MessageTooLarge(usize),
    /// A message's fields do not fit its length (PostgreSQL's wording of why).
    Malformed(&'static str),
}

/// Follows frontend frames through the byte stream. The first frame is the untyped startup
/// packet (or CancelRequest); every later one has a type byte.
#[derive(Debug)]
struct FrameCheck {
    max_startup: usize,
    max_message: usize,
    /// Until authentication succeeds, typed messages are held to the startup limit too: a
    /// client that has not signed in cannot make the server buffer a large message.
    authenticated: bool,
    typed: bool,
    header: [u8; 5],
    header_len: usize,
    body_left: usize,
    /// The body of a frame whose layout is checked, as it arrives.
    body: Option<Vec<u8>>,
    /// The current frame has a type byte (every frame but the startup packet).
    frame_typed: bool,
    /// Where in the bytes being checked the current frame began (`None`: in earlier bytes).
    frame_start: Option<usize>,
}

/// A refused frame, and where it began in the bytes that were being checked.
type Refusal = (FrameViolation, usize);

impl FrameCheck {
    fn new(max_startup: usize, max_message: usize) -> Self {
        Self {
            max_startup,
            max_message,
            authenticated: false,
            typed: false,
            header: [0; 5],
            header_len: 0,
            body_left: 0,
            body: None,
            frame_typed: false,
            frame_start: None,
        }
    }

    fn check(&mut self, data: &[u8]) -> Result<(), Refusal> {
        self.frame_start = None;
        let mut at = 0;
        while at < data.len() {
            if self.body_left > 0 {
                let n = self.body_left.min(data.len() - at);
                self.take_body(&data[at..at + n])
                    .map_err(|v| self.refusal(v))?;
                at += n;
                continue;
            }
            if self.header_len == 0 {
                self.frame_start = Some(at);
            }
            let need = if self.typed { 5 } else { 4 };
            let n = (need - self.header_len).min(data.len() - at);
            self.header[self.header_len..self.header_len + n].copy_from_slice(&data[at..at + n]);
            self.header_len += n;
            at += n;
            if self.header_len == need {
                self.start_body(need).map_err(|v| self.refusal(v))?;
            }
        }
        Ok(())
    }

    fn refusal(&self, violation: FrameViolation) -> Refusal {
        (violation, self.frame_start.unwrap_or(0))
    }

    /// Counts body bytes off, keeping those of a checked frame; checks it once whole.
    fn take_body(&mut self, bytes: &[u8]) -> Result<(), FrameViolation> {
        self.body_left -= bytes.len();
        if let Some(body) = &mut self.body {
            body.extend_from_slice(bytes);
        }
        match self.body_left {
            0 => self.check_layout(),
            _ => Ok(()),
        }
    }

    fn check_layout(&mut self) -> Result<(), FrameViolation> {
        let Some(body) = self.body.take() else {
            return Ok(());
        };
        // The tag stays in `header` until the next frame's header is read.
        let checked = match self.frame_typed {
            true => frame_layout::check_typed(self.header[0], &body),
            false => frame_layout::check_startup(&body),
        };
        checked.map_err(FrameViolation::Malformed)
    }

    fn limit(&self) -> usize {
        match self.authenticated {
            true => self.max_message,
            false => self.max_startup,
        }
    }

    fn start_body(&mut self, header_len: usize) -> Result<(), FrameViolation> {
        let field: [u8; 4] = self.header[header_len - 4..header_len]
            .try_into()
            .expect("4 bytes");
        let len = u32::from_be_bytes(field) as usize;
        if len < 4 {
            return Err(FrameViolation::InvalidLength);
        }
        if self.typed && len > self.limit() {
            return Err(FrameViolation::MessageTooLarge(self.limit()));
        }
        if !self.typed && len > self.max_startup {
            return Err(FrameViolation::StartupTooLarge(self.max_startup));
        }
        self.body_left = len - 4;
        self.header_len = 0;
        self.frame_typed = self.typed;
        self.typed = true;
        let checked = !self.frame_typed || frame_layout::is_checked(self.header[0]);
        // Bounded by the length limits above; reserved as the bytes come, not on trust.
        self.body = checked.then(|| Vec::with_capacity(self.body_left.min(4096)));
        match self.body_left {
            0 => self.check_layout(),
            _ => Ok(()),
        }
    }
}

/// A transport whose reads pass through a [`FrameCheck`].
pub struct CheckedTransport {
    inner: Transport,
    /// Bytes read during TLS negotiation that belong to the first frame.
    prefix: Vec<u8>,
    frames: FrameCheck,
    violation: Option<FrameViolation>,
}

impl CheckedTransport {
    pub fn new(inner: Transport, prefix: Vec<u8>, max_startup: usize, max_message: usize) -> Self {
        Self {
            inner,
            prefix,
            frames: FrameCheck::new(max_startup, max_message),
            violation: None,
        }
    }

    pub fn violation(&self) -> Option<FrameViolation> {
        self.violation
    }

    /// Lifts the pre-authentication size limit.
    pub fn authenticated(&mut self) {
        self.frames.authenticated = true;
    }
}

impl AsyncRead for CheckedTransport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.violation.is_some() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "frame limit",
            )));
        }
        let before = buf.filled().len();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.drain(..n);
        } else {
            std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        }
        if let Err((violation, frame_start)) = this.frames.check(&buf.filled()[before..]) {
            this.violation = Some(violation);
            // Hide the refused frame's bytes from the codec: it must not act on it. Whole
            // frames before it are answered first, as PostgreSQL would; the next read fails.
            buf.set_filled(before + frame_start);
            if frame_start == 0 {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "frame refused",
                )));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for CheckedTransport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_anywhere_are_measured() {
        let mut c = FrameCheck::new(100, 1000);
        let mut bytes = vec![0, 0, 0, 8, 1, 2, 3, 4];
        bytes.extend_from_slice(&[b'Q', 0, 0, 0, 6, b'x', 0]);
        for byte in &bytes {
            c.check(std::slice::from_ref(byte)).unwrap();
        }
        assert_eq!((c.typed, c.body_left, c.header_len), (true, 0, 0));
        c.check(&[b'Q', 0, 0, 0, 6, b'x', 0, b'S', 0, 0, 0, 4])
            .unwrap();
        assert_eq!((c.body_left, c.header_len), (0, 0));
    }

    /// The smallest startup packet: protocol 3.0 and the terminator.
    const STARTUP: &[u8] = &[0, 0, 0, 9, 0, 3, 0, 0, 0];

    fn refused(c: &mut FrameCheck, bytes: &[u8]) -> Result<(), FrameViolation> {
        c.check(bytes).map_err(|(violation, _)| violation)
    }

    #[test]
    fn oversized_and_invalid_lengths_are_refused() {
        let too_large = FrameViolation::MessageTooLarge;
        let mut c = FrameCheck::new(100, 1000);
        assert_eq!(
            refused(&mut c, &[0, 0, 1, 0]),
            Err(FrameViolation::StartupTooLarge(100))
        );
        // Before authentication the startup limit holds for every message.
        let mut c = FrameCheck::new(100, 1000);
        c.check(STARTUP).unwrap();
        assert_eq!(refused(&mut c, &[b'p', 0, 0, 0, 200]), Err(too_large(100)));
        // After it, the message limit.
        let mut c = FrameCheck::new(100, 1000);
        c.check(STARTUP).unwrap();
        c.authenticated = true;
        c.check(&[b'Q', 0, 0, 0, 200]).unwrap();
        let mut c = FrameCheck::new(100, 1000);
        c.check(STARTUP).unwrap();
        c.authenticated = true;
        assert_eq!(refused(&mut c, &[b'Q', 0, 0, 4, 0]), Err(too_large(1000)));
        let mut c = FrameCheck::new(100, 1000);
        assert_eq!(
            refused(&mut c, &[0, 0, 0, 2]),
            Err(FrameViolation::InvalidLength)
        );
    }

    #[test]
    fn a_malformed_frame_is_refused_where_it_begins() {
        let mut c = FrameCheck::new(100, 1000);
        c.check(STARTUP).unwrap();
        // A whole Sync, then a Bind whose parameter runs past its frame.
        let mut bytes = vec![b'S', 0, 0, 0, 4, b'B', 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 1];
        bytes.extend_from_slice(&[0x6f, 0x72, 0x64, 0x65, 0, 0]);
        let (violation, start) = c.check(&bytes).unwrap_err();
        assert!(
            matches!(violation, FrameViolation::Malformed(_)),
            "{violation:?}"
        );
        assert_eq!(start, 5, "the Sync before it stays readable");
        // A startup packet without its terminator.
        let mut c = FrameCheck::new(100, 1000);
        assert!(c.check(&[0, 0, 0, 8, 0, 3, 0, 0]).is_err());
    }
}
