//! The layout of a whole frontend frame, checked before pgwire's codec may decode it.
//!
//! pgwire 0.41's decoders read from the connection's whole read buffer, not from the frame
//! they were given: a Bind whose parameter length runs past its frame panics the connection's
//! task (`split_to` out of bounds; found by `fuzz/`), a Parse or Execute cut short reads the
//! next message's bytes as its own, and a Sync or startup packet with stray bytes leaves them
//! to be read as the next message. PostgreSQL reads each message within its length and closes
//! the connection with 08P01 when the layout is wrong; these checks let lakegate do the same.
//! Types whose decoders stay within the frame (CopyData, the password family, which lakegate
//! parses itself) are not checked here.

const CANCEL_REQUEST: u32 = 80_877_102;
const PROTOCOL_MAJOR_3: u32 = 3;

/// Whether a typed frame's body has the layout its type needs; the reason when not.
pub fn check_typed(tag: u8, body: &[u8]) -> Result<(), &'static str> {
    let mut fields = Fields(body);
    match tag {
        b'Q' | b'f' => fields.cstring()?,
        b'P' => {
            fields.cstring()?;
            fields.cstring()?;
            let types = fields.count()?;
            fields.skip(types * 4)?;
        }
        b'B' => bind(&mut fields)?,
        b'D' | b'C' => {
            fields.skip(1)?;
            fields.cstring()?;
        }
        b'E' => {
            fields.cstring()?;
            fields.skip(4)?;
        }
        b'S' | b'H' | b'X' | b'c' => {}
        _ => return Ok(()),
    }
    fields.end()
}

/// Which typed frames [`check_typed`] looks into (their bodies are kept until whole).
pub fn is_checked(tag: u8) -> bool {
    matches!(
        tag,
        b'Q' | b'f' | b'P' | b'B' | b'D' | b'C' | b'E' | b'S' | b'H' | b'X' | b'c'
    )
}

/// Bind: portal, statement, parameter formats, parameters (length or -1, then the bytes),
/// result formats.
fn bind(fields: &mut Fields) -> Result<(), &'static str> {
    fields.cstring()?;
    fields.cstring()?;
    let formats = fields.count()?;
    fields.skip(formats * 2)?;
    for _ in 0..fields.count()? {
        match fields.int32()? {
            -1 => {}
            length if length >= 0 => fields.skip(length as usize)?,
            _ => return Err("invalid parameter length in Bind message"),
        }
    }
    let result_formats = fields.count()?;
    fields.skip(result_formats * 2)
}

/// The startup packet after its length: a CancelRequest carries a process id and a key; a
/// protocol 3 startup packet, name and value pairs ending with one NUL as its last byte.
/// Other codes are pgwire's to refuse (it reads nothing more of them).
pub fn check_startup(body: &[u8]) -> Result<(), &'static str> {
    let mut fields = Fields(body);
    let code = fields.int32()? as u32;
    if code == CANCEL_REQUEST {
        return match body.len() >= 4 + 4 + 4 {
            true => Ok(()),
            false => Err("invalid length of cancel request packet"),
        };
    }
    if code >> 16 != PROTOCOL_MAJOR_3 {
        return Ok(());
    }
    const NO_TERMINATOR: &str = "invalid startup packet layout: expected terminator as last byte";
    loop {
        match fields.0 {
            [0] => return Ok(()),
            [] | [0, ..] => return Err(NO_TERMINATOR),
            _ => {
                fields.cstring().map_err(|_| NO_TERMINATOR)?;
                fields.cstring().map_err(|_| NO_TERMINATOR)?;
            }
        }
    }
}

/// The unread rest of a body.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn cstring(&mut self) -> Result<(), &'static str> {
        let nul = self
            .0
            .iter()
            .position(|&b| b == 0)
            .ok_or("invalid string in message")?;
        self.0 = &self.0[nul + 1..];
        Ok(())
    }

    fn skip(&mut self, n: usize) -> Result<(), &'static str> {
        self.0 = self.0.get(n..).ok_or("insufficient data left in message")?;
        Ok(())
    }

    fn int32(&mut self) -> Result<i32, &'static str> {
        let bytes = self.0.get(..4).ok_or("insufficient data left in message")?;
        let value = i32::from_be_bytes(bytes.try_into().expect("4 bytes"));
        self.0 = &self.0[4..];
        Ok(value)
    }

    /// An Int16 count, which may not be negative.
    fn count(&mut self) -> Result<usize, &'static str> {
        let bytes = self.0.get(..2).ok_or("insufficient data left in message")?;
        let count = i16::from_be_bytes(bytes.try_into().expect("2 bytes"));
        self.0 = &self.0[2..];
        usize::try_from(count).map_err(|_| "invalid count in message")
    }

    fn end(&self) -> Result<(), &'static str> {
        match self.0.is_empty() {
            true => Ok(()),
            false => Err("invalid message format"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind_body(parameter_length: i32, parameter: &[u8]) -> Vec<u8> {
        let mut body = b"\0s1\0".to_vec();
        body.extend_from_slice(&[0, 1, 0, 1, 0, 1]);
        body.extend_from_slice(&parameter_length.to_be_bytes());
        body.extend_from_slice(parameter);
        body.extend_from_slice(&[0, 0]);
        body
    }

    #[test]
    fn well_formed_messages_pass() {
        assert_eq!(check_typed(b'Q', b"SELECT 1\0"), Ok(()));
        assert_eq!(check_typed(b'B', &bind_body(2, b"42")), Ok(()));
        assert_eq!(check_typed(b'B', &bind_body(-1, b"")), Ok(()));
        assert_eq!(check_typed(b'P', b"s\0SELECT $1\0\0\x01\0\0\0\x17"), Ok(()));
        assert_eq!(check_typed(b'E', b"\0\0\0\0\0"), Ok(()));
        assert_eq!(check_typed(b'D', b"Ss1\0"), Ok(()));
        assert_eq!(check_typed(b'S', b""), Ok(()));
        assert_eq!(check_typed(b'd', b"any bytes"), Ok(()));
        assert_eq!(check_startup(b"\0\x03\0\0user\0a\0\0"), Ok(()));
        assert_eq!(
            check_startup(b"\x04\xd2\x16\x2e\0\0\0\x01\0\0\0\x02"),
            Ok(())
        );
    }

    #[test]
    fn the_layouts_pgwire_would_read_past_are_refused() {
        // What the fuzzer found: a parameter longer than the frame.
        assert!(check_typed(b'B', &bind_body(1_869_767_781, b"42")).is_err());
        assert!(check_typed(b'B', &bind_body(-2, b"")).is_err());
        assert!(check_typed(b'Q', b"SELECT 1").is_err(), "no terminator");
        assert!(check_typed(b'Q', b"SELECT 1\0x").is_err(), "bytes after it");
        assert!(
            check_typed(b'P', b"s\0SELECT 1\0").is_err(),
            "no type count"
        );
        assert!(
            check_typed(b'P', b"s\0SELECT 1\0\xff\xff").is_err(),
            "negative count"
        );
        assert!(check_typed(b'E', b"\0\0\0").is_err());
        assert!(check_typed(b'D', b"").is_err());
        assert!(check_typed(b'S', b"\0").is_err(), "stray bytes in Sync");
        assert!(
            check_startup(b"\0\x03\0\0user\0a\0").is_err(),
            "no terminator"
        );
        assert!(
            check_startup(b"\0\x03\0\0user\0a\0\0\0").is_err(),
            "bytes after it"
        );
        assert!(check_startup(b"\0\x03\0\0user").is_err());
        assert!(
            check_startup(b"\x04\xd2\x16\x2e\0\0\0\x01").is_err(),
            "short cancel"
        );
    }
}
