//! Python `re` → Rust `regex` / PCRE2 syntax.
//!
//! Fail2Ban filters are Python regexes. Most of the syntax is shared, but a handful of
//! constructs mean something else (or nothing) in the Rust engines. Translating them
//! mechanically gives identical answers on every recorded Fail2Ban search (see
//! `fail2ban-semantics.md` §1):
//!
//! - IPv6 `(?<=:):` → `:` (the lookbehind is always true there);
//! - a `[` inside a class is literal in Python, so it is escaped;
//! - `\<` and `\>` are literal `<` `>` in Python (word boundaries in Rust);
//! - `{,n}` → `{0,n}`, and a `{` that is not a quantifier is escaped;
//! - `$` without MULTILINE matches at the end or before a final `\n`; for the `regex` crate
//!   that becomes `(?m:$)` (exact on single-line text, see [`Translated::dollar`]);
//! - `\Z` → `\z`; `(?iu)` loses its `u` (Unicode is on in both engines);
//! - date-template boundaries `(?=^|\b|\W)` / `(?=\b|\W|$)` become `\b{end-half}` forms in
//!   the `regex` crate, which has no look-around.
//!
//! The translator is a small tokenizer, not a full parser: it knows enough about escapes,
//! classes, groups and `{…}` to rewrite them, and records which features need PCRE2.

use std::fmt;

/// Which engine's syntax to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The `regex` crate.
    Rust,
    /// PCRE2 (compiled with UTF and UCP).
    Pcre2,
}

/// Constructs found in the pattern that the `regex` crate cannot run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Features {
    /// `(?=` `(?!` `(?<=` `(?<!` (other than those translated away).
    pub lookaround: bool,
    /// `(?P=name)` or `\1`.
    pub backreference: bool,
    /// `(?(name)yes|no)`.
    pub conditional: bool,
    /// Possessive quantifiers (`a*+`, Python 3.11).
    pub possessive: bool,
}

impl Features {
    /// True when only a backtracking engine (PCRE2) can run the pattern.
    pub fn needs_backtracking(&self) -> bool {
        self.lookaround || self.backreference || self.conditional || self.possessive
    }
}

/// The result of a translation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    /// The pattern in the target dialect.
    pub pattern: String,
    /// Features found (for choosing the engine).
    pub features: Features,
    /// The pattern uses a non-MULTILINE `$` that was rewritten to `(?m:$)` (Rust only): exact
    /// unless the text has a `\n` before its last character.
    pub dollar: bool,
}

/// A Python-syntax error found while translating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialectError {
    /// What is wrong.
    pub message: String,
    /// Byte offset in the pattern.
    pub offset: usize,
}

impl fmt::Display for DialectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at position {}", self.message, self.offset)
    }
}

impl std::error::Error for DialectError {}

const WORD_BEGIN: &str = r"(?=^|\b|\W)";
const WORD_END: &str = r"(?=\b|\W|$)";
const IPV6_LOOKBEHIND: &str = "(?<=:):";
/// Loose mode's stand-in for a back-reference: any text.
const ANYTHING: &str = "(?s:.*)";

/// Translate Python regex `src` to `dialect`. `multiline` is Python's `re.MULTILINE`.
pub fn translate(src: &str, dialect: Dialect, multiline: bool) -> Result<Translated, DialectError> {
    Translator::new(src, dialect, false).run(multiline)
}

/// A `regex`-crate pattern whose language contains `src`'s (Python dialect): look-around and
/// conditional groups become optional groups, back-references match anything, possessive
/// quantifiers become greedy ones. It is never run; it is analysed for text every match
/// must contain (see [`crate::prefilter`]), which stays true of the original pattern.
pub fn translate_loose(src: &str, multiline: bool) -> Result<String, DialectError> {
    Translator::new(src, Dialect::Rust, true)
        .run(multiline)
        .map(|t| t.pattern)
}

enum Piece {
    Text(String),
    /// A `$` outside any `(?m:…)` scope.
    Dollar,
}

struct Translator<'a> {
    src: &'a str,
    pos: usize,
    dialect: Dialect,
    pieces: Vec<Piece>,
    features: Features,
    global_flags: String,
    /// For each open group: whether it turned MULTILINE on (`(?m:`).
    scoped_multiline: Vec<bool>,
    group_count: usize,
    /// What the previous token was, to validate repetitions as Python does.
    last: Last,
    /// [`translate_loose`]'s mode.
    loose: bool,
    /// Loose mode: for each open group, whether it closes as an optional group `(?:…)?`.
    optional_groups: Vec<bool>,
}

/// The previous token, for "nothing to repeat" / "multiple repeat" checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    /// Start, `(`, `|`, or an anchor: a quantifier here is an error.
    Nothing,
    /// Something repeatable.
    Atom,
    /// A quantifier (may take one `?` or `+` modifier).
    Quant,
    /// A quantifier with its modifier.
    QuantDone,
}

impl<'a> Translator<'a> {
    /// A translator of `src` at its start (`loose`: [`translate_loose`]'s mode).
    fn new(src: &'a str, dialect: Dialect, loose: bool) -> Self {
        Translator {
            src,
            pos: 0,
            dialect,
            pieces: Vec::new(),
            features: Features::default(),
            global_flags: String::new(),
            scoped_multiline: Vec::new(),
            group_count: 0,
            last: Last::Nothing,
            loose,
            optional_groups: Vec::new(),
        }
    }

    /// Validate a quantifier `c` against the previous token.
    fn quantifier(&mut self, c: char) -> Result<(), DialectError> {
        self.last = match self.last {
            Last::Atom => Last::Quant,
            Last::Quant if c == '?' => Last::QuantDone,
            Last::Quant if c == '+' => {
                self.features.possessive = true;
                Last::QuantDone
            }
            Last::Nothing => return self.err("nothing to repeat"),
            _ => return self.err("multiple repeat"),
        };
        Ok(())
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, DialectError> {
        Err(DialectError {
            message: message.into(),
            offset: self.pos,
        })
    }

    fn push(&mut self, s: &str) {
        if let Some(Piece::Text(t)) = self.pieces.last_mut() {
            t.push_str(s);
        } else {
            self.pieces.push(Piece::Text(s.to_string()));
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn run(mut self, multiline: bool) -> Result<Translated, DialectError> {
        while let Some(c) = self.peek() {
            if self.rest().starts_with(IPV6_LOOKBEHIND) {
                self.pos += IPV6_LOOKBEHIND.len();
                self.push(":");
                self.last = Last::Atom;
                continue;
            }
            if self.dialect == Dialect::Rust {
                if self.rest().starts_with(WORD_BEGIN) {
                    self.pos += WORD_BEGIN.len();
                    self.push(r"(?:^|\b|\b{end-half})");
                    self.last = Last::Atom;
                    continue;
                }
                if self.rest().starts_with(WORD_END) {
                    self.pos += WORD_END.len();
                    self.push(r"(?:\b|\b{end-half})");
                    self.last = Last::Atom;
                    continue;
                }
            }
            match c {
                '\\' => {
                    let escaped = self.src[self.pos + 1..].chars().next();
                    let s = self.escape(false)?;
                    self.push(&s);
                    let anchor = matches!(escaped, Some('b' | 'B' | 'A' | 'Z'));
                    self.last = if anchor { Last::Nothing } else { Last::Atom };
                }
                '[' => {
                    self.class()?;
                    self.last = Last::Atom;
                }
                '(' => {
                    self.last = Last::Nothing;
                    self.group_open()?;
                }
                ')' => {
                    self.bump();
                    if self.scoped_multiline.pop().is_none() {
                        return self.err("unbalanced parenthesis");
                    }
                    if self.optional_groups.pop() == Some(true) {
                        self.push(")?");
                    } else {
                        self.push(")");
                    }
                    self.last = Last::Atom;
                }
                '{' => {
                    if self.brace() {
                        self.quantifier('{')?;
                    } else {
                        self.last = Last::Atom;
                    }
                }
                '}' => {
                    self.bump();
                    self.push(r"\}");
                    self.last = Last::Atom;
                }
                '*' | '+' | '?' => {
                    let possessive = c == '+' && self.last == Last::Quant;
                    self.quantifier(c)?;
                    self.bump();
                    if !(self.loose && possessive) {
                        let mut buf = [0u8; 4];
                        self.push(c.encode_utf8(&mut buf));
                    }
                }
                '|' | '^' => {
                    self.bump();
                    let mut buf = [0u8; 4];
                    self.push(c.encode_utf8(&mut buf));
                    self.last = Last::Nothing;
                }
                '$' => {
                    self.last = Last::Nothing;
                    self.bump();
                    if self.scoped_multiline.iter().any(|m| *m) {
                        self.push("$");
                    } else {
                        self.pieces.push(Piece::Dollar);
                    }
                }
                _ => {
                    self.bump();
                    let mut buf = [0u8; 4];
                    self.push(c.encode_utf8(&mut buf));
                    self.last = Last::Atom;
                }
            }
        }
        if !self.scoped_multiline.is_empty() {
            return self.err("missing ), unterminated subpattern");
        }
        let multiline = multiline || self.global_flags.contains('m');
        let mut flags: String = self
            .global_flags
            .chars()
            .filter(|c| matches!(c, 'i' | 's' | 'x'))
            .collect();
        if multiline {
            flags.push('m');
        }
        let mut pattern = String::new();
        if !flags.is_empty() {
            pattern.push_str("(?");
            pattern.push_str(&flags);
            pattern.push(')');
        }
        let mut dollar = false;
        for piece in self.pieces {
            match piece {
                Piece::Text(t) => pattern.push_str(&t),
                Piece::Dollar => {
                    if multiline || self.dialect == Dialect::Pcre2 {
                        pattern.push('$');
                    } else {
                        dollar = true;
                        pattern.push_str("(?m:$)");
                    }
                }
            }
        }
        Ok(Translated {
            pattern,
            features: self.features,
            dollar,
        })
    }

    /// Translate one escape sequence starting at `\`. `in_class` changes `\b` and rejects
    /// assertions.
    fn escape(&mut self, in_class: bool) -> Result<String, DialectError> {
        self.bump(); // '\'
        let Some(c) = self.bump() else {
            return self.err("bad escape (end of pattern)");
        };
        Ok(match c {
            '<' | '>' => literal(c, in_class),
            'Z' if !in_class => r"\z".to_string(),
            'A' | 'B' if !in_class => format!("\\{c}"),
            'b' if in_class => r"\x08".to_string(),
            'b' => r"\b".to_string(),
            'd' | 'D' | 's' | 'S' | 'w' | 'W' => format!("\\{c}"),
            'n' => r"\n".to_string(),
            't' => r"\t".to_string(),
            'r' => r"\r".to_string(),
            'f' => r"\x0C".to_string(),
            'v' => r"\x0B".to_string(),
            'a' => r"\x07".to_string(),
            'x' => self.hex_escape(2)?,
            'u' => self.hex_escape(4)?,
            'U' => self.hex_escape(8)?,
            '0' => {
                let mut v = 0u32;
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ '0'..='7') => {
                            self.bump();
                            v = v * 8 + d.to_digit(8).unwrap_or(0);
                        }
                        _ => break,
                    }
                }
                format!(r"\x{{{v:X}}}")
            }
            '1'..='9' => self.numeric_escape(c, in_class)?,
            c if c.is_ascii_alphanumeric() => {
                return self.err(format!("bad escape \\{c}"));
            }
            // An escaped space or `#` stays literal even in verbose mode.
            ' ' => r"\x20".to_string(),
            '#' => r"\#".to_string(),
            c => literal(c, in_class),
        })
    }

    fn hex_escape(&mut self, digits: usize) -> Result<String, DialectError> {
        let start = self.pos;
        let hex: String = self.rest().chars().take(digits).collect();
        if hex.len() != digits || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return self.err(format!("incomplete escape at {start}"));
        }
        self.pos += digits;
        let v = u32::from_str_radix(&hex, 16).unwrap_or(0);
        if char::from_u32(v).is_none() {
            return self.err("bad escape: not a character");
        }
        Ok(format!(r"\x{{{v:X}}}"))
    }

    /// `\1`…`\99` (backreference) or a three-digit octal escape.
    fn numeric_escape(&mut self, first: char, in_class: bool) -> Result<String, DialectError> {
        let b = self.rest().as_bytes();
        let is_oct = |x: u8| (b'0'..=b'7').contains(&x);
        if first <= '7' && b.len() >= 2 && is_oct(b[0]) && is_oct(b[1]) {
            let v =
                (first as u32 - '0' as u32) * 64 + (b[0] - b'0') as u32 * 8 + (b[1] - b'0') as u32;
            self.pos += 2;
            if v > 0o377 {
                return self.err("octal escape value outside of range 0-0o377");
            }
            return Ok(format!(r"\x{{{v:X}}}"));
        }
        if in_class {
            return self.err(format!("bad escape \\{first}"));
        }
        let mut num = first.to_digit(10).unwrap_or(0);
        if let Some(d @ '0'..='9') = self.peek() {
            self.bump();
            num = num * 10 + d.to_digit(10).unwrap_or(0);
        }
        self.features.backreference = true;
        if self.loose {
            return Ok(ANYTHING.to_string());
        }
        Ok(format!(r"\g{{{num}}}"))
    }

    /// A character class `[...]` in Python syntax.
    fn class(&mut self) -> Result<(), DialectError> {
        let start = self.pos;
        self.bump(); // '['
        let mut out = String::from("[");
        if self.peek() == Some('^') {
            self.bump();
            out.push('^');
        }
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                self.pos = start;
                return self.err("unterminated character set");
            };
            if c == ']' && !first {
                self.bump();
                break;
            }
            first = false;
            let item = self.class_item()?;
            // A range `a-b` unless `-` is last.
            if self.peek() == Some('-')
                && self.rest().len() > 1
                && !self.rest()[1..].starts_with(']')
            {
                self.bump();
                let hi = self.class_item()?;
                match (&item, &hi) {
                    (ClassItem::Char(a), ClassItem::Char(b)) => {
                        out.push_str(a);
                        out.push('-');
                        out.push_str(b);
                    }
                    _ => return self.err("bad character range"),
                }
            } else {
                match item {
                    ClassItem::Char(s) | ClassItem::Set(s) => out.push_str(&s),
                }
            }
        }
        out.push(']');
        self.push(&out);
        Ok(())
    }

    fn class_item(&mut self) -> Result<ClassItem, DialectError> {
        let Some(c) = self.peek() else {
            return self.err("unterminated character set");
        };
        if c == '\\' {
            let save = self.pos;
            let s = self.escape(true)?;
            let escaped = self.src[save..].chars().nth(1).unwrap_or('\\');
            if matches!(escaped, 'd' | 'D' | 's' | 'S' | 'w' | 'W') {
                return Ok(ClassItem::Set(s));
            }
            return Ok(ClassItem::Char(s));
        }
        self.bump();
        Ok(ClassItem::Char(literal(c, true)))
    }

    fn group_open(&mut self) -> Result<(), DialectError> {
        let src = self.src;
        let rest = &src[self.pos..];
        if !rest.starts_with("(?") {
            self.bump();
            self.group_count += 1;
            self.scoped_multiline.push(false);
            self.optional_groups.push(false);
            self.push("(");
            return Ok(());
        }
        let after = &rest[2..];
        if let Some(name_rest) = after.strip_prefix("P<") {
            let Some(end) = name_rest.find('>') else {
                return self.err("missing >, unterminated name");
            };
            let name = &name_rest[..end];
            if name.is_empty() || !is_identifier(name) {
                return self.err(format!("bad character in group name '{name}'"));
            }
            let s = format!("(?P<{name}>");
            self.pos += 4 + end + 1;
            self.group_count += 1;
            self.scoped_multiline.push(false);
            self.optional_groups.push(false);
            self.push(&s);
            return Ok(());
        }
        if let Some(name_rest) = after.strip_prefix("P=") {
            let Some(end) = name_rest.find(')') else {
                return self.err("missing ), unterminated name");
            };
            let name = &name_rest[..end];
            if !is_identifier(name) {
                return self.err(format!("bad character in group name '{name}'"));
            }
            let s = if self.loose {
                ANYTHING.to_string()
            } else {
                format!("(?P={name})")
            };
            self.pos += 4 + end + 1;
            self.features.backreference = true;
            self.push(&s);
            self.last = Last::Atom;
            return Ok(());
        }
        if after.starts_with('#') {
            let Some(end) = after.find(')') else {
                return self.err("missing ), unterminated comment");
            };
            self.pos += 2 + end + 1;
            return Ok(());
        }
        for (prefix, lookaround) in [
            ("?:", false),
            ("?=", true),
            ("?!", true),
            ("?<=", true),
            ("?<!", true),
        ] {
            if rest[1..].starts_with(prefix) {
                self.pos += 1 + prefix.len();
                self.features.lookaround |= lookaround;
                self.scoped_multiline.push(false);
                let optional = self.loose && lookaround;
                self.optional_groups.push(optional);
                let s = if optional {
                    "(?:".to_string()
                } else {
                    format!("({prefix}")
                };
                self.push(&s);
                return Ok(());
            }
        }
        if after.starts_with('(') {
            // Conditional `(?(name)yes|no)`.
            let Some(end) = after.find(')') else {
                return self.err("missing ), unterminated name");
            };
            let cond = &after[1..end];
            if !is_identifier(cond) && !cond.chars().all(|c| c.is_ascii_digit()) {
                return self.err(format!("bad character in group name '{cond}'"));
            }
            let s = if self.loose {
                "(?:".to_string()
            } else {
                format!("(?({cond})")
            };
            self.pos += 2 + end + 1;
            self.features.conditional = true;
            self.scoped_multiline.push(false);
            self.optional_groups.push(self.loose);
            self.push(&s);
            return Ok(());
        }
        // Flags: `(?aiLmsux)` (global) or `(?flags-flags:...)` (scoped).
        let flag_len = after
            .find(|c: char| !matches!(c, 'a' | 'i' | 'L' | 'm' | 's' | 'u' | 'x' | '-'))
            .unwrap_or(after.len());
        let flags = &after[..flag_len];
        match after[flag_len..].chars().next() {
            Some(')') if !flags.contains('-') && !flags.is_empty() => {
                self.global_flags.push_str(flags);
                self.pos += 2 + flag_len + 1;
                Ok(())
            }
            Some(':') => {
                let (on, off) = flags.split_once('-').unwrap_or((flags, ""));
                let keep = |s: &str| -> String {
                    s.chars()
                        .filter(|c| matches!(c, 'i' | 'm' | 's' | 'x'))
                        .collect()
                };
                let (on, off) = (keep(on), keep(off));
                let mut s = String::from("(?");
                s.push_str(&on);
                if !off.is_empty() {
                    s.push('-');
                    s.push_str(&off);
                }
                s.push(':');
                if s == "(?:" || s == "(?-:" {
                    s = "(?:".to_string();
                }
                let inherited = self.scoped_multiline.iter().any(|m| *m);
                self.scoped_multiline
                    .push((on.contains('m') || inherited) && !off.contains('m'));
                self.optional_groups.push(false);
                self.pos += 2 + flag_len + 1;
                self.push(&s);
                Ok(())
            }
            _ => self.err(
                "unknown extension ?".to_string() + &after.chars().take(1).collect::<String>(),
            ),
        }
    }

    /// `{` starts a quantifier only when it reads `{m}`, `{m,}`, `{,n}`, `{m,n}` or `{,}`.
    fn brace(&mut self) -> bool {
        let rest = self.rest();
        let body_end = rest.find('}');
        if let Some(end) = body_end {
            let body = &rest[1..end];
            let (lo, hi) = match body.split_once(',') {
                Some((lo, hi)) => (lo, Some(hi)),
                None => (body, None),
            };
            let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
            if !body.is_empty() && digits(lo) && hi.is_none_or(digits) {
                let lo = if lo.is_empty() { "0" } else { lo };
                let q = match hi {
                    None => format!("{{{lo}}}"),
                    Some(hi) => format!("{{{lo},{hi}}}"),
                };
                self.pos += end + 1;
                self.push(&q);
                return true;
            }
        }
        self.bump();
        self.push(r"\{");
        false
    }
}

enum ClassItem {
    /// A single character and its translation.
    Char(String),
    /// A class escape such as `\d`.
    Set(String),
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// A literal character, escaped as needed for both target engines.
fn literal(c: char, in_class: bool) -> String {
    let meta = if in_class {
        matches!(c, '\\' | ']' | '[' | '^' | '-' | '&' | '~')
    } else {
        matches!(
            c,
            '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$'
        )
    };
    if meta {
        format!("\\{c}")
    } else {
        c.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rust(s: &str) -> String {
        translate(s, Dialect::Rust, false).unwrap().pattern
    }
    fn pcre(s: &str) -> String {
        translate(s, Dialect::Pcre2, false).unwrap().pattern
    }

    #[test]
    fn ipv6_lookbehind_is_removed() {
        let t = translate(crate::tags::IP6, Dialect::Rust, false).unwrap();
        assert!(!t.features.lookaround);
        assert!(t.pattern.ends_with("(?:[0-9a-fA-F]{1,4}|:)"));
    }

    #[test]
    fn bracket_inside_class_is_escaped() {
        assert_eq!(rust(r"[^[]"), r"[^\[]");
        assert_eq!(rust(r"[]a]"), r"[\]a]");
        assert_eq!(rust(r"[\w\-.^_]"), r"[\w\-.\^_]");
        assert_eq!(rust(r"[a-z&&b]"), r"[a-z\&\&b]");
        regex::Regex::new(&rust(r"[^[]+[[:alpha:]]")).unwrap();
    }

    #[test]
    fn angle_escapes_become_literals() {
        assert_eq!(rust(r"\<x\>"), "<x>");
    }

    #[test]
    fn braces() {
        assert_eq!(rust(r"a{,3}"), "a{0,3}");
        assert_eq!(rust(r"a{2,}"), "a{2,}");
        assert_eq!(rust(r"a{2}"), "a{2}");
        assert_eq!(rust(r"a{x}"), r"a\{x\}");
        assert_eq!(rust(r"{}"), r"\{\}");
        assert_eq!(rust(r"a{,}"), "a{0,}");
    }

    #[test]
    fn dollar_without_multiline() {
        let t = translate("a$", Dialect::Rust, false).unwrap();
        assert_eq!(t.pattern, "a(?m:$)");
        assert!(t.dollar);
        assert_eq!(
            translate("a$", Dialect::Rust, true).unwrap().pattern,
            "(?m)a$"
        );
        assert_eq!(pcre("a$"), "a$");
        assert_eq!(rust(r"\Z"), r"\z");
        assert_eq!(rust("(?m)a$"), "(?m)a$");
    }

    #[test]
    fn flags() {
        assert_eq!(rust("(?iu)abc"), "(?i)abc");
        assert_eq!(pcre("(?iu)abc"), "(?i)abc");
        assert_eq!(rust("(?i:a)b"), "(?i:a)b");
        assert_eq!(rust("(?u:a)"), "(?:a)");
    }

    #[test]
    fn loose_translation_relaxes_what_the_regex_crate_cannot_run() {
        let loose = |s: &str| translate_loose(s, false).unwrap();
        assert_eq!(loose(r"a(?=b)c"), r"a(?:b)?c");
        assert_eq!(loose(r"(?<!x)y"), r"(?:x)?y");
        assert_eq!(loose(r"(a)\1"), r"(a)(?s:.*)");
        assert_eq!(loose(r"(?P<n>a)(?P=n)"), r"(?P<n>a)(?s:.*)");
        assert_eq!(loose(r"(?P<c>a)?(?(c)b|d)"), r"(?P<c>a)?(?:b|d)?");
        assert_eq!(loose(r"a*+b"), r"a*b");
        // Everything else is translated as for the regex crate.
        assert_eq!(loose(r"^x\Z"), rust(r"^x\Z"));
        for p in [r"a(?=b)c", r"(a)\1", r"(?P<c>a)?(?(c)b|d)", r"a*+b"] {
            assert!(regex::Regex::new(&loose(p)).is_ok(), "{p}");
        }
    }

    #[test]
    fn features_are_detected() {
        let t = translate(r"(?P<a>x)(?P=a)", Dialect::Pcre2, false).unwrap();
        assert!(t.features.backreference);
        let t = translate(r"(?(a)x|y)", Dialect::Pcre2, false).unwrap();
        assert!(t.features.conditional);
        let t = translate(r"(?!x)", Dialect::Pcre2, false).unwrap();
        assert!(t.features.lookaround);
        let t = translate(r"(x)\1", Dialect::Pcre2, false).unwrap();
        assert_eq!(t.pattern, r"(x)\g{1}");
    }

    #[test]
    fn date_boundaries_in_rust() {
        assert_eq!(
            rust(r"(?=^|\b|\W)x(?=\b|\W|$)"),
            r"(?:^|\b|\b{end-half})x(?:\b|\b{end-half})"
        );
        assert_eq!(pcre(r"(?=^|\b|\W)x"), r"(?=^|\b|\W)x");
    }

    #[test]
    fn escapes() {
        assert_eq!(rust(r#"\"\'\:\/\ "#), "\"':/\\x20");
        assert_eq!(rust(r"\x41\u00e9\101"), r"\x{41}\x{E9}\x{41}");
        assert!(translate(r"\q", Dialect::Rust, false).is_err());
        assert!(translate(r"(ab", Dialect::Rust, false).is_err());
        assert!(translate(r"[ab", Dialect::Rust, false).is_err());
        assert!(translate(r"ab)", Dialect::Rust, false).is_err());
        assert!(translate(r"a**", Dialect::Rust, false).is_err());
        assert!(translate(r"*a", Dialect::Rust, false).is_err());
        assert!(translate(r"a|?", Dialect::Rust, false).is_err());
        assert!(translate(r"a{2}{3}", Dialect::Rust, false).is_err());
        assert!(translate(r"a*?b+?c??(x)*", Dialect::Rust, false).is_ok());
        assert!(
            translate(r"a*+", Dialect::Pcre2, false)
                .unwrap()
                .features
                .possessive
        );
    }

    #[test]
    fn comments_are_dropped() {
        assert_eq!(rust("a(?#note)b"), "ab");
    }
}
