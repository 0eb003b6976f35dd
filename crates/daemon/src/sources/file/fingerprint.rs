//! Recognising a file by its first line.
//!
//! `(dev, inode)` tells rename rotation apart, but not copytruncate (same inode, new content) nor
//! a new file that reuses a saved inode number. The first line does: log lines carry timestamps,
//! so two generations of a log almost never start with the same bytes.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// At most this many bytes of the first line take part in the fingerprint.
pub const FINGERPRINT_MAX: usize = 256;

/// A hash of the start of a file: its bytes up to and including the first `\n`, at most
/// [`FINGERPRINT_MAX`] of them. While the first line is still incomplete it covers what exists;
/// a file "matches" a fingerprint when its first `len` bytes hash to `hash`. The hash (64-bit
/// FNV-1a) is stable across builds, so fingerprints can be saved and compared after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// How many leading bytes are hashed.
    pub len: u32,
    /// FNV-1a of those bytes.
    pub hash: u64,
}

impl Fingerprint {
    /// The fingerprint of `head`: the first bytes of a file up to and including its first `\n`.
    pub fn of(head: &[u8]) -> Fingerprint {
        Fingerprint {
            len: head.len() as u32,
            hash: fnv1a(head),
        }
    }

    /// Whether the first `len` bytes of `file` hash to this fingerprint.
    pub fn matches(&self, file: &File) -> io::Result<bool> {
        let len = (self.len as usize).min(FINGERPRINT_MAX);
        let mut buf = [0u8; FINGERPRINT_MAX];
        let n = read_at_most(file, &mut buf[..len], 0)?;
        Ok(n == len && fnv1a(&buf[..n]) == self.hash)
    }
}

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The identifying start of `file`: bytes up to and including the first `\n`, at most
/// [`FINGERPRINT_MAX`].
pub fn read_head(file: &File) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; FINGERPRINT_MAX];
    let n = read_at_most(file, &mut buf, 0)?;
    let end = memchr::memchr(b'\n', &buf[..n]).map_or(n, |i| i + 1);
    buf.truncate(end);
    Ok(buf)
}

/// Whether `head` can no longer grow: it holds a whole first line or the maximum length.
pub fn head_is_complete(head: &[u8]) -> bool {
    head.len() >= FINGERPRINT_MAX || head.last() == Some(&b'\n')
}

/// Read into `buf` from `offset` until it is full or the file ends; returns the bytes read.
pub fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[test]
    fn head_stops_after_the_first_newline() {
        let f = file_with(b"first line\nsecond\n");
        assert_eq!(read_head(&f).unwrap(), b"first line\n");
    }

    #[test]
    fn head_of_an_incomplete_first_line_is_what_exists() {
        let f = file_with(b"partial");
        let head = read_head(&f).unwrap();
        assert_eq!(head, b"partial");
        assert!(!head_is_complete(&head));
    }

    #[test]
    fn head_is_capped() {
        let f = file_with(&[b'x'; 1000]);
        let head = read_head(&f).unwrap();
        assert_eq!(head.len(), FINGERPRINT_MAX);
        assert!(head_is_complete(&head));
    }

    #[test]
    fn fingerprint_of_a_prefix_matches_the_grown_file() {
        let fp = Fingerprint::of(b"2024-01-01 sshd");
        assert!(fp
            .matches(&file_with(b"2024-01-01 sshd[1]: Failed\n"))
            .unwrap());
        assert!(!fp
            .matches(&file_with(b"2024-01-02 sshd[1]: Failed\n"))
            .unwrap());
        assert!(!fp.matches(&file_with(b"2024-01-01")).unwrap());
    }

    #[test]
    fn hash_is_stable() {
        // Saved fingerprints must keep matching after an upgrade.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
