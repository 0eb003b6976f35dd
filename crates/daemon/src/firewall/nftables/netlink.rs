//! Talking to nftables over a raw netlink socket: reading a set's elements (one
//! `NFT_MSG_GETSETELEM` dump) and changing them (`NFT_MSG_NEWSETELEM` / `NFT_MSG_DELSETELEM`
//! messages between `NFNL_MSG_BATCH_BEGIN` and `NFNL_MSG_BATCH_END`: one transaction).
//!
//! libnftables can do both, but slowly for what a ban needs. It lists a set by rendering every
//! element through nft's expression machinery and then JSON: about a second for 100,000
//! elements, several under load; the raw dump takes a few tens of milliseconds. And before every
//! command it refreshes its cache with about ten netlink requests (tables, sets, the elements of
//! interval sets, chains, ...), one of which now and then takes milliseconds: a ban through
//! libnftables took 1.3 ms typically but 4–7 ms in one trial of ten. A batch written here is one
//! `sendmsg` and one read of the kernel's acknowledgements, with no cache at all. The messages
//! are the ones `nft add element` / `nft delete element` send (compare `nft --debug=mnl`).

use ipnet::IpNet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

const NETLINK_NETFILTER: libc::c_int = 12;
const SOL_NETLINK: libc::c_int = 270;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_GETSETELEM: u16 = 13;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFPROTO_INET: u8 = 1;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLMSGERR_ATTR_OFFS: u16 = 2;
const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;
const NLMSG_HDRLEN: usize = 16;
/// Netlink header plus `struct nfgenmsg`.
const NFNL_HDRLEN: usize = 20;

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

/// Most bytes of elements in one message: the element list is one attribute, whose length is
/// 16 bits. Messages of this size hold about 2,300 IPv4 addresses with timeouts.
const MAX_ELEMENTS_LEN: usize = 60_000;
/// Receive buffer room per acknowledgement: each is a small skb, charged with its overhead.
const ACK_ROOM: usize = 2048;
/// How long to wait for acknowledgements still missing once `sendmsg` returned (the kernel
/// processes a batch inside `sendmsg`, so they are normally all there already).
const ACK_WAIT_MS: libc::c_int = 2000;

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
    /// The socket's send buffer as the kernel reports it (twice what was asked for).
    sndbuf: usize,
    /// The receive buffer asked for so far (0: the system default).
    rcvbuf: usize,
    /// A send buffer size to keep to instead of raising it (tests of the split path).
    sndbuf_limit: Option<usize>,
}

impl NetlinkSocket {
    /// One `recv` into the receive buffer: the length read, or negative on error (`errno`).
    fn recv(&mut self, flags: libc::c_int) -> isize {
        // SAFETY: `buf` is writable for its whole length.
        unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                self.buf.as_mut_ptr().cast(),
                self.buf.len(),
                flags,
            )
        }
    }

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
        let mut sock = NetlinkSocket {
            // SAFETY: `fd` is a fresh descriptor nobody else owns.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            seq: 0,
            // A dump reply is at most 32 KiB (the kernel's limit for dump skbs); an
            // acknowledgement is much smaller (capped, below). Only touched pages are resident.
            buf: vec![0; 128 << 10],
            sndbuf: 0,
            rcvbuf: 0,
            sndbuf_limit: None,
        };
        // Errors then carry only the failing message's header, not a copy of its (up to
        // 64 KiB of) elements, plus the offset of the failing element and any message text.
        // Both are optional (kernels before 4.3 / 4.12): errors just say less without them.
        let _ = sock.set_int(SOL_NETLINK, NETLINK_CAP_ACK, 1);
        let _ = sock.set_int(SOL_NETLINK, NETLINK_EXT_ACK, 1);
        sock.sndbuf = sock.get_int(libc::SOL_SOCKET, libc::SO_SNDBUF)?;
        Ok(sock)
    }

    /// Keeps the send buffer at `bytes` (as `SO_SNDBUF` reports it): batches larger than that
    /// are then split as when the buffer cannot be raised.
    pub fn limit_send_buffer(&mut self, bytes: usize) {
        let _ = self.set_int(libc::SOL_SOCKET, libc::SO_SNDBUF, bytes / 2);
        self.sndbuf_limit = Some(
            self.get_int(libc::SOL_SOCKET, libc::SO_SNDBUF)
                .unwrap_or(bytes)
                .min(bytes),
        );
    }

    fn set_int(&self, level: libc::c_int, name: libc::c_int, value: usize) -> io::Result<()> {
        let v = libc::c_int::try_from(value).unwrap_or(libc::c_int::MAX);
        // SAFETY: `v` is a live c_int of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn get_int(&self, level: libc::c_int, name: libc::c_int) -> io::Result<usize> {
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `v` and `len` are live and sized as the kernel expects.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if rc == 0 {
            Ok(usize::try_from(v).unwrap_or(0))
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Raises a socket buffer to `bytes`: beyond the system maximum with `*BUFFORCE` when
    /// privileged (as nft does), else as far as the maximum allows.
    fn raise_buffer(&self, force: libc::c_int, plain: libc::c_int, bytes: usize) {
        if self.set_int(libc::SOL_SOCKET, force, bytes).is_err() {
            let _ = self.set_int(libc::SOL_SOCKET, plain, bytes);
        }
    }

    /// Sends `batch` and waits for the kernel's verdict on each of its messages. The batch is
    /// one transaction (all or nothing) unless the socket's send buffer cannot be made large
    /// enough for it (`SO_SNDBUFFORCE` needs `CAP_NET_ADMIN` in the initial user namespace):
    /// it is then sent as several transactions of whole messages, in order.
    ///
    /// The error names each refused element, the operation, the set and the kernel's reason;
    /// when the kernel refuses anything, that transaction changed nothing.
    pub fn send_batch(&mut self, batch: &mut Batch) -> Result<(), String> {
        if batch.msgs.is_empty() {
            return Ok(());
        }
        let wanted = batch.buf.len() + 2 * NFNL_HDRLEN + 64;
        if let Some(limit) = self.sndbuf_limit {
            self.sndbuf = limit;
        } else if self.sndbuf < wanted + 32 {
            self.raise_buffer(libc::SO_SNDBUFFORCE, libc::SO_SNDBUF, wanted);
            self.sndbuf = self
                .get_int(libc::SOL_SOCKET, libc::SO_SNDBUF)
                .map_err(|e| format!("netlink socket: {e}"))?;
        }
        // What `netlink_sendmsg` accepts: the buffer less 32 bytes.
        let room = self.sndbuf.saturating_sub(32 + 2 * NFNL_HDRLEN);
        let mut first = 0;
        let mut transactions = 0;
        while first < batch.msgs.len() {
            let mut last = first + 1;
            while last < batch.msgs.len() && batch.span(first, last + 1).len() <= room {
                last += 1;
            }
            self.send_transaction(batch, first, last)?;
            transactions += 1;
            first = last;
        }
        if transactions > 1 {
            tracing::debug!(
                transactions,
                bytes = batch.buf.len(),
                sndbuf = self.sndbuf,
                "nftables batch split: the netlink send buffer could not be enlarged"
            );
        }
        Ok(())
    }

    /// Sends messages `first..last` of `batch` as one transaction and reads the verdicts.
    fn send_transaction(
        &mut self,
        batch: &mut Batch,
        first: usize,
        last: usize,
    ) -> Result<(), String> {
        let count = last - first;
        let begin_seq = self.seq.wrapping_add(1);
        for (i, m) in batch.msgs[first..last].iter().enumerate() {
            let seq = begin_seq.wrapping_add(1 + i as u32);
            batch.buf[m.start + 8..m.start + 12].copy_from_slice(&seq.to_ne_bytes());
        }
        let end_seq = begin_seq.wrapping_add(1 + count as u32);
        self.seq = end_seq;
        let begin = batch_marker(NFNL_MSG_BATCH_BEGIN, begin_seq);
        let end = batch_marker(NFNL_MSG_BATCH_END, end_seq);
        // Every acknowledgement is queued before `sendmsg` returns; none may be dropped.
        let ack_room = (count + 2) * ACK_ROOM + (64 << 10);
        if ack_room > self.rcvbuf {
            let ask = ack_room.max(1 << 20);
            self.raise_buffer(libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, ask);
            self.rcvbuf = ask;
        }
        let body = batch.span(first, last);
        let mut iov = [
            libc::iovec {
                iov_base: begin.as_ptr() as *mut libc::c_void,
                iov_len: begin.len(),
            },
            libc::iovec {
                iov_base: body.as_ptr() as *mut libc::c_void,
                iov_len: body.len(),
            },
            libc::iovec {
                iov_base: end.as_ptr() as *mut libc::c_void,
                iov_len: end.len(),
            },
        ];
        // SAFETY: the iovecs point at live buffers of the given lengths; a zeroed sockaddr_nl
        // with only the family set addresses the kernel.
        let sent = loop {
            let rc = unsafe {
                let mut addr: libc::sockaddr_nl = std::mem::zeroed();
                addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
                let mut msg: libc::msghdr = std::mem::zeroed();
                msg.msg_name = (&mut addr as *mut libc::sockaddr_nl).cast();
                msg.msg_namelen = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
                msg.msg_iov = iov.as_mut_ptr();
                msg.msg_iovlen = iov.len() as _;
                libc::sendmsg(self.fd.as_raw_fd(), &msg, 0)
            };
            if rc >= 0 {
                break rc as usize;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(format!(
                    "sending {} bytes of set changes to the kernel: {e}",
                    begin.len() + body.len() + end.len()
                ));
            }
        };
        if sent != begin.len() + body.len() + end.len() {
            return Err(format!(
                "the kernel took {sent} of {} bytes",
                begin.len() + body.len() + end.len()
            ));
        }
        self.read_verdicts(batch, first, begin_seq, count)
    }

    /// Reads one acknowledgement per message of a transaction (`NLM_F_ACK`), collecting the
    /// errors, and any error about the transaction as a whole.
    fn read_verdicts(
        &mut self,
        batch: &Batch,
        first: usize,
        begin_seq: u32,
        count: usize,
    ) -> Result<(), String> {
        let mut acked = vec![false; count];
        let mut missing = count;
        let mut errors: Vec<String> = Vec::new();
        let mut refused = 0usize;
        let mut whole: Option<String> = None;
        loop {
            let n = self.recv(libc::MSG_DONTWAIT);
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EAGAIN) => {
                        if missing == 0 || whole.is_some() {
                            break;
                        }
                        let mut pfd = libc::pollfd {
                            fd: self.fd.as_raw_fd(),
                            events: libc::POLLIN,
                            revents: 0,
                        };
                        // SAFETY: one live pollfd.
                        if unsafe { libc::poll(&mut pfd, 1, ACK_WAIT_MS) } == 0 {
                            whole = Some(format!(
                                "no acknowledgement from the kernel for {missing} of {count} \
                                 messages; their outcome is unknown"
                            ));
                            break;
                        }
                        continue;
                    }
                    _ => {
                        return Err(format!(
                            "reading the kernel's acknowledgements: {e}; the outcome of the \
                             batch is unknown"
                        ))
                    }
                }
            }
            let mut data = &self.buf[..n as usize];
            while data.len() >= NLMSG_HDRLEN {
                let len = u32::from_ne_bytes(data[0..4].try_into().unwrap()) as usize;
                let kind = u16::from_ne_bytes(data[4..6].try_into().unwrap());
                let flags = u16::from_ne_bytes(data[6..8].try_into().unwrap());
                let seq = u32::from_ne_bytes(data[8..12].try_into().unwrap());
                if len < NLMSG_HDRLEN || len > data.len() {
                    return Err("truncated netlink acknowledgement".into());
                }
                let body = &data[NLMSG_HDRLEN..len];
                data = &data[align(len).min(data.len())..];
                if kind != NLMSG_ERROR {
                    continue;
                }
                let ack = Ack::parse(body, flags);
                let index = seq.wrapping_sub(begin_seq);
                if index == 0 {
                    // About the transaction as a whole (malformed, out of memory, commit).
                    if ack.errno != 0 {
                        whole = Some(ack.describe());
                    }
                } else if (index as usize) <= count {
                    let i = index as usize - 1;
                    if !acked[i] {
                        acked[i] = true;
                        missing -= 1;
                    }
                    if ack.errno != 0 {
                        refused += 1;
                        if errors.len() < 5 {
                            errors.push(batch.describe(first + i, &ack));
                        }
                    }
                }
                // Anything else answers an earlier, abandoned request.
            }
        }
        if let Some(mut w) = whole {
            for e in errors {
                w.push_str("; ");
                w.push_str(&e);
            }
            return Err(w);
        }
        if !errors.is_empty() {
            let mut text = errors.join("; ");
            if refused > errors.len() {
                text.push_str(&format!(" (and {} more)", refused - errors.len()));
            }
            text.push_str("; the kernel applied none of the transaction");
            return Err(text);
        }
        Ok(())
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
            let n = self.recv(0);
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

/// A batch begin or end message (`res_id`: the nftables subsystem, in network order).
fn batch_marker(kind: u16, seq: u32) -> [u8; NFNL_HDRLEN] {
    let mut m = [0u8; NFNL_HDRLEN];
    m[0..4].copy_from_slice(&(NFNL_HDRLEN as u32).to_ne_bytes());
    m[4..6].copy_from_slice(&kind.to_ne_bytes());
    m[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    m[16..20].copy_from_slice(&[0, 0, 0, NFNL_SUBSYS_NFTABLES as u8]);
    m
}

/// Starts a nested attribute; [`end_nest`] fills in its length.
fn begin_nest(buf: &mut Vec<u8>, kind: u16) -> usize {
    let at = buf.len();
    buf.extend_from_slice(&0u16.to_ne_bytes());
    buf.extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    at
}

fn end_nest(buf: &mut [u8], at: usize) {
    let len = u16::try_from(buf.len() - at).expect("nested attribute over 64 KiB");
    buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
}

fn put_bytes(buf: &mut Vec<u8>, kind: u16, value: &[u8]) {
    buf.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(value);
    buf.resize(align(buf.len()), 0);
}

/// Whether a message adds or removes elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ElemOp {
    /// `NFT_MSG_NEWSETELEM` with `NLM_F_CREATE` and without `NLM_F_EXCL`, like `nft add
    /// element`: a present element is no error (and newer kernels take its new timeout).
    Add,
    /// `NFT_MSG_DELSETELEM`: an absent element fails the transaction.
    Delete,
}

/// One message of a [`Batch`].
#[derive(Debug)]
struct Msg {
    /// Where the message starts in [`Batch::buf`].
    start: usize,
    op: ElemOp,
    set: String,
    /// Each element's offset within the message, to name the one an error points at.
    elements: Vec<(u32, IpNet)>,
}

/// Set element changes of `inet <table>`, encoded as netlink messages for
/// [`NetlinkSocket::send_batch`], in the order given.
#[derive(Debug)]
pub(crate) struct Batch {
    table: String,
    buf: Vec<u8>,
    msgs: Vec<Msg>,
    /// Where the open message's element list attribute starts.
    open_list: Option<usize>,
}

impl Batch {
    pub fn new(table: &str) -> Batch {
        Batch {
            table: table.to_owned(),
            buf: Vec::new(),
            msgs: Vec::new(),
            open_list: None,
        }
    }

    /// Adds or removes `items` in set `set`. Addresses are keys of their own; in an interval
    /// set (`interval`), a prefix is its first address and an element flagged
    /// `NFT_SET_ELEM_INTERVAL_END` holding the first address after it, left out when the
    /// prefix reaches the end of the address space, as nft writes them. Timeouts are given in
    /// milliseconds (at least 1) on the element (the start element of a prefix).
    pub fn push(
        &mut self,
        op: ElemOp,
        set: &str,
        interval: bool,
        items: impl IntoIterator<Item = (IpNet, Option<Duration>)>,
    ) {
        self.close();
        for (net, timeout) in items {
            let net = net.trunc();
            let end = if interval { interval_end(&net) } else { None };
            let key_len = if net.addr().is_ipv4() { 4 } else { 16 };
            // LIST_ELEM header, KEY { VALUE }, TIMEOUT, and the end element with FLAGS.
            let size = 4 + 8 + key_len + 12 + end.map_or(0, |_| 4 + 8 + key_len + 8);
            let open = match self.open_list {
                Some(at) => self.buf.len() + size - at <= MAX_ELEMENTS_LEN,
                None => false,
            };
            if !open {
                self.close();
                self.open(op, set);
            }
            let msg = self.msgs.last_mut().expect("a message is open");
            msg.elements
                .push(((self.buf.len() - msg.start) as u32, net));
            let elem = begin_nest(&mut self.buf, NFTA_LIST_ELEM);
            if let Some(t) = timeout {
                let ms = u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1);
                put_bytes(&mut self.buf, NFTA_SET_ELEM_TIMEOUT, &ms.to_be_bytes());
            }
            let key = begin_nest(&mut self.buf, NFTA_SET_ELEM_KEY);
            put_bytes(&mut self.buf, NFTA_DATA_VALUE, &addr_bytes(net.addr()));
            end_nest(&mut self.buf, key);
            end_nest(&mut self.buf, elem);
            if let Some(end) = end {
                let msg = self.msgs.last_mut().expect("a message is open");
                msg.elements
                    .push(((self.buf.len() - msg.start) as u32, net));
                let elem = begin_nest(&mut self.buf, NFTA_LIST_ELEM);
                put_bytes(
                    &mut self.buf,
                    NFTA_SET_ELEM_FLAGS,
                    &NFT_SET_ELEM_INTERVAL_END.to_be_bytes(),
                );
                let key = begin_nest(&mut self.buf, NFTA_SET_ELEM_KEY);
                put_bytes(&mut self.buf, NFTA_DATA_VALUE, &addr_bytes(end));
                end_nest(&mut self.buf, key);
                end_nest(&mut self.buf, elem);
            }
        }
        self.close();
    }

    fn open(&mut self, op: ElemOp, set: &str) {
        let start = self.buf.len();
        let (kind, flags) = match op {
            ElemOp::Add => (NFT_MSG_NEWSETELEM, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE),
            ElemOp::Delete => (NFT_MSG_DELSETELEM, NLM_F_REQUEST | NLM_F_ACK),
        };
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // length, see `close`
        self.buf
            .extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | kind).to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // sequence, set when sent
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        self.buf.extend_from_slice(&[NFPROTO_INET, 0, 0, 0]);
        put_str(&mut self.buf, NFTA_SET_ELEM_LIST_TABLE, &self.table);
        put_str(&mut self.buf, NFTA_SET_ELEM_LIST_SET, set);
        self.open_list = Some(begin_nest(&mut self.buf, NFTA_SET_ELEM_LIST_ELEMENTS));
        self.msgs.push(Msg {
            start,
            op,
            set: set.to_owned(),
            elements: Vec::new(),
        });
    }

    fn close(&mut self) {
        if let Some(list) = self.open_list.take() {
            end_nest(&mut self.buf, list);
            let msg = self.msgs.last().expect("a message is open");
            let len = (self.buf.len() - msg.start) as u32;
            self.buf[msg.start..msg.start + 4].copy_from_slice(&len.to_ne_bytes());
        }
    }

    /// The bytes of messages `first..last`.
    fn span(&self, first: usize, last: usize) -> &[u8] {
        let end = self.msgs.get(last).map_or(self.buf.len(), |m| m.start);
        &self.buf[self.msgs[first].start..end]
    }

    /// What the error `ack` about message `index` means.
    fn describe(&self, index: usize, ack: &Ack) -> String {
        let msg = &self.msgs[index];
        let element = ack
            .offset
            .and_then(|off| msg.elements.iter().rev().find(|(at, _)| *at <= off))
            .map(|(_, net)| element_text(net));
        let (verb, prep) = match msg.op {
            ElemOp::Add => ("add", "to"),
            ElemOp::Delete => ("delete", "from"),
        };
        let what = match element {
            Some(e) => format!("{verb} {e} {prep}"),
            None => format!(
                "{verb} {} element(s) {prep}",
                msg.elements
                    .iter()
                    .map(|(_, n)| n)
                    .collect::<std::collections::BTreeSet<_>>()
                    .len()
            ),
        };
        format!(
            "{what} set inet {} {}: {}",
            self.table,
            msg.set,
            ack.describe()
        )
    }

    /// The operations, sets and elements of the batch, in order (for tests).
    #[cfg(test)]
    pub(crate) fn summary(&self) -> Vec<(ElemOp, String, Vec<IpNet>)> {
        let mut out: Vec<(ElemOp, String, Vec<IpNet>)> = Vec::new();
        for m in &self.msgs {
            let mut nets: Vec<IpNet> = m.elements.iter().map(|(_, n)| *n).collect();
            nets.dedup();
            match out.last_mut() {
                Some((op, set, prev)) if *op == m.op && *set == m.set => prev.extend(nets),
                _ => out.push((m.op, m.set.clone(), nets)),
            }
        }
        out
    }
}

/// The first address after an interval set's prefix, `None` past the end of the space.
fn interval_end(net: &IpNet) -> Option<IpAddr> {
    match net {
        IpNet::V4(n) => u32::from(n.broadcast())
            .checked_add(1)
            .map(|v| IpAddr::V4(v.into())),
        IpNet::V6(n) => u128::from(n.broadcast())
            .checked_add(1)
            .map(|v| IpAddr::V6(v.into())),
    }
}

fn addr_bytes(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn element_text(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// An acknowledgement (`NLMSG_ERROR`): the error number and the extended-ack details.
#[derive(Debug, Default)]
struct Ack {
    errno: i32,
    message: Option<String>,
    /// Offset of the attribute at fault within the failed message.
    offset: Option<u32>,
}

impl Ack {
    fn parse(body: &[u8], flags: u16) -> Ack {
        let errno = body
            .get(0..4)
            .map(|b| -i32::from_ne_bytes(b.try_into().unwrap()))
            .unwrap_or(libc::EIO);
        let mut ack = Ack {
            errno,
            ..Ack::default()
        };
        if flags & NLM_F_ACK_TLVS != 0 {
            // The failed message follows the error number: its header only when capped.
            let echoed = if flags & NLM_F_CAPPED != 0 {
                NLMSG_HDRLEN
            } else {
                body.get(4..8)
                    .map(|b| u32::from_ne_bytes(b.try_into().unwrap()) as usize)
                    .unwrap_or(NLMSG_HDRLEN)
            };
            let tlvs = body.get(4 + align(echoed)..).unwrap_or_default();
            for (kind, value) in attributes(tlvs) {
                match kind {
                    NLMSGERR_ATTR_MSG => {
                        let text = String::from_utf8_lossy(value);
                        let text = text.trim_end_matches('\0').trim();
                        if !text.is_empty() {
                            ack.message = Some(text.to_owned());
                        }
                    }
                    NLMSGERR_ATTR_OFFS => {
                        ack.offset = value.try_into().ok().map(u32::from_ne_bytes);
                    }
                    _ => {}
                }
            }
        }
        ack
    }

    fn describe(&self) -> String {
        let mut s = io::Error::from_raw_os_error(self.errno).to_string();
        if let Some(m) = &self.message {
            s.push_str(" (");
            s.push_str(m);
            s.push(')');
        }
        s
    }
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

    /// The messages of a batch, each as (type, flags, elements read back by the dump parser).
    fn decode(batch: &Batch) -> Vec<(u16, u16, Vec<RawElement>)> {
        let mut out = Vec::new();
        let mut data = &batch.buf[..];
        while !data.is_empty() {
            let len = u32::from_ne_bytes(data[0..4].try_into().unwrap()) as usize;
            let kind = u16::from_ne_bytes(data[4..6].try_into().unwrap());
            let flags = u16::from_ne_bytes(data[6..8].try_into().unwrap());
            assert!(
                len <= data.len() && len.is_multiple_of(4),
                "message length {len}"
            );
            assert_eq!(data[16], NFPROTO_INET);
            let body = &data[NFNL_HDRLEN..len];
            let names: Vec<(u16, &[u8])> = attributes(body).take(2).collect();
            assert_eq!(names[0], (NFTA_SET_ELEM_LIST_TABLE, &b"warden\0"[..]));
            let mut elements = Vec::new();
            parse_elements(body, &mut elements).unwrap();
            out.push((kind, flags, elements));
            data = &data[len..];
        }
        out
    }

    #[test]
    fn elements_are_encoded_as_nft_sends_them() {
        let mut batch = Batch::new("warden");
        batch.push(
            ElemOp::Add,
            "net4-sshd",
            true,
            [
                (
                    "198.51.100.7/24".parse().unwrap(),
                    Some(Duration::from_secs(600)),
                ),
                ("255.255.255.0/24".parse().unwrap(), None),
            ],
        );
        batch.push(
            ElemOp::Delete,
            "addr6-sshd",
            false,
            [("2001:db8::1/128".parse().unwrap(), None)],
        );
        let got = decode(&batch);
        assert_eq!(got.len(), 2);
        let (kind, flags, els) = &got[0];
        assert_eq!(*kind, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM);
        assert_eq!(*flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE);
        assert_eq!(
            *els,
            [
                RawElement {
                    key: vec![198, 51, 100, 0],
                    interval_end: false,
                    expires: Some(Duration::from_secs(600)),
                },
                // The end of the range: the first address after it, without a timeout.
                RawElement {
                    key: vec![198, 51, 101, 0],
                    interval_end: true,
                    expires: None,
                },
                // Up to the last address: no end element.
                RawElement {
                    key: vec![255, 255, 255, 0],
                    interval_end: false,
                    expires: None,
                },
            ]
        );
        assert_eq!(prefixes(els.clone()).len(), 2);
        let (kind, flags, els) = &got[1];
        assert_eq!(*kind, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELSETELEM);
        assert_eq!(*flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(els.len(), 1);
        assert_eq!(
            els[0].key,
            "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets()
        );
    }

    #[test]
    fn large_batches_are_split_into_messages() {
        let nets: Vec<(IpNet, Option<Duration>)> = (0..20_000u32)
            .map(|i| {
                let a = IpAddr::V4(Ipv4Addr::from(0xc612_0000 + i));
                (IpNet::from(a), Some(Duration::from_millis(1)))
            })
            .collect();
        let mut batch = Batch::new("warden");
        batch.push(ElemOp::Add, "addr4-bulk", false, nets.iter().copied());
        let got = decode(&batch);
        assert!(got.len() > 5, "{} messages", got.len());
        let keys: Vec<Vec<u8>> = got
            .into_iter()
            .flat_map(|(_, _, e)| e)
            .map(|e| e.key)
            .collect();
        assert_eq!(keys.len(), 20_000);
        assert_eq!(keys[19_999], [198, 18, 0x4e, 0x1f]);
        for m in 0..batch.msgs.len() {
            assert!(batch.span(m, m + 1).len() <= MAX_ELEMENTS_LEN + 100);
        }
        assert_eq!(batch.span(0, batch.msgs.len()).len(), batch.buf.len());
    }

    #[test]
    fn errors_name_the_element_the_kernel_points_at() {
        let mut batch = Batch::new("warden");
        batch.push(
            ElemOp::Delete,
            "addr4-sshd",
            false,
            [
                ("192.0.2.1/32".parse().unwrap(), None),
                ("192.0.2.2/32".parse().unwrap(), None),
            ],
        );
        // An extended, capped acknowledgement: error, the message header, then attributes.
        let mut body = (-libc::ENOENT).to_ne_bytes().to_vec();
        body.extend_from_slice(&batch.buf[..NLMSG_HDRLEN]);
        let second = batch.msgs[0].elements[1].0;
        put_bytes(&mut body, NLMSGERR_ATTR_OFFS, &(second + 4).to_ne_bytes());
        let ack = Ack::parse(&body, NLM_F_CAPPED | NLM_F_ACK_TLVS);
        assert_eq!(ack.errno, libc::ENOENT);
        let text = batch.describe(0, &ack);
        assert!(
            text.starts_with("delete 192.0.2.2 from set inet warden addr4-sshd: No such file"),
            "{text}"
        );
        let plain = Ack::parse(&(-libc::EEXIST).to_ne_bytes(), 0);
        let text = batch.describe(0, &plain);
        assert!(text.starts_with("delete 2 element(s) from set"), "{text}");
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
