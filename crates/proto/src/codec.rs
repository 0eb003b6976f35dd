//! Length-delimited JSON frames.
//!
//! A frame is a `u32` big-endian byte count followed by a JSON document. Blocking I/O is used
//! because both ends handle one request at a time per connection; the server wraps the stream
//! in its own task.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::{self, Read, Write};

/// Write `value` as one frame.
pub fn write_frame<W: Write, T: Serialize>(w: &mut W, value: &T) -> io::Result<()> {
    let body = serde_json::to_vec(value).map_err(io::Error::other)?;
    let len = u32::try_from(body.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame larger than 4 GiB"))?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(&body)?;
    w.flush()
}

/// Encode `value` as one frame into a byte vector (for async writers).
pub fn encode_frame<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    write_frame(&mut out, value)?;
    Ok(out)
}

/// Decode a frame body (the bytes after the length prefix).
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> io::Result<T> {
    serde_json::from_slice(body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Read one frame. Returns `Ok(None)` on a clean end of stream before a frame starts.
pub fn read_frame<R: Read, T: DeserializeOwned>(r: &mut R) -> io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    decode_body(&body).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Envelope, Request};

    #[test]
    fn frames_round_trip_back_to_back() {
        let mut buf = Vec::new();
        let a = Envelope::new(Request::Ping);
        let b = Envelope::new(Request::Status {
            jail: Some("sshd".into()),
        });
        write_frame(&mut buf, &a).unwrap();
        write_frame(&mut buf, &b).unwrap();
        let mut r = &buf[..];
        let a2: Envelope<Request> = read_frame(&mut r).unwrap().unwrap();
        let b2: Envelope<Request> = read_frame(&mut r).unwrap().unwrap();
        assert_eq!(a2.body, Request::Ping);
        assert_eq!(b2.body, b.body);
        assert!(read_frame::<_, Envelope<Request>>(&mut r)
            .unwrap()
            .is_none());
    }

    #[test]
    fn truncated_frame_is_an_error_not_a_panic() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &Envelope::new(Request::Ping)).unwrap();
        buf.truncate(buf.len() - 2);
        assert!(read_frame::<_, Envelope<Request>>(&mut &buf[..]).is_err());
    }

    #[test]
    fn large_replies_are_not_capped() {
        let ips: Vec<String> = (0..100_000)
            .map(|i| format!("10.{}.{}.1", i / 256 % 256, i % 256))
            .collect();
        let mut buf = Vec::new();
        write_frame(&mut buf, &ips).unwrap();
        let back: Vec<String> = read_frame(&mut &buf[..]).unwrap().unwrap();
        assert_eq!(back.len(), 100_000);
    }
}
