//! Fail2Ban tag expansion: `<HOST>`, `<ADDR>`, `<F-USER>…</F-USER>` and friends.
//!
//! Filters are written with tags that Fail2Ban replaces by fixed regex fragments before
//! compiling. The fragments below reproduce Fail2Ban 1.0.2 exactly (the differential corpus
//! holds the expanded regexes), because the named groups they introduce (`ip4`, `ip6`, `dns`,
//! `fid`, …) are how a match names its host.
//!
//! Tags are recognised with the same shape Fail2Ban uses: `<`, an optional `/`, a name of word
//! characters and `-`, an optional `/`, `>`. Unknown tags stay as literal text.

use crate::UseDns;

/// IPv4 address (`IPAddr.IP_4_RE`).
pub const IP4: &str = r"(?:\d{1,3}\.){3}\d{1,3}";
/// IPv6 address (`IPAddr.IP_6_RE`), including the always-true lookbehind the dialect
/// translation later removes.
pub const IP6: &str = r"(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|(?<=:):)";

/// `<IP4>`: the `ip4` group, accepting an IPv4-mapped IPv6 prefix.
pub fn ip4_group() -> String {
    format!(r"(?:::f{{4,6}}:)?(?P<ip4>{IP4})")
}

/// `<IP6>`: the `ip6` group.
pub fn ip6_group() -> String {
    format!(r"(?P<ip6>{IP6})")
}

/// `<DNS>`: the `dns` group.
pub const DNS_GROUP: &str = r"(?P<dns>[\w\-.^_]*\w)";

/// `<CIDR>`: the `cidr` group.
pub const CIDR_GROUP: &str = r"(?P<cidr>\d+)";

/// `<ADDR>`: an IPv4 or IPv6 address, optionally in brackets.
pub fn addr() -> String {
    format!(r"\[?(?:{}|{})\]?", ip4_group(), ip6_group())
}

/// `<HOST>` with name resolution: an address or a host name.
pub fn host() -> String {
    format!(r"(?:{}|{})", addr(), DNS_GROUP)
}

/// `<SUBNET>`: an address with an optional `/cidr`.
pub fn subnet() -> String {
    format!(
        r"\[?(?:{}|{})(?:/{})?\]?",
        ip4_group(),
        ip6_group(),
        CIDR_GROUP
    )
}

/// The fixed replacement of a tag name (without `<` `>`), if it has one.
fn static_tag(name: &str) -> Option<String> {
    Some(match name {
        "IP4" | "F-IP4/" => ip4_group(),
        "IP6" | "F-IP6/" => ip6_group(),
        "ADDR" | "F-ADDR/" => addr(),
        "CIDR" | "F-CIDR/" => CIDR_GROUP.to_string(),
        "SUBNET" | "F-SUBNET/" => subnet(),
        "DNS" | "F-DNS/" => DNS_GROUP.to_string(),
        "F-ID/" => r"(?P<fid>\S+)".to_string(),
        "F-PORT/" => r"(?P<fport>\w+)".to_string(),
        _ => return None,
    })
}

/// Group name for a custom `<F-NAME>` tag: lower case, with `id`/`port` mapped to the
/// `fid`/`fport` names the fixed tags use.
pub fn custom_group_name(tag: &str) -> String {
    let lower = tag.to_lowercase();
    match lower.as_str() {
        "id" => "fid".to_string(),
        "port" => "fport".to_string(),
        _ => lower,
    }
}

/// Python `\w` for a single character (Unicode letters, digits and `_`).
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Find the next tag-shaped token `</?[\w\-]+/?>` at or after `from`; returns its byte range.
fn next_tag(s: &str, from: usize) -> Option<(usize, usize)> {
    let mut search = from;
    while let Some(off) = s[search..].find('<') {
        let start = search + off;
        let rest = &s[start + 1..];
        let mut chars = rest.char_indices().peekable();
        let mut pos = 0;
        if let Some(&(_, '/')) = chars.peek() {
            chars.next();
            pos = 1;
        }
        let name_start = pos;
        while let Some(&(i, c)) = chars.peek() {
            if is_word(c) || c == '-' {
                chars.next();
                pos = i + c.len_utf8();
            } else {
                break;
            }
        }
        if pos > name_start {
            if let Some(&(_, '/')) = chars.peek() {
                chars.next();
                pos += 1;
            }
            if let Some(&(_, '>')) = chars.peek() {
                return Some((start, start + 1 + pos + 1));
            }
        }
        search = start + 1;
    }
    None
}

/// Parse a custom field tag name `F-NAME` or `/F-NAME` (upper-case letters, digits, `_`, `-`).
/// Returns (closing, NAME).
fn custom_tag(name: &str) -> Option<(bool, &str)> {
    let (closing, rest) = match name.strip_prefix('/') {
        Some(r) => (true, r),
        None => (false, name),
    };
    let field = rest.strip_prefix("F-")?;
    if field.is_empty()
        || !field
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return None;
    }
    Some((closing, field))
}

/// Expand Fail2Ban tags in `regex` (the Python-dialect failregex as written).
///
/// Afterwards a global flag opening a group, `((?i)x)` or `(?:(?i)x)`, becomes the scoped
/// `(?i:x)`, as Fail2Ban does before compiling.
pub fn expand_tags(regex: &str, usedns: UseDns) -> String {
    let mut out = String::with_capacity(regex.len() * 4);
    let mut open: Vec<String> = Vec::new();
    let mut skiplines = 0usize;
    let mut last = 0;
    while let Some((s, e)) = next_tag(regex, last) {
        out.push_str(&regex[last..s]);
        let tag = &regex[s..e];
        let name = &tag[1..tag.len() - 1];
        let replacement = if name == "HOST" {
            if usedns == UseDns::No {
                addr()
            } else {
                host()
            }
        } else if name == "SKIPLINES" {
            let r = format!(r"\n(?P<skiplines{skiplines}>(?:(?:.*\n)*?))");
            skiplines += 1;
            r
        } else if let Some(r) = static_tag(name) {
            r
        } else if let Some((closing, field)) = custom_tag(name) {
            if closing {
                if open.iter().any(|o| o == field) {
                    ")".to_string()
                } else {
                    tag.to_string()
                }
            } else {
                open.push(field.to_string());
                format!("(?P<{}>", custom_group_name(field))
            }
        } else {
            tag.to_string()
        };
        out.push_str(&replacement);
        last = e;
    }
    out.push_str(&regex[last..]);
    scope_global_flags(&out)
}

/// Rewrite `((?flags)` and `(?:(?flags)` (not escaped) to `(?flags:`.
pub fn scope_global_flags(regex: &str) -> String {
    let b = regex.as_bytes();
    let mut out = String::with_capacity(regex.len());
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        if b[i] == b'(' && (i == 0 || b[i - 1] != b'\\') {
            let mut j = i + 1;
            if b[j..].starts_with(b"?:") {
                j += 2;
            }
            if b[j..].starts_with(b"(?") {
                let k = j + 2;
                let mut m = k;
                while m < b.len() && b[m].is_ascii_lowercase() {
                    m += 1;
                }
                if m > k && m < b.len() && b[m] == b')' {
                    out.push_str(&regex[last..i]);
                    out.push_str(&regex[j..m]);
                    out.push(':');
                    i = m + 1;
                    last = i;
                    continue;
                }
            }
        }
        i += 1;
    }
    out.push_str(&regex[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST_EXPANDED: &str = r"(?:\[?(?:(?:::f{4,6}:)?(?P<ip4>(?:\d{1,3}\.){3}\d{1,3})|(?P<ip6>(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|(?<=:):)))\]?|(?P<dns>[\w\-.^_]*\w))";

    #[test]
    fn host_expands_like_fail2ban() {
        assert_eq!(expand_tags("<HOST>", UseDns::Warn), HOST_EXPANDED);
        assert_eq!(expand_tags("<HOST>", UseDns::Yes), HOST_EXPANDED);
        assert_eq!(expand_tags("<HOST>", UseDns::Raw), HOST_EXPANDED);
    }

    #[test]
    fn usedns_no_gives_addr_only() {
        let e = expand_tags("x <HOST> y", UseDns::No);
        assert_eq!(e, format!("x {} y", addr()));
        assert!(!e.contains("dns"));
    }

    #[test]
    fn fixed_tags() {
        assert_eq!(expand_tags("<F-ID/>", UseDns::Warn), r"(?P<fid>\S+)");
        assert_eq!(expand_tags("<F-PORT/>", UseDns::Warn), r"(?P<fport>\w+)");
        assert_eq!(expand_tags("<CIDR>", UseDns::Warn), r"(?P<cidr>\d+)");
        assert_eq!(expand_tags("<DNS>", UseDns::Warn), DNS_GROUP);
        assert!(expand_tags("<SUBNET>", UseDns::Warn).ends_with(r"(?:/(?P<cidr>\d+))?\]?"));
    }

    #[test]
    fn skiplines_are_numbered() {
        assert_eq!(
            expand_tags("a<SKIPLINES>b<SKIPLINES>", UseDns::Warn),
            r"a\n(?P<skiplines0>(?:(?:.*\n)*?))b\n(?P<skiplines1>(?:(?:.*\n)*?))"
        );
    }

    #[test]
    fn custom_fields_become_lower_case_groups() {
        assert_eq!(
            expand_tags(
                "user <F-USER>\\S+</F-USER> id <F-ID>\\d+</F-ID>",
                UseDns::Warn
            ),
            r"user (?P<user>\S+) id (?P<fid>\d+)"
        );
        // A closing tag that was never opened stays literal.
        assert_eq!(expand_tags("</F-USER>", UseDns::Warn), "</F-USER>");
        // Lower-case names are not field tags.
        assert_eq!(
            expand_tags("<F-user>x</F-user>", UseDns::Warn),
            "<F-user>x</F-user>"
        );
    }

    #[test]
    fn unknown_tags_stay_literal() {
        assert_eq!(
            expand_tags("http_fe/<NOSRV> <html> < HOST>", UseDns::Warn),
            "http_fe/<NOSRV> <html> < HOST>"
        );
    }

    #[test]
    fn global_flags_in_groups_become_scoped() {
        assert_eq!(scope_global_flags("a((?i)b)c"), "a(?i:b)c");
        assert_eq!(scope_global_flags("a(?:(?i)b)c"), "a(?i:b)c");
        assert_eq!(scope_global_flags(r"a\((?i)b)"), r"a\((?i)b)");
        assert_eq!(scope_global_flags("(?i)abc"), "(?i)abc");
    }
}
