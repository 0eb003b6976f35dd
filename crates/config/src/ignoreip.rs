//! `ignoreip` lists: addresses, networks and host names.
//!
//! Entries are separated by whitespace or commas. A network written with host bits set
//! (`10.10.10.1/16`) means the network that contains it (10.10.0.0/16), as Fail2Ban's `IPAddr`
//! does; a prefix may also be a dotted netmask (`/255.255.0.0`). A plain address is a /32 or
//! /128. Anything else that looks like a host name is kept for the daemon to resolve.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::IgnoreEntry;

/// Parse one entry.
fn parse_entry(text: &str) -> Result<IgnoreEntry, String> {
    let bad = |why: &str| {
        format!("expected an address, a network such as 10.0.0.0/8 or a host name, got {text:?} ({why})")
    };
    if let Some((addr, prefix)) = text.split_once('/') {
        let ip: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| bad("not an IP address before the \"/\""))?;
        let len: u8 = match prefix.parse::<u8>() {
            Ok(n) => n,
            Err(_) => match (ip, prefix.parse::<IpAddr>()) {
                (IpAddr::V4(_), Ok(IpAddr::V4(mask))) => {
                    let m = u32::from(mask);
                    if m.leading_ones() + m.trailing_zeros() != 32 {
                        return Err(bad("netmask is not contiguous"));
                    }
                    m.leading_ones() as u8
                }
                _ => return Err(bad("prefix length is not a number")),
            },
        };
        let net = IpNet::new(ip, len).map_err(|_| bad("prefix length too long"))?;
        return Ok(IgnoreEntry::Net(net.trunc()));
    }
    let unbracketed = text.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Ok(IgnoreEntry::Net(IpNet::from(ip)));
    }
    let looks_numeric = text.chars().all(|c| c.is_ascii_digit() || c == '.');
    let hostname_chars = text
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if looks_numeric || text.contains(':') || !hostname_chars {
        return Err(bad("not a valid address or host name"));
    }
    Ok(IgnoreEntry::Host(text.to_string()))
}

/// Parse an `ignoreip` value; the first bad entry is the error.
pub(crate) fn parse_ignoreip(text: &str) -> Result<Vec<IgnoreEntry>, String> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(parse_entry)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IgnoreEntry {
        IgnoreEntry::Net(s.parse().unwrap())
    }

    #[test]
    fn tutorial_list() {
        assert_eq!(
            parse_ignoreip("127.0.0.0/8 10.10.10.1/16").unwrap(),
            vec![net("127.0.0.0/8"), net("10.10.0.0/16")]
        );
    }

    #[test]
    fn mixed_entries() {
        assert_eq!(
            parse_ignoreip("::1, 192.0.2.7\n2001:db8::1/32 example.org 10.0.0.0/255.0.0.0")
                .unwrap(),
            vec![
                net("::1/128"),
                net("192.0.2.7/32"),
                net("2001:db8::/32"),
                IgnoreEntry::Host("example.org".into()),
                net("10.0.0.0/8"),
            ]
        );
    }

    #[test]
    fn bad_entries() {
        for t in [
            "10.0.0.1/33",
            "10.0.0.300",
            "1.2.3.4/abc",
            "bad/8",
            "a;b",
            "10.0.0.0/255.0.255.0",
        ] {
            assert!(parse_ignoreip(t).is_err(), "{t}");
        }
    }
}
