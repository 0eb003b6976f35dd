//! The filter the benchmarks run: Debian's fail2ban 1.0.2 `filter.d/sshd.conf` in its default
//! `mode = normal`, as Fail2Ban resolves it (interpolations done, tags such as `<HOST>` left for
//! Warden to expand), and lines of the kinds Debian's `/var/log/auth.log` holds.
//!
//! The regexes are written out here rather than read from the package so that the benchmarks
//! need no download; `scripts/bench/regex-vs-fail2ban` runs the package's own file.
#![allow(dead_code)] // each bench uses part of this module

use warden_filter::FilterSpec;

/// A fixed "now" (2023-12-01 00:00:00 UTC) so year-less syslog dates fall in the past.
pub const NOW: f64 = 1_701_388_800.0;

/// `prefregex`: the syslog prefix up to the message, then `<F-CONTENT>`.
pub const PREFREGEX: &str = r"^<F-MLFID>(?:\[\])?\s*(?:<[^.]+\.[^.]+>\s+)?(?:\S+\s+)?(?:kernel:\s?\[ *\d+\.\d+\]:?\s+)?(?:@vserver_\S+\s+)?(?:(?:(?:\[\d+\])?:\s+[\[\(]?sshd(?:\(\S+\))?[\]\)]?:?|[\[\(]?sshd(?:\(\S+\))?[\]\)]?:?(?:\[\d+\])?:?)\s+)?(?:\[ID \d+ \S+\]\s+)?</F-MLFID>(?:(?:error|fatal): (?:PAM: )?)?<F-CONTENT>.+</F-CONTENT>$";

/// `failregex`, in order. Two need PCRE2 (a conditional and look-aheads); the rest run on
/// the `regex` crate.
pub const FAILREGEX: &[&str] = &[
    r"^[aA]uthentication (?:failure|error|failed) for <F-USER>.*</F-USER> from <HOST>( via \S+)?(?: (?:port \d+|on \S+|\[preauth\])){0,3}\s*$",
    r"^User not known to the underlying authentication module for <F-USER>.*</F-USER> from <HOST>(?: (?:port \d+|on \S+|\[preauth\])){0,3}\s*$",
    r"^Failed publickey for invalid user <F-USER>(?P<cond_user>\S+)|(?:(?! from ).)*?</F-USER> from <HOST>(?: (?:port \d+|on \S+)){0,2}(?: ssh\d*)?(?(cond_user): |(?:(?:(?! from ).)*)$)",
    r"^Failed (?:<F-NOFAIL>publickey</F-NOFAIL>|\S+) for (?P<cond_inv>invalid user )?<F-USER>(?P<cond_user>\S+)|(?(cond_inv)(?:(?! from ).)*?|[^:]+)</F-USER> from <HOST>(?: (?:port \d+|on \S+)){0,2}(?: ssh\d*)?(?(cond_user): |(?:(?:(?! from ).)*)$)",
    r"^<F-USER>ROOT</F-USER> LOGIN REFUSED FROM <HOST>",
    r"^[iI](?:llegal|nvalid) user <F-USER>.*?</F-USER> from <HOST>(?: (?:port \d+|on \S+|\[preauth\])){0,3}\s*$",
    r"^User <F-USER>\S+|.*?</F-USER> from <HOST> not allowed because not listed in AllowUsers(?: (?:port \d+|on \S+|\[preauth\])){0,3}\s*$",
    r"^User <F-USER>\S+|.*?</F-USER> from <HOST> not allowed because listed in DenyUsers(?: (?:port \d+|on \S+|\[preauth\])){0,3}\s*$",
    r"^User <F-USER>\S+|.*?</F-USER> from <HOST> not allowed because not in any group(?: (?:port \d+|on \S+|\[preauth\])){0,3}\s*$",
    r"^refused connect from \S+ \(<HOST>\)",
    r"^Received <F-MLFFORGET>disconnect</F-MLFFORGET> from <HOST>(?: (?:port \d+|on \S+)){0,2}:\s*3: .*: Auth fail(?: (?:port \d+|on \S+|\[preauth\])){0,3}\s*$",
    r"^User <F-USER>\S+|.*?</F-USER> from <HOST> not allowed because a group is listed in DenyGroups(?: (?:port \d+|on \S+|\[preauth\])){0,3}\s*$",
    r"^User <F-USER>\S+|.*?</F-USER> from <HOST> not allowed because none of user's groups are listed in AllowGroups(?: (?:port \d+|on \S+|\[preauth\])){0,3}\s*$",
    r"^<F-NOFAIL>pam_[a-z]+\(sshd:auth\):\s+authentication failure;</F-NOFAIL>(?:\s+(?:(?:logname|e?uid|tty)=\S*)){0,4}\s+ruser=<F-ALT_USER>\S*</F-ALT_USER>\s+rhost=<HOST>(?:\s+user=<F-USER>\S*</F-USER>)?(?: (?:port \d+|on \S+|\[preauth\])){0,3}\s*$",
    r"^maximum authentication attempts exceeded for <F-USER>.*</F-USER> from <HOST>(?: (?:port \d+|on \S+)){0,2}(?: ssh\d*)?(?: (?:port \d+|on \S+|\[preauth\])){0,3}\s*$",
    r"^User <F-USER>\S+|.*?</F-USER> not allowed because account is locked(?: (?:port \d+|on \S+|\[preauth\])){0,3}\s*",
    r"^<F-MLFFORGET>Disconnecting</F-MLFFORGET>(?: from)?(?: (?:invalid|authenticating)) user <F-USER>\S+</F-USER> <HOST>(?: (?:port \d+|on \S+)){0,2}:\s*Change of username or service not allowed:\s*.*\[preauth\]\s*$",
    r"^Disconnecting: Too many authentication failures(?: for <F-USER>\S+|.*?</F-USER>)?(?: (?:port \d+|on \S+|\[preauth\])){0,3}\s*$",
    r"^<F-NOFAIL>Received <F-MLFFORGET>disconnect</F-MLFFORGET></F-NOFAIL> from <HOST>(?: (?:port \d+|on \S+)){0,2}:\s*11:",
    r"^<F-NOFAIL><F-MLFFORGET>(Connection (?:closed|reset)|Disconnected)</F-MLFFORGET></F-NOFAIL> (?:by|from)(?: (?:invalid|authenticating) user <F-USER>\S+|.*?</F-USER>)? <HOST>(?:(?: (?:port \d+|on \S+|\[preauth\])){0,3}\s*|\s*)$",
    r"^<F-MLFFORGET><F-MLFGAINED>Accepted \w+</F-MLFGAINED></F-MLFFORGET> for <F-USER>\S+</F-USER> from <HOST>(?:\s|$)",
    r"^<F-NOFAIL>Connection from</F-NOFAIL> <HOST>",
];

/// The whole filter as a spec.
pub fn sshd_spec() -> FilterSpec {
    FilterSpec {
        failregex: FAILREGEX.iter().map(|r| r.to_string()).collect(),
        prefregex: Some(PREFREGEX.to_string()),
        datepattern: Some("{^LN-BEG}".to_string()),
        maxlines: 1,
        ..Default::default()
    }
}

/// Failures: the first regexes to hit are a PCRE2 one (`Failed password`) and a `regex`-crate
/// one (`Invalid user`) far down the list.
pub const FAILED_PASSWORD: &str =
    "Nov 28 03:04:05 bastion sshd[41039]: Failed password for invalid user apache from 198.19.237.80 port 39883 ssh2";
pub const INVALID_USER: &str =
    "Nov 28 03:04:05 bastion sshd[41097]: Invalid user test1 from 2001:db8:b70b:1305:44ff:dad5:715f:d0e4 port 57414";
pub const CONNECTION_CLOSED: &str =
    "Nov 28 03:04:05 bastion sshd[41134]: Connection closed by invalid user git 198.19.170.236 port 53705 [preauth]";

/// Lines no failregex matches: every regex is tried (after prefregex, which matches all).
pub const CRON_SESSION: &str =
    "Nov 28 03:04:05 bastion CRON[41030]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)";
pub const KERNEL_UFW: &str = "Nov 28 03:04:05 bastion kernel: [864003.500000] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=198.18.3.7 DST=192.0.2.1 LEN=44 TOS=0x00 PREC=0x00 TTL=241 ID=54321 PROTO=TCP SPT=4242 DPT=23 WINDOW=1024 RES=0x00 SYN URGP=0";

/// One of each kind, in roughly the proportions of `scripts/bench/gen-authlog`'s output.
pub const MIX: &[&str] = &[
    FAILED_PASSWORD,
    INVALID_USER,
    "Nov 28 03:04:06 bastion sshd[41200]: pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)",
    "Nov 28 03:04:06 bastion sshd[41200]: Accepted publickey for alice from 198.51.100.26 port 12320 ssh2: RSA SHA256:UWad7udf5aob3srnPeZ9yIMecoq2ip2RI5hOCN/sZvj",
    "Nov 28 03:04:06 bastion sshd[41200]: pam_unix(sshd:session): session closed for user deploy",
    CRON_SESSION,
    "Nov 28 03:04:07 bastion CRON[41230]: pam_unix(cron:session): session closed for user root",
    "Nov 28 03:04:07 bastion systemd-logind[612]: New session 122 of user backup.",
    "Nov 28 03:04:08 bastion sudo: pam_unix(sudo:session): session opened for user root(uid=0) by deploy(uid=1002)",
    KERNEL_UFW,
];
