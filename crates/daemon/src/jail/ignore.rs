//! Addresses that must never be banned: `ignoreip` and, with `ignoreself`, the host's own.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use warden_config::IgnoreEntry;

/// The ignore list of one jail.
#[derive(Debug, Clone, Default)]
pub struct IgnoreList {
    nets: Vec<ipnet::IpNet>,
    own: Vec<IpAddr>,
}

impl IgnoreList {
    /// Build from the jail's `ignoreip` and `ignoreself`. Host names are resolved once, now.
    pub fn new(entries: &[IgnoreEntry], ignoreself: bool) -> Self {
        let mut nets = Vec::new();
        for e in entries {
            match e {
                IgnoreEntry::Net(n) => nets.push(*n),
                IgnoreEntry::Host(name) => {
                    use std::net::ToSocketAddrs;
                    match (name.as_str(), 0).to_socket_addrs() {
                        Ok(addrs) => nets.extend(addrs.map(|a| ipnet::IpNet::from(a.ip()))),
                        Err(e) => {
                            tracing::warn!(host = %name, error = %e, "ignoreip host name does not resolve")
                        }
                    }
                }
            }
        }
        let own = if ignoreself {
            own_addresses()
        } else {
            Vec::new()
        };
        IgnoreList { nets, own }
    }

    /// Why `ip` is ignored, or `None` if it may be banned.
    pub fn reason(&self, ip: IpAddr) -> Option<&'static str> {
        let ip = canonical(ip);
        if self.own.contains(&ip) {
            return Some("self");
        }
        if self.nets.iter().any(|n| n.contains(&ip)) {
            return Some("ip");
        }
        None
    }
}

/// IPv4-mapped IPv6 addresses are treated as the IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Every address of this host's interfaces, plus the loopback addresses.
pub fn own_addresses() -> Vec<IpAddr> {
    let mut out = vec![
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we only read and then free with freeifaddrs.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while !cur.is_null() {
            let addr = (*cur).ifa_addr;
            if !addr.is_null() {
                match (*addr).sa_family as i32 {
                    libc::AF_INET => {
                        let sin = &*(addr as *const libc::sockaddr_in);
                        out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                            sin.sin_addr.s_addr,
                        ))));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(addr as *const libc::sockaddr_in6);
                        out.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_canonical_cidr_covers_its_network() {
        let net: ipnet::IpNet = "10.10.10.1/16".parse().unwrap();
        let l = IgnoreList::new(&[IgnoreEntry::Net(net.trunc())], false);
        assert_eq!(l.reason("10.10.200.7".parse().unwrap()), Some("ip"));
        assert_eq!(l.reason("10.11.0.1".parse().unwrap()), None);
    }

    #[test]
    fn ignoreself_covers_loopback_and_mapped_addresses() {
        let l = IgnoreList::new(&[], true);
        assert_eq!(l.reason("127.0.0.1".parse().unwrap()), Some("self"));
        assert_eq!(l.reason("::ffff:127.0.0.1".parse().unwrap()), Some("self"));
        assert_eq!(l.reason("192.0.2.66".parse().unwrap()), None);
        assert_eq!(
            IgnoreList::new(&[], false).reason("127.0.0.1".parse().unwrap()),
            None
        );
    }
}
