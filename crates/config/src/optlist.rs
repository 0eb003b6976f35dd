//! Option lists: `name[k=v, k2="v, w"][k3='v']`, and splitting an `action` value into actions.
//!
//! These follow Fail2Ban's own regular expressions (`helpers.py`: `OPTION_CRE`,
//! `OPTION_EXTRACT_CRE`, `OPTION_SPLIT_CRE`) so that every action line Fail2Ban accepts splits
//! the same way here: one action per line or several on one line separated by whitespace, values
//! quoted with `"` or `'` may hold commas and brackets, unquoted values end at `,` or `]`.
//! The only lookahead in them (`(?=\s|$)` after a split item) is replaced by consuming that one
//! whitespace character, which cannot change what is found because no item starts with
//! whitespace. The regex crate's leftmost-first semantics equal Python's backtracking order for
//! these patterns.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;

/// `name[options]` with options possibly in several groups.
fn option_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(?s)\A([^\[]+)(?:\[(.*)\])?\s*\z").expect("valid regex"))
}

/// One `key=value` of an option list, or the wrong syntax that stops it.
fn extract_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"(?s)\s*([\w\-_\.]+)=(?:"([^"]*)"|'([^']*)'|([^,\]]*))(?:,|\]\s*\[|\z|(?P<wrngA>.+))|,?\s*\z|(?P<wrngB>.+)"#,
        )
        .expect("valid regex")
    })
}

/// One item of an `action` value.
fn split_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"(?:[^\[\s]+(?:\s*\[\s*(?:[\w\-_\.]+=(?:"[^"]*"|'[^']*'|[^,\]]*)\s*(?:,|\]\s*\[)?\s*)*\])?\s*|\S+)(?:\s|\z)"#,
        )
        .expect("valid regex")
    })
}

/// Why an option list could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OptListError {
    /// A `[` is never closed.
    Unterminated,
    /// Other bad syntax, with a description.
    Syntax(String),
}

impl OptListError {
    /// A user-facing message about `text`.
    pub fn message(&self, text: &str) -> String {
        match self {
            OptListError::Unterminated => format!(
                "unterminated option list in {text:?}: a \"[\" has no closing \"]\"; expected name[key=value, ...]"
            ),
            OptListError::Syntax(s) => {
                format!("bad option list in {text:?}: {s}; expected name[key=value, key2=\"value, with commas\"]")
            }
        }
    }
}

/// Does `text` open more `[` than it closes, outside quotes?
fn unbalanced(text: &str) -> bool {
    let mut depth: i64 = 0;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') if depth > 0 => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth -= 1,
            _ => {}
        }
    }
    depth > 0 || quote.is_some()
}

/// Fail2Ban's `extractOptions`: `name[k=v, ...]` into the name and its options.
pub(crate) fn extract_options(
    text: &str,
) -> Result<(String, BTreeMap<String, String>), OptListError> {
    let Some(caps) = option_re().captures(text) else {
        return Err(if unbalanced(text) {
            OptListError::Unterminated
        } else {
            OptListError::Syntax("unexpected characters after the option list".into())
        });
    };
    let name = caps.get(1).map_or("", |m| m.as_str()).trim().to_string();
    let mut opts = BTreeMap::new();
    if let Some(optstr) = caps.get(2) {
        let optstr = optstr.as_str();
        for m in extract_re().captures_iter(optstr) {
            if let Some(w) = m.name("wrngA") {
                let key = m.get(1).map_or("", |k| k.as_str());
                return Err(OptListError::Syntax(format!(
                    "unexpected {:?} after the value of {key:?} (quote values that contain commas or brackets)",
                    head(w.as_str())
                )));
            }
            if let Some(w) = m.name("wrngB") {
                return Err(OptListError::Syntax(format!(
                    "expected key=value, found {:?}",
                    head(w.as_str())
                )));
            }
            let Some(key) = m.get(1) else { continue };
            let value = m
                .get(2)
                .or(m.get(3))
                .or(m.get(4))
                .map_or("", |v| v.as_str());
            opts.insert(key.as_str().trim().to_string(), value.trim().to_string());
        }
    }
    Ok((name, opts))
}

fn head(s: &str) -> &str {
    match s.char_indices().nth(25) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Fail2Ban's `splitWithOptions`: the items of an `action` value, trimmed, empty ones dropped.
pub(crate) fn split_actions(text: &str) -> Vec<String> {
    split_re()
        .find_iter(text)
        .map(|m| m.as_str().trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tutorial_action_line() {
        let items = split_actions(
            "iptables-allports sendmail-whois[name=Haproxy-noserv, dest=mail@mydomain.com]",
        );
        assert_eq!(
            items,
            vec![
                "iptables-allports",
                "sendmail-whois[name=Haproxy-noserv, dest=mail@mydomain.com]"
            ]
        );
        let (name, o) = extract_options(&items[1]).unwrap();
        assert_eq!(name, "sendmail-whois");
        assert_eq!(
            o,
            opts(&[("name", "Haproxy-noserv"), ("dest", "mail@mydomain.com")])
        );
    }

    #[test]
    fn one_action_per_line_with_quotes_and_groups() {
        let text = "iptables-multiport[name=x, port=\"ssh,80\", protocol=tcp]\n   sendmail[dest='a, b]'][sender=me]\nplain";
        let items = split_actions(text);
        assert_eq!(items.len(), 3, "{items:?}");
        let (_, o) = extract_options(&items[0]).unwrap();
        assert_eq!(o["port"], "ssh,80");
        let (_, o) = extract_options(&items[1]).unwrap();
        assert_eq!(o, opts(&[("dest", "a, b]"), ("sender", "me")]));
        assert_eq!(
            extract_options("plain").unwrap(),
            ("plain".into(), BTreeMap::new())
        );
    }

    #[test]
    fn unterminated_is_reported() {
        let items = split_actions("sendmail-whois[name=x, dest=y");
        assert_eq!(extract_options(&items[0]), Err(OptListError::Unterminated));
        // As in Fail2Ban, a lone quote is just part of an unquoted value.
        assert_eq!(extract_options("a[b=\"c]").unwrap().1["b"], "\"c");
    }

    #[test]
    fn wrong_syntax_inside() {
        assert!(matches!(
            extract_options("a[b=\"c\"d]"),
            Err(OptListError::Syntax(_))
        ));
        assert!(extract_options("a[b=c\"d]").is_ok());
        assert!(matches!(
            extract_options("a[=x]"),
            Err(OptListError::Syntax(_))
        ));
        assert!(matches!(
            extract_options("a[x=\"1\" y=2]"),
            Err(OptListError::Syntax(_))
        ));
    }

    #[test]
    fn filter_with_mode() {
        let (n, o) = extract_options("sshd[mode=aggressive]").unwrap();
        assert_eq!((n.as_str(), o["mode"].as_str()), ("sshd", "aggressive"));
        let (n, o) = extract_options("sshd[mode=normal, publickey=\"nofail\"]").unwrap();
        assert_eq!(n, "sshd");
        assert_eq!(o["publickey"], "nofail");
    }
}
