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
        }
    }

    /// The next line without its line end (`\r` and `\n` stripped from the end, as
    /// Fail2Ban's `rstrip('\r\n')`) and its 1-based number, or `None` at the end.
    pub fn next_numbered(&mut self) -> std::io::Result<Option<(usize, Cow<'_, str>)>> {
        match &mut self.input {
            LogInput::Lines(lines) => {
                let Some(l) = lines.next() else {
                    return Ok(None);
                };
                self.number += 1;
                let end = l.trim_end_matches(['\r', '\n']).len();
                let mut l = l;
                l.truncate(end);
                Ok(Some((self.number, Cow::Owned(l))))
            }
            LogInput::Reader(reader) => {
                // The line returned last time is given back to the reader only now: it was
                // lent straight from the reader's buffer.
                reader.consume(std::mem::take(&mut self.lent));
                let found = memchr::memchr(b'\n', reader.fill_buf()?);
                let line: &[u8] = if let Some(i) = found {
                    self.lent = i + 1;
                    &reader.buffer()[..=i]
                } else {
                    // The line runs past the buffer (or the input ends): gather it.
                    self.bytes.clear();
                    self.bytes.extend_from_slice(reader.buffer());
                    let n = self.bytes.len();
                    reader.consume(n);
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
                Ok(Some((
                    self.number,
                    match self.encoding {
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
                    },
                )))
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
        while let Some((_, l)) = r.next_numbered().unwrap() {
            got.push(l.into_owned());
        }
        assert_eq!(got, vec!["a", "b", ""]);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let mut r = reader(b"ok \xff\xfe end\n");
        assert_eq!(
            r.next_numbered().unwrap().unwrap().1,
            "ok \u{fffd}\u{fffd} end"
        );
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
            while let Some((n, l)) = r.next_numbered().unwrap() {
                got.push((n, l.into_owned()));
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
        assert_eq!(r.next_numbered().unwrap().unwrap().1, "café");
    }
}
