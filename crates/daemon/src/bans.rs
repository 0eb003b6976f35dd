//! The unban timer: a sorted set of deadlines and one task sleeping until the next.

use crate::jail::now;
use crate::registry::Registry;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Deadlines are kept in milliseconds so they order exactly.
type Key = (i64, String, IpAddr, u64);

/// Handle to schedule unbans.
#[derive(Clone)]
pub struct ExpiryTimer {
    tx: mpsc::UnboundedSender<(f64, String, IpAddr)>,
}

impl ExpiryTimer {
    /// Start the timer task; fired deadlines call [`crate::jail::Jail::expire`].
    pub fn spawn(registry: Arc<Registry>) -> ExpiryTimer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(registry, rx));
        ExpiryTimer { tx }
    }

    /// Unban `ip` in `jail` at `until` (epoch seconds), if that ban is still in force then.
    pub fn schedule(&self, until: f64, jail: &str, ip: IpAddr) {
        let _ = self.tx.send((until, jail.to_string(), ip));
    }
}

async fn run(registry: Arc<Registry>, mut rx: mpsc::UnboundedReceiver<(f64, String, IpAddr)>) {
    let mut deadlines: BTreeSet<Key> = BTreeSet::new();
    let mut exact: std::collections::HashMap<u64, f64> = Default::default();
    let mut seq: u64 = 0;
    loop {
        let next = deadlines.first().map(|k| k.0);
        let sleep = match next {
            Some(ms) => {
                let wait = (ms as f64 / 1000.0 - now()).max(0.0);
                Duration::from_secs_f64(wait.min(3600.0))
            }
            None => Duration::from_secs(3600),
        };
        tokio::select! {
            msg = rx.recv() => match msg {
                Some((until, jail, ip)) => {
                    seq += 1;
                    exact.insert(seq, until);
                    deadlines.insert(((until * 1000.0).ceil() as i64, jail, ip, seq));
                }
                None => return,
            },
            _ = tokio::time::sleep(sleep) => {
                let now_ms = (now() * 1000.0) as i64;
                while let Some(first) = deadlines.first() {
                    if first.0 > now_ms {
                        break;
                    }
                    let (_, jail, ip, id) = deadlines.pop_first().expect("checked non-empty");
                    let until = exact.remove(&id).unwrap_or_default();
                    if let Some(j) = registry.get(&jail) {
                        j.expire(ip, until);
                    }
                }
            }
        }
    }
}
