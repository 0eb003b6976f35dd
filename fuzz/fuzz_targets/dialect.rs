//! Arbitrary text as a Fail2Ban (Python `re`) regex: tag expansion, translation to both
//! dialects, compilation and a few searches, and the prefilter's required literals (a line a
//! regex matches holds one of them). Every step must return, never panic; a bad
//! pattern is an `Err`.
//!
//! Input: byte 0 picks `usedns` and `multiline`, the rest is the regex (lossy UTF-8).
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_filter::dialect::{translate, Dialect};
use warden_filter::matcher::{compile, Matcher};
use warden_filter::prefilter::required_literals;
use warden_filter::tags::expand_tags;
use warden_filter::{CompiledRegex, UseDns};

/// Lines to search with whatever compiled: realistic ones plus edge cases.
const LINES: &[&str] = &[
    "sshd[123]: Failed password for invalid user admin from 192.0.2.1 port 4711 ssh2\n",
    "Invalid user test from 2001:db8::1 port 22\n",
    "[client 198.51.100.7:1234] AH01630: client denied by server configuration\n",
    "host.example.org: user=<root> rhost=::ffff:203.0.113.9\n",
    "",
    "\n\n",
    "é\u{0}\u{FFFD}<HOST>",
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let usedns = [UseDns::Yes, UseDns::Warn, UseDns::No, UseDns::Raw][usize::from(mode & 3)];
    let multiline = mode & 4 != 0;
    let regex = String::from_utf8_lossy(rest);

    // The raw text and its tag expansion through both translators: they validate the same
    // Python syntax, so they must agree on whether it is valid.
    let expanded = expand_tags(&regex, usedns);
    for pattern in [&*regex, expanded.as_str()] {
        let rust = translate(pattern, Dialect::Rust, multiline);
        let pcre = translate(pattern, Dialect::Pcre2, multiline);
        assert_eq!(
            rust.is_ok(),
            pcre.is_ok(),
            "dialects disagree on {pattern:?}: {rust:?} vs {pcre:?}"
        );
    }

    // Straight to the engines. Whatever matches must hold one of the literals the
    // prefilter requires of the regex (its analysis must be sound).
    let required = required_literals(&expanded, multiline);
    if let Ok(m) = compile(&expanded, multiline) {
        for line in LINES.iter().copied().chain([&*regex]) {
            let span = m.search(line).map(|c| c.span());
            check_captures(line, span);
            if let (Some(_), Some(lits)) = (span, &required) {
                assert!(
                    lits.iter().any(|l| line
                        .as_bytes()
                        .windows(l.len().max(1))
                        .any(|w| w == l.as_slice())),
                    "{expanded:?} matched {line:?} without any of its required literals {lits:?}"
                );
            }
        }
    }

    // The way a filter compiles it (expansion, engine choice, `alt_*` groups).
    if let Ok(c) = CompiledRegex::new(&regex, usedns, multiline) {
        for line in LINES.iter().copied().chain([&*regex]) {
            if let Some(caps) = c.search(line) {
                check_captures(line, Some(caps.span()));
                let _ = c.group_dict(line, &caps);
            }
        }
    }
});

/// A match lies within the text, on character boundaries.
fn check_captures(text: &str, span: Option<(usize, usize)>) {
    if let Some((s, e)) = span {
        assert!(s <= e && e <= text.len(), "span {s}..{e} outside {text:?}");
        assert!(text.is_char_boundary(s) && text.is_char_boundary(e));
    }
}
