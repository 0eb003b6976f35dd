//! A direct reader for the most common date of all: syslog's `Nov 28 10:17:37` at the start
//! of a line, as the default line-start template
//! `{^LN-BEG}(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?` finds it.
//!
//! The reader answers only where the template's regex, tried the way Python's `re` tries it,
//! succeeds on its very first path, so that the answer cannot depend on backtracking: a
//! month name, one space, a two-character day (`28`, `08`, ` 8`) or a one-digit day followed
//! by a space, one space, `HH:MM:SS` with two digits each, and then the end of the line or an
//! ASCII character that is neither a word character nor `.` (nor a space followed by `2`,
//! which could start the optional year). On anything else it says nothing and the regex
//! runs, so every other shape keeps the regex's answer exactly. The test at the end compares
//! the two on every shape near the accepted ones.

use crate::matcher::Captures;

/// The template's regex as [`super::template::DateTemplate`] builds it; the reader is used
/// only for a template with exactly this regex and these groups.
pub const REGEX: &str = r"(?iu)^(?:\W{0,2})?((?:(?P<a>mon|tue|wed|thu|fri|sat|sun) )?(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec) (?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])  ?(?P<H>[0-2]?\d):(?P<M>[0-5]?\d):(?P<S>[0-5]?\d|6[0-1])(?:\.(?P<f>[0-9]{1,6}))?(?: (?P<Y>20[012]\d))?)(?=\b|\W|$)";

/// Group names by index in [`REGEX`].
const GROUPS: [Option<&str>; 10] = [
    None,
    None,
    Some("a"),
    Some("b"),
    Some("d"),
    Some("H"),
    Some("M"),
    Some("S"),
    Some("f"),
    Some("Y"),
];

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// The reader for one template (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct SyslogStart;

impl SyslogStart {
    /// The reader, if `regex` (with group names `names`) is the syslog line-start template.
    pub fn for_template(regex: &str, names: &[Option<String>]) -> Option<SyslogStart> {
        let same_groups =
            names.len() == GROUPS.len() && names.iter().zip(GROUPS).all(|(n, g)| n.as_deref() == g);
        (regex == REGEX && same_groups).then_some(SyslogStart)
    }

    /// The regex's captures on `line` searched whole, or `None` when the reader cannot tell
    /// (the regex decides then).
    pub fn read(self, line: &str) -> Option<Captures> {
        let b = line.as_bytes();
        let head = b.get(..3)?;
        if !MONTHS.iter().any(|m| head.eq_ignore_ascii_case(&m[..])) || b.get(3) != Some(&b' ') {
            return None;
        }
        let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
        let at = |i: usize| b.get(i).copied();
        // The day, as the alternation `[1-2]\d|[0 ]?[1-9]|3[0-1]` followed by a space takes it.
        let day_end = match (at(4)?, at(5)?) {
            (b'1'..=b'2', c) if c.is_ascii_digit() => 6,
            (b'0' | b' ', b'1'..=b'9') => 6,
            (b'3', b'0' | b'1') => 6,
            (b'1'..=b'9', b' ') => 5,
            _ => return None,
        };
        let h = day_end + 1;
        if at(day_end) != Some(b' ')
            || !matches!(at(h), Some(b'0'..=b'2'))
            || !digit(h + 1)
            || at(h + 2) != Some(b':')
            || !matches!(at(h + 3), Some(b'0'..=b'5'))
            || !digit(h + 4)
            || at(h + 5) != Some(b':')
            || !matches!(at(h + 6), Some(b'0'..=b'5'))
            || !digit(h + 7)
        {
            return None;
        }
        let end = h + 8;
        match at(end) {
            None => {}
            Some(b' ') if at(end + 1) == Some(b'2') => return None,
            Some(c) if c.is_ascii() && c != b'.' && c != b'_' && !c.is_ascii_alphanumeric() => {}
            Some(_) => return None,
        }
        Some(Captures::syslog(end, day_end, h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::DateTemplate;
    use crate::matcher::Matcher;

    fn template() -> DateTemplate {
        DateTemplate::from_spec(r"{^LN-BEG}(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?").unwrap()
    }

    fn spans(c: &Captures) -> Vec<Option<(usize, usize)>> {
        (0..c.len()).map(|i| c.get(i)).collect()
    }

    /// Compare the reader with the regex on `line`; returns whether the reader answered.
    fn agree(t: &DateTemplate, reader: SyslogStart, line: &str) -> bool {
        let Some(fast) = reader.read(line) else {
            return false;
        };
        let slow = t.matcher().search_at(line, 0, line.len());
        assert_eq!(
            Some(spans(&fast)),
            slow.as_ref().map(spans),
            "reader and regex differ on {line:?}"
        );
        true
    }

    #[test]
    fn the_default_template_gets_the_reader() {
        let t = template();
        assert_eq!(t.regex, REGEX);
        assert!(SyslogStart::for_template(&t.regex, t.matcher().group_names()).is_some());
        // The unanchored copy and other templates do not.
        let other = DateTemplate::from_spec(r"(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?").unwrap();
        assert!(SyslogStart::for_template(&other.regex, other.matcher().group_names()).is_none());
    }

    #[test]
    fn reader_agrees_with_the_regex_on_every_nearby_shape() {
        let t = template();
        let reader = SyslogStart::for_template(&t.regex, t.matcher().group_names()).unwrap();
        let heads = [
            "Nov", "nov", "NOV", "jAn", "Dec", "Sep", "Mon", "Nox", "No", "Jun",
        ];
        let days = [
            "28", "08", " 8", "8", "00", "0", "30", "31", "32", "39", "3", "10", "19", "20", "29",
            "1", "9", "  8", "4 ", "x8",
        ];
        let gaps = [" ", "  ", "", "\t"];
        let times = [
            "10:17:37",
            "00:00:00",
            "23:59:59",
            "29:59:59",
            "30:00:00",
            "9:17:37",
            "10:7:37",
            "10:17:7",
            "10:60:00",
            "10:17:60",
            "10:17:61",
            "10:17:62",
            "10:17:3",
            "1:2:3",
            "10-17-37",
            "10:17:37.5",
        ];
        let tails = [
            "",
            " ",
            " host sshd[1]: x",
            " 2024 host",
            " 2030",
            " 2x",
            " 20",
            ".123 x",
            ".",
            "x",
            "_",
            "0",
            "7",
            ":",
            ",",
            "é",
            "\n",
            "\t",
            " \u{e9}",
            "  2024",
            "Z",
        ];
        let (mut answered, mut total) = (0, 0);
        for head in heads {
            for day in days {
                for gap in gaps {
                    for time in times {
                        for tail in tails {
                            let line = format!("{head} {day}{gap}{time}{tail}");
                            total += 1;
                            answered += usize::from(agree(&t, reader, &line));
                        }
                    }
                }
            }
        }
        // The reader answers the common shapes; the regex keeps the rest.
        assert!(answered > total / 100, "{answered} of {total}");
        assert!(agree(
            &t,
            reader,
            "Nov 28 10:17:37 host sshd[1]: Failed password"
        ));
        assert!(agree(&t, reader, "Nov  8 10:17:37"));
        assert!(!agree(&t, reader, "Nov 28 10:17:37 2024 host"));
    }

    #[test]
    fn reader_agrees_on_mutated_lines() {
        let t = template();
        let reader = SyslogStart::for_template(&t.regex, t.matcher().group_names()).unwrap();
        let base = b"Nov 28 10:17:37 host sshd[1234]: Failed password".to_vec();
        let alphabet = b" 0123456789:._-aAnNvVxZ\t2";
        // A fixed-seed xorshift: the same cases every run.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut answered = 0;
        for _ in 0..200_000 {
            let mut line = base.clone();
            for _ in 0..1 + next() % 3 {
                let i = (next() % 20) as usize;
                let c = alphabet[(next() % alphabet.len() as u64) as usize];
                match next() % 3 {
                    0 => line[i] = c,
                    1 => line.insert(i, c),
                    _ => {
                        line.remove(i);
                    }
                }
            }
            let line = String::from_utf8(line).unwrap();
            answered += usize::from(agree(&t, reader, &line));
        }
        assert!(answered > 10_000, "{answered}");
    }
}
