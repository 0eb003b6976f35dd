//! `journalmatch`: which journal entries a jail reads.
//!
//! Fail2Ban (`client/filterreader.py`, `server/filtersystemd.py`) takes each non-empty line of
//! the option, splits it like a POSIX shell (`shlex.split`: quotes and backslashes, no comments)
//! and cuts the words at every `+` word into groups. Each group's terms are added with
//! `sd_journal_add_match` and closed with `sd_journal_add_disjunction`, so an entry is read if
//! it satisfies every term of at least one group, where several terms on the same field inside a
//! group are alternatives (sd-journal's rule). Groups from all lines are alternatives too.

use std::fmt;

/// A parsed `journalmatch`: groups of `FIELD=value` terms, ORed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalMatch {
    groups: Vec<Vec<String>>,
}

/// Why a `journalmatch` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchError {
    /// The line or term at fault.
    pub text: String,
    /// What is wrong and what was expected.
    pub reason: &'static str,
}

impl fmt::Display for MatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "journalmatch {:?}: {}", self.text, self.reason)
    }
}

impl std::error::Error for MatchError {}

impl JournalMatch {
    /// Parse the `journalmatch` option as Fail2Ban does. Empty text means "every entry".
    ///
    /// Terms are checked as `sd_journal_add_match` would: `FIELD=value` where `FIELD` is
    /// non-empty, made of `A-Z`, `0-9` and `_`, and does not start with `__` (those are
    /// addresses such as `__CURSOR`, not fields). Empty groups (`a + + b`) are dropped.
    pub fn parse(text: &str) -> Result<JournalMatch, MatchError> {
        let mut groups = Vec::new();
        for line in text.split('\n').filter(|l| !l.is_empty()) {
            let mut group = Vec::new();
            for word in shell_words(line)? {
                if word == "+" {
                    if !group.is_empty() {
                        groups.push(std::mem::take(&mut group));
                    }
                    continue;
                }
                check_term(&word)?;
                group.push(word);
            }
            if !group.is_empty() {
                groups.push(group);
            }
        }
        Ok(JournalMatch { groups })
    }

    /// The groups, each a list of `FIELD=value` terms.
    pub fn groups(&self) -> &[Vec<String>] {
        &self.groups
    }

    /// No terms: every entry is read (Fail2Ban warns that this is slow).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// As `status` shows it after `Journal matches:` (groups joined by ` + `).
impl fmt::Display for JournalMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, group) in self.groups.iter().enumerate() {
            if i > 0 {
                f.write_str(" + ")?;
            }
            f.write_str(&group.join(" "))?;
        }
        Ok(())
    }
}

/// sd-journal's `match_is_valid`.
fn check_term(term: &str) -> Result<(), MatchError> {
    let err = |reason| MatchError {
        text: term.to_owned(),
        reason,
    };
    if term.starts_with("__") {
        return Err(err(
            "fields starting with \"__\" cannot be matched; expected FIELD=value",
        ));
    }
    let Some((field, _)) = term.split_once('=') else {
        return Err(err("expected FIELD=value (or + between groups)"));
    };
    if field.is_empty() {
        return Err(err("the field name before '=' is empty"));
    }
    if !field
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(err(
            "field names are made of upper-case letters, digits and '_' (e.g. _SYSTEMD_UNIT)",
        ));
    }
    Ok(())
}

/// Python's `shlex.split(line)`: POSIX mode, whitespace-separated words, `'...'` literal,
/// `"..."` where a backslash escapes only `"` and `\`, a backslash outside quotes escapes any
/// character, adjacent quoted and unquoted parts join into one word, `''` is an empty word.
fn shell_words(line: &str) -> Result<Vec<String>, MatchError> {
    let err = |reason| MatchError {
        text: line.to_owned(),
        reason,
    };
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\\' => {
                let escaped = chars.next().ok_or_else(|| err("no character after '\\'"))?;
                word.get_or_insert_with(String::new).push(escaped);
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(err("no closing quotation")),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err(err("no closing quotation")),
                        },
                        Some(c) => w.push(c),
                        None => return Err(err("no closing quotation")),
                    }
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word {
        words.push(w);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(text: &str) -> Vec<Vec<String>> {
        JournalMatch::parse(text).unwrap().groups
    }

    #[test]
    fn plus_separates_groups_and_spaces_separate_terms() {
        assert_eq!(
            groups("_SYSTEMD_UNIT=sshd.service + _COMM=sshd"),
            [vec!["_SYSTEMD_UNIT=sshd.service"], vec!["_COMM=sshd"]]
        );
        assert_eq!(
            groups("_SYSTEMD_UNIT=sshd.service _COMM=sshd"),
            [vec!["_SYSTEMD_UNIT=sshd.service", "_COMM=sshd"]]
        );
    }

    #[test]
    fn lines_add_groups() {
        let m = JournalMatch::parse("_SYSTEMD_UNIT=a.service\n\n_COMM=b + _COMM=c\n").unwrap();
        assert_eq!(m.groups.len(), 3);
        assert_eq!(m.to_string(), "_SYSTEMD_UNIT=a.service + _COMM=b + _COMM=c");
    }

    #[test]
    fn quoting_follows_shlex() {
        assert_eq!(
            groups(r#"MESSAGE="a b" 'MESSAGE=c  d' MESSAGE=e\ f MESSAGE="x\"y\z""#),
            [vec![
                "MESSAGE=a b",
                "MESSAGE=c  d",
                "MESSAGE=e f",
                r#"MESSAGE=x"y\z"#
            ]]
        );
        // A quoted "+" is still a group separator: Fail2Ban compares the word after splitting.
        assert_eq!(groups("A=1 '+' B=2"), [vec!["A=1"], vec!["B=2"]]);
        // "+" glued to a word is part of it.
        assert_eq!(groups("A=1+ B=2"), [vec!["A=1+", "B=2"]]);
        assert_eq!(groups("A=1 + + B=2 +"), [vec!["A=1"], vec!["B=2"]]);
    }

    #[test]
    fn empty_means_everything() {
        assert!(JournalMatch::parse("").unwrap().is_empty());
        assert!(JournalMatch::parse("  \n").unwrap().is_empty());
    }

    #[test]
    fn bad_terms_and_quotes_are_refused_with_the_reason() {
        for (text, bad) in [
            ("sshd.service", "sshd.service"),
            ("_systemd_unit=sshd.service", "_systemd_unit=sshd.service"),
            ("=x", "=x"),
            ("__CURSOR=abc", "__CURSOR=abc"),
            ("A=1 'B=2", "A=1 'B=2"),
            ("A=1 \\", "A=1 \\"),
            ("A=1 ''", ""),
        ] {
            let e = JournalMatch::parse(text).unwrap_err();
            assert_eq!(e.text, bad, "{text}");
        }
    }
}
