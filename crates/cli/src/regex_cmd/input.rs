//! The LOG argument: a file read in large buffered chunks, or log text given inline.
//!
//! Lines are read as bytes and decoded one at a time (invalid UTF-8 becomes U+FFFD, as
//! Fail2Ban's `errors='replace'` does). A line that lies whole in the reader's buffer is lent
//! from there; only one that runs past it is gathered in a reused buffer. Reading costs no
//! allocation and no copy per line. Like Fail2Ban, a last line without its newline is not
//! read: the writer may still be writing it.

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read};

/// Where lines come from.
pub enum LogInput {
    /// A file (or any reader).
    Reader(BufReader<Box<dyn Read>>),
    /// Inline text, already split into lines.
    Lines(std::vec::IntoIter<String>),
}

/// How the file's bytes become text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8; invalid sequences become U+FFFD.
    Utf8,
    /// ISO-8859-1: every byte is the code point of the same value.
    Latin1,
}

impl Encoding {
    /// From an `-e` value (`auto` and the locale's usual names mean UTF-8).
    pub fn parse(name: &str) -> anyhow::Result<Encoding> {
        let n = name.trim().to_ascii_lowercase().replace('_', "-");
        match n.as_str() {
            "" | "auto" | "utf-8" | "utf8" | "ascii" | "us-ascii" | "ansi-x3.4-1968" => {
                Ok(Encoding::Utf8)
            }
            "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" | "l1" => Ok(Encoding::Latin1),
            _ => anyhow::bail!(
                "unsupported encoding {name:?} (warden regex reads UTF-8 and ISO-8859-1); \
                 convert the file with iconv first"
            ),
        }
    }

    /// The name shown in the header.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Latin1 => "ISO-8859-1",
        }
    }
}

/// Reads lines one by one into a reused buffer.
pub struct LineReader {
    input: LogInput,
    encoding: Encoding,
    bytes: Vec<u8>,
    /// Length of the line last lent from the reader's buffer, not yet consumed.
    lent: usize,
    /// Physical line number of the last line returned (1-based).
    number: usize,
    /// How many bytes at the start of the reader's unread buffer are known to be ASCII:
    /// checked once for the whole buffer, so that a line inside needs no UTF-8 check of its
    /// own.
    ascii_ahead: usize,
}

/// A line as [`LineReader::next_numbered`] gives it.
pub struct NumberedLine<'a> {
    /// 1-based physical line number.
    pub number: usize,
    pub text: Cow<'a, str>,
    /// The line is all ASCII (`false` says nothing).
    pub ascii: bool,
}

impl LineReader {
    /// Read from `input`.
    pub fn new(input: LogInput, encoding: Encoding) -> Self {
        LineReader {
            input,
            encoding,
            bytes: Vec::with_capacity(1024),
            lent: 0,
            number: 0,
            ascii_ahead: 0,
        }
    }

    /// The next line without its line end (`\r` and `\n` stripped from the end, as
    /// Fail2Ban's `rstrip('\r\n')`) and its 1-based number, or `None` at the end.
    pub fn next_numbered(&mut self) -> std::io::Result<Option<NumberedLine<'_>>> {
        match &mut self.input {
            LogInput::Lines(lines) => {
                let Some(l) = lines.next() else {
                    return Ok(None);
                };
                self.number += 1;
                let end = l.trim_end_matches(['\r', '\n']).len();
                let mut l = l;
                l.truncate(end);
                Ok(Some(NumberedLine {
                    number: self.number,
                    text: Cow::Owned(l),
                    ascii: false,
                }))
            }
            LogInput::Reader(reader) => {
                // The line returned last time is given back to the reader only now: it was
                // lent straight from the reader's buffer.
                let lent = std::mem::take(&mut self.lent);
                reader.consume(lent);
                self.ascii_ahead = self.ascii_ahead.saturating_sub(lent);
                let buf = reader.fill_buf()?;
                if self.ascii_ahead == 0 {
                    self.ascii_ahead = warden_filter::ascii_prefix(buf);
                }
                let found = memchr::memchr(b'\n', buf);
                // A line that ends inside the known-ASCII start needs no check of its own.
                let known_ascii = found.is_some_and(|i| i < self.ascii_ahead);
                let line: &[u8] = if let Some(i) = found {
                    self.lent = i + 1;
                    &reader.buffer()[..=i]
                } else {
                    // The line runs past the buffer (or the input ends): gather it.
                    self.bytes.clear();
                    self.bytes.extend_from_slice(reader.buffer());
                    let n = self.bytes.len();
                    reader.consume(n);
                    self.ascii_ahead = 0;
                    if n > 0 {
                        reader.read_until(b'\n', &mut self.bytes)?;
                    }
                    if self.bytes.last() != Some(&b'\n') {
                        return Ok(None);
                    }
                    &self.bytes
                };
                self.number += 1;
                let mut end = line.len();
                while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
                    end -= 1;
                }
                let bytes = &line[..end];
                let text = match self.encoding {
                    Encoding::Utf8 | Encoding::Latin1 if known_ascii => {
                        debug_assert!(bytes.is_ascii());
                        // SAFETY: every byte is ASCII (checked with the buffer it is in),
                        // and ASCII is valid UTF-8.
                        Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(bytes) })
                    }
                    Encoding::Utf8 => match std::str::from_utf8(bytes) {
                        Ok(s) => Cow::Borrowed(s),
                        Err(_) => String::from_utf8_lossy(bytes),
                    },
                    Encoding::Latin1 => {
                        if bytes.is_ascii() {
                            // Cannot fail: ASCII is UTF-8.
                            Cow::Borrowed(std::str::from_utf8(bytes).unwrap_or_default())
                        } else {
                            Cow::Owned(bytes.iter().map(|&b| b as char).collect())
                        }
                    }
                };
                Ok(Some(NumberedLine {
                    number: self.number,
                    text,
                    ascii: known_ascii,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &'static [u8]) -> LineReader {
        LineReader::new(
            LogInput::Reader(BufReader::new(Box::new(bytes))),
            Encoding::Utf8,
        )
    }

    #[test]
    fn lines_lose_their_ends_and_an_unfinished_last_line_is_left() {
        let mut r = reader(b"a\r\nb\n\nc");
        let mut got = Vec::new();
        while let Some(l) = r.next_numbered().unwrap() {
            got.push(l.text.into_owned());
        }
        assert_eq!(got, vec!["a", "b", ""]);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let mut r = reader(b"ok \xff\xfe end\n");
        assert_eq!(
            r.next_numbered().unwrap().unwrap().text,
            "ok \u{fffd}\u{fffd} end"
        );
    }

    #[test]
    fn lines_known_to_be_ascii_are_and_read_the_same() {
        // ASCII lines around non-ASCII ones (valid and invalid UTF-8), through buffers of
        // many sizes: the text is what a check of each line gives, and a line said to be
        // ASCII is.
        let mut text = Vec::new();
        for i in 0..200 {
            match i % 7 {
                3 => text.extend_from_slice(format!("caf\u{e9} {i}\n").as_bytes()),
                5 => text.extend_from_slice(b"bad \xff byte\r\n"),
                _ => text.extend_from_slice(format!("line {i} plain ascii\n").as_bytes()),
            }
        }
        let want: Vec<String> = text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                String::from_utf8_lossy(l)
                    .trim_end_matches('\r')
                    .to_string()
            })
            .collect();
        for cap in [1, 2, 7, 16, 33, 64, 100, 4096, 1 << 20] {
            let mut r = LineReader::new(
                LogInput::Reader(BufReader::with_capacity(
                    cap,
                    Box::new(text.clone().leak() as &[u8]),
                )),
                Encoding::Utf8,
            );
            let (mut got, mut flagged) = (Vec::new(), 0);
            while let Some(l) = r.next_numbered().unwrap() {
                assert!(
                    !l.ascii || l.text.is_ascii(),
                    "buffer of {cap}: {:?}",
                    l.text
                );
                flagged += usize::from(l.ascii);
                got.push(l.text.into_owned());
            }
            assert_eq!(got, want, "buffer of {cap}");
            // A line that runs past the end of the buffer is gathered and checked alone;
            // with the whole text in the buffer, every ASCII line is known to be one.
            let ascii_lines = want.iter().filter(|l| l.is_ascii()).count();
            if cap == 1 << 20 {
                assert_eq!(flagged, ascii_lines);
            } else if cap >= 64 {
                assert!(flagged > 0, "buffer of {cap}");
            }
        }
    }

    #[test]
    fn lines_longer_than_the_buffer_are_gathered() {
        // A 4-byte buffer: most lines run past it, some fit, one ends exactly at its end.
        let text = b"abc\nlonger line\nxy\n\nabcdefgh\r\nend";
        for cap in [1, 2, 3, 4, 5, 64] {
            let mut r = LineReader::new(
                LogInput::Reader(BufReader::with_capacity(cap, Box::new(&text[..]))),
                Encoding::Utf8,
            );
            let mut got = Vec::new();
            while let Some(l) = r.next_numbered().unwrap() {
                got.push((l.number, l.text.into_owned()));
            }
            let want = ["abc", "longer line", "xy", "", "abcdefgh"];
            let want: Vec<(usize, String)> = want
                .iter()
                .enumerate()
                .map(|(i, l)| (i + 1, l.to_string()))
                .collect();
            assert_eq!(got, want, "buffer of {cap}");
        }
    }

    #[test]
    fn latin1() {
        let mut r = LineReader::new(
            LogInput::Reader(BufReader::new(Box::new(&b"caf\xe9\n"[..]))),
            Encoding::Latin1,
        );
        assert_eq!(r.next_numbered().unwrap().unwrap().text, "café");
    }
}
