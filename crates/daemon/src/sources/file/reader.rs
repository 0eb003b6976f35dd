//! Cutting one open file into complete lines.
//!
//! A [`Reader`] owns a file descriptor and two offsets: `committed`, just after the last complete
//! line handed out, and `read_pos`, how far bytes have been read (the difference is a partial line
//! kept in memory until its `\n` arrives). It reads with `pread`, so nothing depends on the
//! descriptor's own offset, and rewinding after a truncation is just resetting the two numbers.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

use super::fingerprint::{read_at_most, read_head};

/// Lines longer than this are cut: the first `MAX_LINE` bytes are handed out followed by
/// [`TRUNCATION_MARKER`], the rest of the line is skipped. This bounds the memory one followed
/// file can take however long a line a program writes.
pub const MAX_LINE: usize = 16 << 20;

/// Appended to a line cut at [`MAX_LINE`] bytes.
pub const TRUNCATION_MARKER: &str = " [warden: line truncated at 16 MiB]";

/// Size of one `pread`.
pub const CHUNK: usize = 64 << 10;

/// One `read_lines` call stops reading after this many bytes once it has at least one line, so a
/// large backlog is handed out in pieces rather than all at once.
pub const READ_BUDGET: usize = 2 << 20;

/// ... or once it has this many lines (short lines cost more per byte, as `String`s).
pub const BATCH_LINES: usize = 16384;

/// How many bytes before `committed` a reader remembers (see [`Reader::recent`]).
pub const RECENT: usize = 64;

/// Device and inode: which file a descriptor points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ident {
    pub dev: u64,
    pub ino: u64,
}

impl Ident {
    pub fn of(meta: &Metadata) -> Ident {
        Ident {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// How much one `read_lines` call has read so far, across all the files it reads.
pub struct Budget {
    lines_at_start: usize,
    bytes: usize,
}

impl Budget {
    pub fn new(out: &impl LineSink) -> Budget {
        Budget {
            lines_at_start: out.count(),
            bytes: 0,
        }
    }

    /// Enough has been read for this call (and at least one line was produced).
    pub fn exhausted(&self, out: &impl LineSink) -> bool {
        let lines = out.count() - self.lines_at_start;
        lines > 0 && (self.bytes >= READ_BUDGET || lines >= BATCH_LINES)
    }
}

/// Where a reader puts the lines it reads.
pub trait LineSink {
    /// One line's bytes (without its `\n`); `truncated`: cut at [`MAX_LINE`].
    fn push_bytes(&mut self, bytes: &[u8], truncated: bool);
    /// [`Self::push_bytes`] of a line known to be all ASCII (not truncated).
    fn push_ascii(&mut self, bytes: &[u8]) {
        self.push_bytes(bytes, false);
    }
    /// How many lines it holds.
    fn count(&self) -> usize;
}

impl LineSink for Vec<String> {
    fn push_bytes(&mut self, bytes: &[u8], truncated: bool) {
        self.push(line_from(bytes, truncated));
    }
    fn count(&self) -> usize {
        self.len()
    }
}

/// Lines held in one string, one after another: a batch of lines costs two allocations
/// instead of one per line, and whoever drops it (another thread) frees two blocks, not
/// thousands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lines {
    text: String,
    /// Where each line ends in `text`.
    ends: Vec<usize>,
}

impl Lines {
    /// How many lines.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// No line at all.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Line `i`.
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    /// The lines in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Add a line.
    pub fn push(&mut self, line: &str) {
        self.text.push_str(line);
        self.ends.push(self.text.len());
    }
}

impl LineSink for Lines {
    fn push_bytes(&mut self, bytes: &[u8], truncated: bool) {
        push_line(&mut self.text, bytes, truncated);
        self.ends.push(self.text.len());
    }
    fn push_ascii(&mut self, bytes: &[u8]) {
        debug_assert!(bytes.is_ascii());
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        // SAFETY: every byte is ASCII (checked with the read it came in), and ASCII is UTF-8.
        self.text
            .push_str(unsafe { std::str::from_utf8_unchecked(bytes) });
        self.ends.push(self.text.len());
    }
    fn count(&self) -> usize {
        self.len()
    }
}

impl warden_filter::filter::LineSource for Lines {
    fn count(&self) -> usize {
        self.len()
    }
    fn line(&self, i: usize) -> &str {
        self.get(i)
    }
}

/// Whether [`Reader::read`] stopped at the end of the file or because of the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Bytes read.
    pub bytes: usize,
    /// The end of the file was reached.
    pub eof: bool,
}

/// Complete lines from one open file.
pub struct Reader {
    pub file: File,
    pub ident: Ident,
    /// The identifying start of the file (see `fingerprint`); may extend past `read_pos`.
    pub head: Vec<u8>,
    /// Up to [`RECENT`] bytes just before `committed` (the end of the last line handed out): a
    /// rotated copy of this file must hold the same bytes at the same place.
    recent: Vec<u8>,
    committed: u64,
    read_pos: u64,
    /// Bytes of the line being read (at most [`MAX_LINE`]).
    pending: Vec<u8>,
    /// The pending line reached [`MAX_LINE`]; the rest of it is being skipped.
    overlong: bool,
}

impl Reader {
    /// A reader of `file` whose next line starts at `offset`.
    pub fn new(file: File, ident: Ident, offset: u64) -> Reader {
        Reader {
            file,
            ident,
            head: Vec::new(),
            recent: Vec::new(),
            committed: offset,
            read_pos: offset,
            pending: Vec::new(),
            overlong: false,
        }
    }

    /// A reader at `offset`, with its head and the bytes before `offset` read.
    pub fn with_head(file: File, ident: Ident, offset: u64) -> io::Result<Reader> {
        let head = read_head(&file)?;
        let from = offset.saturating_sub(RECENT as u64);
        let mut recent = vec![0u8; (offset - from) as usize];
        let n = read_at_most(&file, &mut recent, from)?;
        recent.truncate(n);
        let mut reader = Reader::new(file, ident, offset);
        reader.head = head;
        if n as u64 == offset - from {
            reader.recent = recent;
        }
        Ok(reader)
    }

    /// Bytes just before [`Reader::committed`] (at most [`RECENT`], possibly none).
    pub fn recent(&self) -> &[u8] {
        &self.recent
    }

    /// Whether the file still holds [`Reader::recent`] just before [`Reader::committed`].
    pub fn still_has_recent(&self) -> io::Result<bool> {
        let mut buf = [0u8; RECENT];
        let len = self.recent.len();
        let n = read_at_most(
            &self.file,
            &mut buf[..len],
            self.committed.saturating_sub(len as u64),
        )?;
        Ok(buf[..n] == self.recent[..])
    }

    /// Offset just after the last complete line handed out.
    pub fn committed(&self) -> u64 {
        self.committed
    }

    /// Offset up to which bytes have been read.
    pub fn read_pos(&self) -> u64 {
        self.read_pos
    }

    /// Forget the partial line and continue from `offset`.
    pub fn rewind(&mut self, offset: u64) {
        self.committed = offset;
        self.read_pos = offset;
        self.pending = Vec::new();
        self.overlong = false;
        self.recent.clear();
    }

    /// Read complete lines into `out` until the end of the file or until `budget` is spent.
    pub fn read(
        &mut self,
        buf: &mut [u8],
        out: &mut impl LineSink,
        budget: &mut Budget,
    ) -> io::Result<Outcome> {
        let mut bytes = 0;
        loop {
            if budget.exhausted(out) {
                return Ok(Outcome { bytes, eof: false });
            }
            let n = match self.file.read_at(buf, self.read_pos) {
                Ok(0) => return Ok(Outcome { bytes, eof: true }),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.consume(&buf[..n], out);
            bytes += n;
            budget.bytes += n;
        }
    }

    /// Hand out the partial line as if it were complete: used when nothing can complete it any
    /// more (a rotated copy, a rotated file no longer written).
    pub fn flush_partial(&mut self, out: &mut impl LineSink) {
        if self.read_pos > self.committed {
            if !self.pending.is_empty() || self.overlong {
                self.emit_pending(out);
            }
            self.committed = self.read_pos;
            self.recent.clear();
        }
    }

    fn consume(&mut self, chunk: &[u8], out: &mut impl LineSink) {
        let mut start = 0;
        // One ASCII check of the read instead of a UTF-8 check of each line in it.
        let ascii = warden_filter::ascii_prefix(chunk);
        for nl in memchr::memchr_iter(b'\n', chunk) {
            if self.pending.is_empty() && !self.overlong {
                // The common case: the whole line is inside this chunk.
                let line = skip_nul(&chunk[start..nl]);
                if nl <= ascii {
                    out.push_ascii(line);
                } else {
                    out.push_bytes(line, false);
                }
            } else {
                self.append(&chunk[start..nl]);
                self.emit_pending(out);
            }
            start = nl + 1;
            self.committed = self.read_pos + start as u64;
        }
        if start > 0 {
            let upto = &chunk[..start];
            self.recent.clear();
            self.recent
                .extend_from_slice(&upto[upto.len().saturating_sub(RECENT)..]);
        }
        self.append(&chunk[start..]);
        self.read_pos += chunk.len() as u64;
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.overlong {
            return;
        }
        let bytes = if self.pending.is_empty() {
            skip_nul(bytes)
        } else {
            bytes
        };
        let room = MAX_LINE - self.pending.len();
        if bytes.len() > room {
            self.pending.extend_from_slice(&bytes[..room]);
            self.overlong = true;
        } else {
            self.pending.extend_from_slice(bytes);
        }
    }

    fn emit_pending(&mut self, out: &mut impl LineSink) {
        out.push_bytes(&self.pending, self.overlong);
        if self.pending.capacity() > CHUNK {
            self.pending = Vec::new();
        } else {
            self.pending.clear();
        }
        self.overlong = false;
    }
}

/// `bytes` without leading NULs. A program that keeps writing at its old offset after
/// copytruncate (no `O_APPEND`) leaves a hole of zeros at the start of the truncated file; they
/// are not part of any line.
fn skip_nul(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// A line without its `\n`: a trailing `\r` dropped, invalid UTF-8 replaced.
fn line_from(bytes: &[u8], truncated: bool) -> String {
    let mut line = String::new();
    push_line(&mut line, bytes, truncated);
    line
}

/// Append line `bytes` to `out` as [`line_from`] has it: a trailing `\r` dropped (unless the
/// line was cut at [`MAX_LINE`], which adds [`TRUNCATION_MARKER`]), invalid UTF-8 replaced.
/// Valid text (nearly every line) is checked by `str::from_utf8`, which skips ASCII a word at
/// a time; only invalid text goes through the byte-by-byte replacement.
fn push_line(out: &mut String, bytes: &[u8], truncated: bool) {
    let bytes = if truncated {
        bytes
    } else {
        bytes.strip_suffix(b"\r").unwrap_or(bytes)
    };
    match std::str::from_utf8(bytes) {
        Ok(text) => out.push_str(text),
        Err(_) => out.push_str(&String::from_utf8_lossy(bytes)),
    }
    if truncated {
        out.push_str(TRUNCATION_MARKER);
    }
}

/// Offset just after the last `\n` before `size`, looking back at most one [`CHUNK`]: where
/// reading starts "at the end" so that a line being written while we start is reported whole
/// once completed. If there is no `\n` in that window, `size` (or 0 if the window reaches it).
pub fn last_line_end(file: &File, size: u64) -> io::Result<u64> {
    let from = size.saturating_sub(CHUNK as u64);
    let mut buf = vec![0u8; (size - from) as usize];
    let n = read_at_most(file, &mut buf, from)?;
    Ok(match memchr::memrchr(b'\n', &buf[..n]) {
        Some(i) => from + i as u64 + 1,
        None if from == 0 => 0,
        None => size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn reader_over(bytes: &[u8]) -> Reader {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        Reader::new(f, Ident { dev: 0, ino: 0 }, 0)
    }

    fn read_all(r: &mut Reader) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 7]; // tiny chunks: lines span reads
        let mut budget = Budget::new(&out);
        assert!(r.read(&mut buf, &mut out, &mut budget).unwrap().eof);
        out
    }

    #[test]
    fn lines_in_one_string_read_as_separate_strings_do() {
        let text: &[u8] = b"one\r\n\n\0\0two\xff\xfe\nthr\xc3\xa9e\r\r\n\xe9t\xe9\nlast\r\nno end";
        for chunk in [1, 2, 3, 7, 64] {
            let (mut a, mut b) = (reader_over(text), reader_over(text));
            let mut buf = vec![0u8; chunk];
            let (mut strings, mut lines) = (Vec::<String>::new(), Lines::default());
            let mut budget = Budget::new(&strings);
            assert!(a.read(&mut buf, &mut strings, &mut budget).unwrap().eof);
            let mut budget = Budget::new(&lines);
            assert!(b.read(&mut buf, &mut lines, &mut budget).unwrap().eof);
            a.flush_partial(&mut strings);
            b.flush_partial(&mut lines);
            assert_eq!(lines.iter().collect::<Vec<_>>(), strings, "chunk {chunk}");
            assert_eq!(strings.len(), 7, "{strings:?}");
        }
        // A line cut at MAX_LINE keeps its marker.
        let mut lines = Lines::default();
        lines.push_bytes(b"abc\r", true);
        let mut strings = Vec::new();
        strings.push_bytes(b"abc\r", true);
        assert_eq!(lines.get(0), strings[0]);
    }

    #[test]
    fn lines_spanning_chunks_are_joined() {
        let mut r = reader_over(b"one\ntwo three four\r\n\nfive");
        assert_eq!(read_all(&mut r), ["one", "two three four", ""]);
        assert_eq!(r.committed(), 21);
        assert_eq!(r.read_pos(), 25);
        assert_eq!(r.recent(), b"four\r\n\n"); // bytes of the chunk up to the last line end
        assert_eq!(read_all(&mut reader_over(b"0123456789\n")).len(), 1);
        let mut out = Vec::new();
        r.flush_partial(&mut out);
        assert_eq!(out, ["five"]);
        assert_eq!(r.committed(), 25);
    }

    #[test]
    fn holes_of_zeros_before_a_line_are_skipped() {
        let mut bytes = vec![0u8; 20];
        bytes.extend_from_slice(b"after the hole\n\0inside\0\n");
        let mut r = reader_over(&bytes);
        assert_eq!(read_all(&mut r), ["after the hole", "inside\0"]);
        let mut r = reader_over(&[0u8; 30]);
        assert!(read_all(&mut r).is_empty());
        let mut out = Vec::new();
        r.flush_partial(&mut out);
        assert!(out.is_empty(), "zeros alone are no line");
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let mut r = reader_over(b"a\xffb\n");
        assert_eq!(read_all(&mut r), ["a\u{fffd}b"]);
    }

    #[test]
    fn last_line_end_backs_up_to_a_line_start() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"done\nhalf").unwrap();
        assert_eq!(last_line_end(&f, 9).unwrap(), 5);
        assert_eq!(last_line_end(&f, 4).unwrap(), 0);
        assert_eq!(last_line_end(&f, 0).unwrap(), 0);
    }

    #[test]
    fn budget_stops_only_after_a_line() {
        let out = vec!["x".to_string()];
        let mut b = Budget::new(&out);
        b.bytes = READ_BUDGET;
        assert!(!b.exhausted(&out));
        let more = vec!["x".to_string(), "y".to_string()];
        assert!(b.exhausted(&more));
    }
}
