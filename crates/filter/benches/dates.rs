//! Date detection alone: finding the syslog date with `{^LN-BEG}` (sshd's `datepattern`) or
//! with all default templates, and converting it to a time.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use warden_filter::date::DateDetector;

fn detect(c: &mut Criterion) {
    let mut group = c.benchmark_group("date");
    group.throughput(Throughput::Elements(1));
    let line = common::FAILED_PASSWORD;
    for (name, pattern) in [("ln_beg", Some("{^LN-BEG}")), ("defaults", None)] {
        let mut dates = DateDetector::from_datepattern(pattern).expect("default templates");
        let found = dates.match_time(line, common::NOW).expect("a syslog date");
        assert_eq!(found.date_span(), Some((0, 15)), "{name}");
        group.bench_function(format!("find_{name}"), |b| {
            b.iter(|| dates.match_time(black_box(line), common::NOW))
        });
        group.bench_function(format!("find_and_convert_{name}"), |b| {
            b.iter(|| {
                let m = dates.match_time(black_box(line), common::NOW)?;
                dates.time(line, &m, common::NOW).ok()
            })
        });
    }
    let mut dates = DateDetector::from_datepattern(Some("{^LN-BEG}")).expect("templates");
    group.bench_function("no_date", |b| {
        b.iter(|| dates.match_time(black_box("no date on this line at all"), common::NOW))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = detect
}
criterion_main!(benches);
