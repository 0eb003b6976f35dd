//! Per-line cost of the whole sshd filter (date cut, prefregex, failregexes) on lines that
//! match and lines that do not.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use warden_filter::Filter;

fn per_line(c: &mut Criterion) {
    let mut filter = Filter::new(&common::sshd_spec()).expect("the sshd filter compiles");
    let mut group = c.benchmark_group("sshd_line");
    group.throughput(Throughput::Elements(1));
    let cases = [
        ("failed_password", common::FAILED_PASSWORD, 1),
        ("invalid_user", common::INVALID_USER, 1),
        ("connection_closed_nofail", common::CONNECTION_CLOSED, 0),
        ("cron_no_match", common::CRON_SESSION, 0),
        ("kernel_no_match", common::KERNEL_UFW, 0),
    ];
    for (name, line, failures) in cases {
        // A benchmark of the wrong answer measures nothing: check it first.
        assert_eq!(
            filter.process_line(line, common::NOW).failures.len(),
            failures,
            "{name}"
        );
        group.bench_function(name, |b| {
            b.iter(|| filter.process_line(black_box(line), common::NOW))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("sshd_mix");
    group.throughput(Throughput::Elements(common::MIX.len() as u64));
    group.bench_function("ten_lines", |b| {
        b.iter(|| {
            for line in common::MIX {
                black_box(filter.process_line(black_box(line), common::NOW));
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = per_line
}
criterion_main!(benches);
