//! One-off costs paid when a filter is loaded: tag expansion, translating the Python `re`
//! dialect, compiling on the chosen engine, and building the whole sshd filter.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use warden_filter::dialect::{translate, Dialect};
use warden_filter::tags::expand_tags;
use warden_filter::{matcher, Filter, UseDns};

fn compile(c: &mut Criterion) {
    let expanded: Vec<String> = common::FAILREGEX
        .iter()
        .map(|r| expand_tags(r, UseDns::Warn))
        .collect();
    let mut group = c.benchmark_group("compile_sshd");
    group.throughput(Throughput::Elements(expanded.len() as u64));
    group.bench_function("expand_tags", |b| {
        b.iter(|| {
            for r in common::FAILREGEX {
                black_box(expand_tags(black_box(r), UseDns::Warn));
            }
        })
    });
    group.bench_function("translate_rust_dialect", |b| {
        b.iter(|| {
            for r in &expanded {
                black_box(translate(black_box(r), Dialect::Rust, false).expect("translates"));
            }
        })
    });
    group.bench_function("translate_and_compile", |b| {
        b.iter(|| {
            for r in &expanded {
                black_box(matcher::compile(black_box(r), false).expect("compiles"));
            }
        })
    });
    group.finish();

    let spec = common::sshd_spec();
    let mut group = c.benchmark_group("filter_new");
    group.sample_size(10);
    group.bench_function("sshd", |b| {
        b.iter(|| Filter::new(black_box(&spec)).expect("compiles"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = compile
}
criterion_main!(benches);
