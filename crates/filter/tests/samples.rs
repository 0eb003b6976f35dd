//! Whole-filter differential test against Fail2Ban's own sample logs (opt-in).
//!
//! `tests/tools/record_f2b_samples.py` runs a Fail2Ban installation over its sample logs and
//! records, per filter variant, the options and the failures of every line. Point
//! `WARDEN_F2B_SAMPLES` at that JSON and this test replays the same lines through
//! [`Filter`], expecting the same failures (regex index, host, time, matched lines). The
//! recording is not kept in the repository: the sample logs belong to Fail2Ban.

use std::net::IpAddr;

use serde_json::Value;
use warden_filter::{Filter, FilterSpec, Host};

/// Fail2Ban's test "now": 2005-08-14 12:00 CEST.
const TEST_NOW: f64 = 1_124_013_600.0;

fn same_host(py: &str, ours: &Host) -> bool {
    match ours {
        Host::Ip(ip) => py.parse::<IpAddr>().is_ok_and(|p| {
            let p = match p {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
                v4 => v4,
            };
            p == *ip
        }),
        Host::Name(n) => n == py,
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn fail2ban_sample_logs_give_the_same_failures() {
    let Some(path) = std::env::var_os("WARDEN_F2B_SAMPLES") else {
        println!("WARDEN_F2B_SAMPLES not set; skipping (see tests/tools/record_f2b_samples.py)");
        return;
    };
    crate::set_test_timezone();
    let text = std::fs::read_to_string(&path).expect("recording readable");
    let runs: Vec<Value> = serde_json::from_str(&text).expect("recording is JSON");
    let (mut rows, mut agreed, mut variants_ok) = (0, 0, 0);
    for run in &runs {
        let spec = &run["spec"];
        let mut filter = Filter::new(&FilterSpec {
            failregex: strings(&spec["failregex"]),
            ignoreregex: strings(&spec["ignoreregex"]),
            prefregex: spec["prefregex"].as_str().map(str::to_string),
            datepattern: spec["datepattern"].as_str().map(str::to_string),
            maxlines: spec["maxlines"].as_u64().unwrap_or(1) as usize,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{}: {e:?}", run["name"]));
        let mut bad = 0;
        for entry in run["lines"].as_array().into_iter().flatten() {
            let line = entry[0].as_str().expect("line");
            let result = filter.process_line(line, TEST_NOW);
            rows += 1;
            let ok = match &entry[1] {
                Value::Array(expected) => {
                    expected.len() == result.failures.len()
                        && expected.iter().zip(&result.failures).all(|(p, o)| {
                            p[0].as_u64() == Some(o.regex_index as u64)
                                && p[1].as_str().is_some_and(|h| same_host(h, &o.host))
                                && p[2].as_f64().unwrap_or(TEST_NOW) == o.time
                                && strings(&p[3]) == o.lines
                        })
                }
                // Fail2Ban raised on the line: it yields nothing.
                _ => result.failures.is_empty(),
            };
            if ok {
                agreed += 1;
            } else {
                bad += 1;
                println!(
                    "{}: {line:?}\n  fail2ban: {}\n  warden:   {:?}",
                    run["name"], entry[1], result.failures
                );
            }
        }
        variants_ok += usize::from(bad == 0);
    }
    println!(
        "{rows} sample lines ran, {agreed} agreed; {variants_ok}/{} filter variants fully agree",
        runs.len()
    );
    assert_eq!(agreed, rows);
}
