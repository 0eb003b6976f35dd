//! Hostile input: huge lines, replacement characters, catastrophic backtracking.

use std::time::{Duration, Instant};

use warden_filter::{Engine, Filter, FilterSpec};

fn filter(regex: &str) -> Filter {
    Filter::new(&FilterSpec {
        failregex: vec![regex.to_string()],
        maxlines: 1,
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn one_megabyte_line() {
    crate::set_test_timezone();
    let mut f = filter(r"^.*sshd\[\d+\]: Failed password for .* from <HOST>( port \d+)?$");
    let mut line = String::from("Jan  6 10:00:00 host sshd[1]: Failed password for ");
    line.push_str(&"x".repeat(1 << 20));
    line.push_str(" from 192.0.2.7 port 22");
    let r = f.process_line(&line, 1_767_700_800.0);
    assert_eq!(r.failures.len(), 1);
    let r = f.process_line(&"[".repeat(1 << 20), 1_767_700_800.0);
    assert!(r.failures.is_empty());
}

#[test]
fn lossily_decoded_invalid_utf8() {
    let bytes = b"Jan  6 10:00:00 host app: bad \xff\xfe\xc3 login from 192.0.2.8 \xe2\x82";
    let line = String::from_utf8_lossy(bytes);
    let mut f = filter(r"login from <HOST>");
    let r = f.process_line(&line, 1_767_700_800.0);
    assert_eq!(r.failures.len(), 1);
    // Non-ASCII before the date must not confuse character positions.
    let mut f = filter(r"^\S+ x <HOST>$");
    for l in [
        "\u{fffd}\u{fffd} x 192.0.2.9 Jan  6 10:00:00",
        "é x 192.0.2.9",
        "x\u{fffd} 06/Jan/2026:10:00:00 y",
    ] {
        let _ = f.process_line(l, 1_767_700_800.0);
    }
}

#[test]
fn pathological_backtracking_on_pcre2_is_bounded() {
    // The look-ahead forces PCRE2; `(\w+\s?)*$` backtracks exponentially on a mismatch.
    let mut f = filter(r"^(?!trusted)(\w+\s?)*$ <HOST>");
    assert_eq!(f.failregexes()[0].engine(), Engine::Pcre2);
    let line = format!("{}!", "ab ".repeat(5000));
    let t = Instant::now();
    let r = f.process_line(&line, 0.0);
    assert!(r.failures.is_empty());
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn filters_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send::<Filter>();
    assert_send_sync::<warden_filter::CompiledRegex>();
    assert_send_sync::<warden_filter::date::DateTemplate>();
}
