//! Reading a set's elements straight from the kernel (one `NFT_MSG_GETSETELEM` netlink dump).
//!
//! libnftables can list a set, but it renders every element through nft's expression machinery
//! and then JSON: about a second for 100,000 elements on an idle machine, several under load,
//! which alone would spend the start-up budget of reconciling 100,000 bans. The raw dump takes
//! a few tens of milliseconds and reports remaining times in milliseconds. Changes still go
//! through libnftables, whose batches are the stable, documented interface.

use ipnet::IpNet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

const NETLINK_NETFILTER: libc::c_int = 12;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_GETSETELEM: u16 = 13;
const NFPROTO_INET: u8 = 1;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLA_TYPE_MASK: u16 = 0x3fff;

const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_FLAGS: u16 = 3;
const NFTA_SET_ELEM_TIMEOUT: u16 = 4;
const NFTA_SET_ELEM_EXPIRATION: u16 = 5;
const NFTA_DATA_VALUE: u16 = 1;
const NFT_SET_ELEM_INTERVAL_END: u32 = 1;

/// One element as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawElement {
    pub key: Vec<u8>,
    pub interval_end: bool,
    /// Remaining time; `None` when the element has no timeout.
    pub expires: Option<Duration>,
}

/// A netlink socket for nftables, bound to the namespace of the thread that created it.
pub(crate) struct NetlinkSocket {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl NetlinkSocket {
    pub fn open() -> io::Result<NetlinkSocket> {
        // SAFETY: plain socket creation; the result is checked and owned.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_NETFILTER,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(NetlinkSocket {
            // SAFETY: `fd` is a fresh descriptor nobody else owns.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            seq: 0,
            buf: vec![0; 1 << 20],
        })
    }

    /// Dumps the elements of `inet <table> <set>`, retrying if the set changed meanwhile.
    pub fn set_elements(&mut self, table: &str, set: &str) -> io::Result<Vec<RawElement>> {
        loop {
            if let Some(elements) = self.dump_once(table, set)? {
                return Ok(elements);
            }
        }
    }

    fn dump_once(&mut self, table: &str, set: &str) -> io::Result<Option<Vec<RawElement>>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut msg = Vec::with_capacity(64);
        msg.extend_from_slice(&0u32.to_ne_bytes()); // length, filled in below
        msg.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM).to_ne_bytes());
        msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        msg.extend_from_slice(&seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        msg.extend_from_slice(&[NFPROTO_INET, 0, 0, 0]); // nfgenmsg: family, version, res_id
        put_str(&mut msg, NFTA_SET_ELEM_LIST_TABLE, table);
        put_str(&mut msg, NFTA_SET_ELEM_LIST_SET, set);
        let len = msg.len() as u32;
        msg[..4].copy_from_slice(&len.to_ne_bytes());
        // SAFETY: `msg` is a valid buffer of `msg.len()` bytes; the kernel is the destination
        // of an unconnected netlink socket by default.
        let sent = unsafe {
            let mut addr: libc::sockaddr_nl = std::mem::zeroed();
            addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut elements = Vec::new();
        let mut interrupted = false;
        loop {
            // SAFETY: `buf` is writable for its whole length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    0,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let mut data = &self.buf[..n as usize];
            while data.len() >= 16 {
                let len = u32::from_ne_bytes(data[0..4].try_into().unwrap()) as usize;
                let kind = u16::from_ne_bytes(data[4..6].try_into().unwrap());
                let flags = u16::from_ne_bytes(data[6..8].try_into().unwrap());
                let msg_seq = u32::from_ne_bytes(data[8..12].try_into().unwrap());
                if len < 16 || len > data.len() {
                    return Err(invalid("truncated netlink message"));
                }
                let body = &data[16..len];
                data = &data[align(len).min(data.len())..];
                if msg_seq != seq {
                    continue; // a reply to an earlier, abandoned request
                }
                interrupted |= flags & NLM_F_DUMP_INTR != 0;
                match kind {
                    NLMSG_DONE => return Ok((!interrupted).then_some(elements)),
                    NLMSG_ERROR => {
                        let errno = body
                            .get(0..4)
                            .map(|b| i32::from_ne_bytes(b.try_into().unwrap()))
                            .unwrap_or(-libc::EIO);
                        if errno == 0 {
                            continue;
                        }
                        return Err(io::Error::from_raw_os_error(-errno));
                    }
                    _ => parse_elements(body.get(4..).unwrap_or_default(), &mut elements)?,
                }
            }
        }
    }
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

fn put_str(msg: &mut Vec<u8>, kind: u16, value: &str) {
    let len = 4 + value.len() + 1;
    msg.extend_from_slice(&(len as u16).to_ne_bytes());
    msg.extend_from_slice(&kind.to_ne_bytes());
    msg.extend_from_slice(value.as_bytes());
    msg.push(0);
    msg.resize(align(msg.len()), 0);
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// Netlink attributes in `data`, as (type, payload).
fn attributes(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let kind = u16::from_ne_bytes([data[2], data[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > data.len() {
            return None;
        }
        let payload = &data[4..len];
        data = &data[align(len).min(data.len())..];
        Some((kind, payload))
    })
}

fn be_u64(b: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(b.try_into().ok()?))
}

/// Reads the elements of one `NEWSETELEM` message body (after the nfgenmsg header).
fn parse_elements(body: &[u8], out: &mut Vec<RawElement>) -> io::Result<()> {
    for (kind, list) in attributes(body) {
        if kind != NFTA_SET_ELEM_LIST_ELEMENTS {
            continue;
        }
        for (kind, elem) in attributes(list) {
            if kind != NFTA_LIST_ELEM {
                continue;
            }
            let mut e = RawElement {
                key: Vec::new(),
                interval_end: false,
                expires: None,
            };
            let mut timeout = None;
            for (kind, value) in attributes(elem) {
                match kind {
                    NFTA_SET_ELEM_KEY => {
                        if let Some((_, v)) = attributes(value).find(|(k, _)| *k == NFTA_DATA_VALUE)
                        {
                            e.key = v.to_vec();
                        }
                    }
                    NFTA_SET_ELEM_FLAGS => {
                        let flags = u32::from_be_bytes(
                            value.try_into().map_err(|_| invalid("element flags"))?,
                        );
                        e.interval_end = flags & NFT_SET_ELEM_INTERVAL_END != 0;
                    }
                    NFTA_SET_ELEM_TIMEOUT => timeout = be_u64(value),
                    NFTA_SET_ELEM_EXPIRATION => {
                        e.expires = be_u64(value).map(Duration::from_millis);
                    }
                    _ => {}
                }
            }
            if e.expires.is_none() {
                e.expires = timeout.map(Duration::from_millis);
            }
            out.push(e);
        }
    }
    Ok(())
}

fn key_addr(key: &[u8]) -> Option<IpAddr> {
    match key.len() {
        4 => Some(Ipv4Addr::from(<[u8; 4]>::try_from(key).ok()?).into()),
        16 => Some(Ipv6Addr::from(<[u8; 16]>::try_from(key).ok()?).into()),
        _ => None,
    }
}

fn addr_value(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The elements of a hash set (one address each).
pub(crate) fn hosts(elements: Vec<RawElement>) -> Vec<(IpNet, Option<Duration>)> {
    elements
        .into_iter()
        .filter_map(|e| Some((IpNet::from(key_addr(&e.key)?), e.expires)))
        .collect()
}

/// The prefixes of an interval set: each start element is followed (in address order) by the
/// element ending it (`INTERVAL_END`, holding the first address after the range), or by
/// nothing when the range reaches the end of the address space.
pub(crate) fn prefixes(elements: Vec<RawElement>) -> Vec<(IpNet, Option<Duration>)> {
    let mut items: Vec<(u128, bool, IpAddr, Option<Duration>)> = elements
        .into_iter()
        .filter_map(|e| {
            let a = key_addr(&e.key)?;
            Some((addr_value(a), !e.interval_end, a, e.expires))
        })
        .collect();
    // Ends sort before starts at the same address (adjacent ranges).
    items.sort_by_key(|(v, is_start, _, _)| (*v, *is_start));
    let mut out = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let (start, is_start, addr, expires) = items[i];
        i += 1;
        if !is_start {
            continue;
        }
        let bits: u32 = if addr.is_ipv4() { 32 } else { 128 };
        let end = match items.get(i) {
            Some((end, false, _, _)) => {
                i += 1;
                *end
            }
            // Open-ended: up to the last address.
            _ => {
                if bits == 128 {
                    0 // wraps: size computed below as 2^128 - start
                } else {
                    1u128 << 32
                }
            }
        };
        let size = end.wrapping_sub(start);
        let host_bits = if size == 0 {
            128 // the whole IPv6 space
        } else if size.is_power_of_two() {
            size.trailing_zeros()
        } else {
            tracing::warn!(%addr, "ignoring an interval that is not a prefix");
            continue;
        };
        match u8::try_from(bits.saturating_sub(host_bits))
            .ok()
            .and_then(|len| IpNet::new(addr, len).ok())
        {
            Some(net) if start.trailing_zeros() >= host_bits || start == 0 => {
                out.push((net, expires))
            }
            _ => tracing::warn!(%addr, "ignoring an interval that is not a prefix"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(key: &[u8], end: bool, secs: Option<u64>) -> RawElement {
        RawElement {
            key: key.to_vec(),
            interval_end: end,
            expires: secs.map(Duration::from_secs),
        }
    }

    #[test]
    fn intervals_become_prefixes() {
        let got = prefixes(vec![
            el(&[198, 51, 101, 0], true, None),
            el(&[198, 51, 100, 0], false, Some(5)),
            el(&[203, 0, 113, 128], true, None),
            el(&[203, 0, 113, 0], false, None),
            el(&[255, 255, 255, 0], false, Some(9)),
        ]);
        assert_eq!(
            got,
            [
                (
                    "198.51.100.0/24".parse().unwrap(),
                    Some(Duration::from_secs(5))
                ),
                ("203.0.113.0/25".parse().unwrap(), None),
                (
                    "255.255.255.0/24".parse().unwrap(),
                    Some(Duration::from_secs(9))
                ),
            ]
        );
    }

    #[test]
    fn adjacent_intervals_pair_up() {
        let got = prefixes(vec![
            el(&[192, 0, 2, 0], false, None),
            el(&[192, 0, 2, 128], true, None),
            el(&[192, 0, 2, 128], false, None),
            el(&[192, 0, 3, 0], true, None),
        ]);
        let nets: Vec<IpNet> = got.into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            nets,
            [
                "192.0.2.0/25".parse::<IpNet>().unwrap(),
                "192.0.2.128/25".parse().unwrap()
            ]
        );
    }

    #[test]
    fn attributes_are_walked_with_padding() {
        let mut msg = Vec::new();
        put_str(&mut msg, 1, "warden");
        put_str(&mut msg, 2, "addr4-x");
        let got: Vec<(u16, &[u8])> = attributes(&msg).collect();
        assert_eq!(got, [(1, &b"warden\0"[..]), (2, &b"addr4-x\0"[..])]);
    }
}
