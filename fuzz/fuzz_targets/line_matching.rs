//! Arbitrary log lines through complete filters: date cut, prefregex, failregexes,
//! ignoreregex, the `maxlines` buffer and `<F-MLFID>` merging. Must return in bounded time,
//! never panic, whatever the line (long, binary, hostile to backtracking).
//!
//! Input: bytes, decoded as lossy UTF-8 (as the log reader does) and split into lines; every
//! line goes through each filter in order. Byte 0 picks "now". A line of the input that is
//! just `*N` (N a digit) is replaced by the previous line repeated 4^N times, so that very long
//! lines (up to ~1 MB) stay reachable from short inputs.
//!
//! The filters are compiled once per process (compiling them costs far more than matching a
//! line) and keep their state between inputs, as in the daemon: date template order, the
//! `maxlines` buffer and the `<F-MLFID>` cache. Each input starts with `maxlines` empty lines
//! so that the buffer holds nothing from the previous one.
#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use warden_filter::{Filter, FilterSpec, UseDns};

/// sshd-like: a syslog prefix cut by a prefregex with `<F-MLFID>` and `<F-CONTENT>`, several
/// failregexes with `<F-USER>`, `<F-NOFAIL>` / `<F-MLFFORGET>` merging, an ignoreregex.
fn sshd_like() -> FilterSpec {
    let s = |v: &str| v.to_string();
    FilterSpec {
        prefregex: Some(s(
            r"^(?:\S+ )?(?:kernel:\s?\[ *\d+\.\d+\]:?\s+)?(?:@vserver_\S+ )?(?:(?:\[\d+\])?:\s+[\[\(]?sshd(?:-session)?(?:\(\S+\))?[\]\)]?:?|[\[\(]?sshd(?:-session)?(?:\(\S+\))?[\]\)]?:?(?:\[<F-MLFID>\d+</F-MLFID>\])?:?)\s+(?:error: )?<F-CONTENT>.+</F-CONTENT>$",
        )),
        failregex: vec![
            s(
                r"^[iI](?:llegal|nvalid) user <F-USER>.*?</F-USER> from <HOST>(?: port \d+)?(?: on \S+(?: port \d+)?)?(?: \[preauth\])?\s*$",
            ),
            s(
                r"^Failed (?:password|publickey|none|keyboard-interactive(?:/pam)?) for (?:invalid user )?<F-USER>(?P<cond_user>\S+)|(?:(?! from ).)*?</F-USER> from <HOST>(?: port \d+)?(?: ssh\d*)?(?(cond_user): |(?:(?:(?! from ).)*)$)",
            ),
            s(
                r"^pam_unix\(sshd:auth\):\s+authentication failure;(?:\s+(?:logname|uid|euid|tty|ruser)=\S*)*\s+rhost=<HOST>(?:\s+user=<F-USER>\S*</F-USER>)?\s*$",
            ),
            s(
                r"^User <F-USER>\S+|.*?</F-USER> from <HOST> not allowed because (?:not listed in AllowUsers|listed in DenyUsers|none of user's groups are listed in AllowGroups)\s*$",
            ),
            s(r"^<F-NOFAIL>Connection from</F-NOFAIL> <HOST> port \d+(?: on \S+ port \d+)?"),
            s(
                r"^<F-MLFFORGET>(?:Disconnected|Received disconnect) from</F-MLFFORGET> (?:(?:authenticating|invalid) user <F-USER>\S+</F-USER> )?<HOST>",
            ),
            s(
                r"^<F-MLFGAINED>Accepted \w+</F-MLFGAINED> for <F-USER>\S+</F-USER> from <HOST>(?: port \d+)?",
            ),
            s(
                r"^Disconnecting(?: from)?(?: (?:invalid|authenticating)) user <F-USER>\S+</F-USER> <HOST>(?: port \d+)?:\s+Too many authentication failures",
            ),
        ],
        ignoreregex: vec![s(r"^Connection closed by 127\.0\.0\.1\b")],
        datepattern: None,
        maxlines: 1,
        usedns: UseDns::Warn,
        logtimezone: None,
    }
}

/// Needs PCRE2: look-ahead, look-behind, a back-reference, a conditional, plus a nested
/// quantifier that backtracks badly on near-misses (bounded by the match limit).
fn pcre2_needing() -> FilterSpec {
    let s = |v: &str| v.to_string();
    FilterSpec {
        prefregex: None,
        failregex: vec![
            s(r"^(?P<proto>\w+): (?!127\.0\.0\.1 )<ADDR> denied (?:\S+ )*?again by (?P=proto)\b"),
            s(r"(?<=user=)<F-USER>[^\s,]+</F-USER>.*?(?<![\d.])rhost=<HOST>(?=\s|$)"),
            s(r"^\[(\w+)\] client <HOST>(?:\:\d+)? .*\[\1\](?(1) tagged| none)"),
            s(r"^(?:(?:\w+\s?)+)+\s*login failure from <ADDR>$"),
            s(r"(?i)^auth(?:entication)? (?:fail(?:ed|ure))[^<]*<F-ID>[^>]+</F-ID>>"),
        ],
        ignoreregex: vec![s(r"(?=.*\bwhitelisted\b)")],
        datepattern: Some(r"^[^\[]*\[({DATE})".into()),
        maxlines: 1,
        usedns: UseDns::Yes,
        logtimezone: Some("UTC+0200".into()),
    }
}

/// Multi-line (`maxlines = 3`) with `<SKIPLINES>` and a custom datepattern.
fn multi_line() -> FilterSpec {
    let s = |v: &str| v.to_string();
    FilterSpec {
        prefregex: None,
        failregex: vec![
            s(
                r"^.*?session <F-ID>\w+</F-ID> opened<SKIPLINES>.*?login failed for <F-USER>\S+</F-USER> from <HOST>\s*$",
            ),
            s(r"^\s*user (?P<user>\S+) unknown\n.*?rhost=<HOST>$"),
            s(r"^client <SUBNET>\n(?:.*\n)*?.*?rejected(?: by (?P<rule>\w+))?$"),
        ],
        ignoreregex: vec![s(r"^.*?test-harness.*$")],
        datepattern: Some("^%Y-%m-%d %H:%M:%S(?:\\.%f)?\n{^LN-BEG}EPOCH".into()),
        maxlines: 3,
        usedns: UseDns::No,
        logtimezone: None,
    }
}

fn filters() -> &'static Mutex<Vec<(FilterSpec, Filter)>> {
    static FILTERS: OnceLock<Mutex<Vec<(FilterSpec, Filter)>>> = OnceLock::new();
    FILTERS.get_or_init(|| {
        let all = [sshd_like(), pcre2_needing(), multi_line()]
            .into_iter()
            .map(|spec| {
                let filter = Filter::new(&spec).expect("fixed filters compile");
                (spec, filter)
            })
            .collect();
        Mutex::new(all)
    })
}

const NOWS: &[f64] = &[1_133_352_000.0, 1_709_208_000.0, 0.0, 1e12];

/// Longest line built with `*N`.
const MAX_EXPANDED: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let now = NOWS[usize::from(sel) % NOWS.len()];
    let text = String::from_utf8_lossy(rest);
    let mut lines: Vec<String> = Vec::new();
    for line in text.split('\n').take(64) {
        let repeat = line
            .strip_prefix('*')
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| *n <= 9);
        match (repeat, lines.last()) {
            (Some(n), Some(prev)) if !prev.is_empty() => {
                let times = (4usize.pow(n)).min(MAX_EXPANDED / prev.len()).max(1);
                lines.push(prev.repeat(times));
            }
            _ => lines.push(line.to_string()),
        }
    }
    let mut filters = filters().lock().unwrap_or_else(|e| e.into_inner());
    for (spec, filter) in filters.iter_mut() {
        for _ in 0..spec.maxlines {
            filter.process_line("", now);
        }
        for line in &lines {
            let result = filter.process_line(line, now);
            if let Some(t) = result.time {
                assert!(!t.is_nan(), "NaN time for {line:?}");
            }
            for f in &result.failures {
                assert!(f.regex_index < spec.failregex.len(), "{f:?}");
            }
        }
    }
});
