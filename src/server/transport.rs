//! The byte stream under pgwire's codec: plain TCP or TLS, with frontend message lengths checked
//! as the bytes arrive, so a client cannot make the server buffer a huge message before the
//! codec sees it (pgwire only limits pre-authentication messages).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

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
}

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
        }
    }

    fn check(&mut self, mut data: &[u8]) -> Result<(), FrameViolation> {
        while !data.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(data.len());
                self.body_left -= n;
                data = &data[n..];
                continue;
            }
            let need = if self.typed { 5 } else { 4 };
            let n = (need - self.header_len).min(data.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&data[..n]);
            self.header_len += n;
            data = &data[n..];
            if self.header_len == need {
                self.start_body(need)?;
            }
        }
        Ok(())
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
        self.typed = true;
        Ok(())
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
        if let Err(violation) = this.frames.check(&buf.filled()[before..]) {
            this.violation = Some(violation);
            // Hide the bytes from the codec: it must not act on a frame that was refused.
            buf.set_filled(before);
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "frame limit",
            )));
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

    #[test]
    fn oversized_and_invalid_lengths_are_refused() {
        let too_large = FrameViolation::MessageTooLarge;
        let mut c = FrameCheck::new(100, 1000);
        assert_eq!(
            c.check(&[0, 0, 1, 0]),
            Err(FrameViolation::StartupTooLarge(100))
        );
        // Before authentication the startup limit holds for every message.
        let mut c = FrameCheck::new(100, 1000);
        c.check(&[0, 0, 0, 4]).unwrap();
        assert_eq!(c.check(&[b'p', 0, 0, 0, 200]), Err(too_large(100)));
        // After it, the message limit.
        let mut c = FrameCheck::new(100, 1000);
        c.check(&[0, 0, 0, 4]).unwrap();
        c.authenticated = true;
        c.check(&[b'Q', 0, 0, 0, 200]).unwrap();
        let mut c = FrameCheck::new(100, 1000);
        c.check(&[0, 0, 0, 4]).unwrap();
        c.authenticated = true;
        assert_eq!(c.check(&[b'Q', 0, 0, 4, 0]), Err(too_large(1000)));
        let mut c = FrameCheck::new(100, 1000);
        assert_eq!(c.check(&[0, 0, 0, 2]), Err(FrameViolation::InvalidLength));
    }
}
