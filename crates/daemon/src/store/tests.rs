//! Unit tests that need the store's internals; behaviour tests are in `tests/store.rs`.

use super::*;
use serde_json::json;

fn ban(i: u32) -> Write {
    Write::Ban(BanRecord {
        jail: "sshd".into(),
        ip: IpAddr::from([10, 0, (i >> 8) as u8, i as u8]),
        timeofban: 1000.0,
        bantime: 600,
        bancount: 1,
        data: json!({"failures": 5}),
    })
}

#[test]
fn handles_can_be_shared_across_tasks_and_threads() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Store>();
}

#[test]
fn writes_queued_during_a_transaction_commit_together() {
    let store = Store::in_memory().unwrap();
    let paused = store.pause();
    let acks: Vec<_> = (0..2000).map(|i| store.submit(ban(i))).collect();
    drop(paused);
    for ack in acks {
        ack.blocking_recv().unwrap().unwrap();
    }
    let stats = store.stats();
    assert_eq!(stats.writes, 2000);
    assert_eq!(stats.transactions, 1);
    assert_eq!(store.all_current_bans(0.0).unwrap().len(), 2000);
}

#[test]
fn one_failing_write_fails_alone() {
    let store = Store::in_memory().unwrap();
    let paused = store.pause();
    let good = store.submit(ban(1));
    // A NaN time is stored as NULL, which the NOT NULL column refuses.
    let bad = store.submit(Write::Ban(BanRecord {
        timeofban: f64::NAN,
        ..match ban(2) {
            Write::Ban(b) => b,
            _ => unreachable!(),
        }
    }));
    let after = store.submit(ban(3));
    drop(paused);
    assert!(good.blocking_recv().unwrap().is_ok());
    let err = bad.blocking_recv().unwrap().unwrap_err();
    assert!(err.to_string().starts_with("database :memory:"), "{err}");
    assert!(after.blocking_recv().unwrap().is_ok());
    assert_eq!(store.all_current_bans(0.0).unwrap().len(), 2);
    let stats = store.stats();
    assert_eq!((stats.writes, stats.failed_writes), (2, 1));
}

#[test]
fn matches_are_bounded_to_the_most_recent() {
    let opts = StoreOptions { max_matches: 2 };
    let store = Store::in_memory_with(&opts).unwrap();
    let record = |matches: serde_json::Value| BanRecord {
        jail: "sshd".into(),
        ip: "192.0.2.1".parse().unwrap(),
        timeofban: 1000.0,
        bantime: 600,
        bancount: 1,
        data: json!({"matches": matches, "failures": 3, "user": "root"}),
    };
    store
        .submit(Write::Ban(record(json!(["a", "b", "c"]))))
        .blocking_recv()
        .unwrap()
        .unwrap();
    let got = store.current_bans("sshd", 0.0).unwrap();
    assert_eq!(
        got[0].data,
        json!({"matches": ["b", "c"], "failures": 3, "user": "root"})
    );

    let none = Store::in_memory_with(&StoreOptions { max_matches: 0 }).unwrap();
    none.submit(Write::Ban(record(json!(["a"]))))
        .blocking_recv()
        .unwrap()
        .unwrap();
    let got = none.current_bans("sshd", 0.0).unwrap();
    assert_eq!(got[0].data, json!({"failures": 3, "user": "root"}));
}
