//! Actions carried out in-process on kernel ban sets instead of through shell commands.
//!
//! `banaction = nftables` (and `nftables-multiport`, `nftables-allports`, or any action file
//! with `warden_native = nftables`) is served by [`crate::firewall::Nftables`]: the jail's own
//! set in Warden's table, elements with the ban's remaining time as kernel timeout, and every
//! ban or unban queued at one moment applied as one netlink transaction. The action's options
//! keep Fail2Ban's meaning: `type` (`multiport`/`allports`), `port`, `protocol`, `blocktype`,
//! `chain_hook`, `chain_priority`. When the kernel interface is unavailable the action file's
//! shell commands run instead, as Fail2Ban would run them.

use super::Ticket;
use crate::events;
use crate::firewall::{Blocktype, Firewall, JailRule, Nftables, SetOp};
use ipnet::IpNet;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use warden_config::ActionConfig;

/// Name of Warden's nftables table.
pub const TABLE: &str = "warden";

/// Which native backend serves `action`, if any: `nftables` for Fail2Ban's nftables actions,
/// `ipset` for its iptables-ipset ones (sets `f2b-<jail>` plus one iptables rule each, changed
/// in `ipset restore` batches). `warden_native = nftables|ipset|no` in the action file decides
/// explicitly.
pub fn native_kind(action: &ActionConfig) -> Option<&'static str> {
    if let Some(v) = action.properties.get("warden_native") {
        return match v.trim() {
            "nftables" => Some("nftables"),
            "ipset" => Some("ipset"),
            _ => None,
        };
    }
    let stem = Path::new(&action.file).file_stem()?.to_str()?;
    match stem {
        "nftables" | "nftables-multiport" | "nftables-allports" => Some("nftables"),
        "iptables-ipset"
        | "iptables-ipset-proto4"
        | "iptables-ipset-proto6"
        | "iptables-ipset-proto6-allports" => Some("ipset"),
        _ => None,
    }
}

/// The firewall backend for `kind`, or why it cannot be used here.
pub fn backend(kind: &str) -> Result<Arc<dyn Firewall>, String> {
    match kind {
        "ipset" => {
            static IPSET: OnceLock<Arc<crate::firewall::Ipset>> = OnceLock::new();
            let have = std::process::Command::new("ipset")
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success());
            if !have {
                return Err("the ipset program is not available".into());
            }
            let fw = IPSET.get_or_init(|| Arc::new(crate::firewall::Ipset::new()));
            Ok(Arc::clone(fw) as Arc<dyn Firewall>)
        }
        _ => nftables().map(|n| n as Arc<dyn Firewall>),
    }
}

static NFT: OnceLock<Result<Arc<Nftables>, String>> = OnceLock::new();

/// The process-wide nftables handle (one netlink socket for all jails), or why not.
pub fn nftables() -> Result<Arc<Nftables>, String> {
    NFT.get_or_init(|| {
        Nftables::new(TABLE)
            .map(Arc::new)
            .map_err(|e| e.to_string())
    })
    .clone()
}

/// At shutdown, once every jail has stopped: remove Warden's (now empty) table, if this
/// process used it.
pub fn remove_table() {
    if let Some(Ok(nft)) = NFT.get() {
        if let Err(e) = nft.teardown() {
            tracing::warn!(error = %e, "cannot remove the nftables table");
        }
    }
}

/// The jail's firewall rule from the action's Fail2Ban options.
pub fn jail_rule(action: &ActionConfig) -> Result<JailRule, String> {
    let get = |k: &str| action.render(k, "inet4").map(|v| v.trim().to_string());
    let mut rule = JailRule::default();
    let kind = get("type").unwrap_or_else(|| {
        let stem = Path::new(&action.file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("");
        if stem.ends_with("allports") {
            "allports"
        } else {
            "multiport"
        }
        .to_string()
    });
    rule.ports = match kind.as_str() {
        "allports" => None,
        _ => Some(
            get("port")
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "0:65535".into()),
        ),
    };
    if let Some(p) = get("protocol").filter(|p| !p.is_empty()) {
        rule.protocol = p;
    }
    if let Some(b) = get("blocktype").filter(|b| !b.is_empty()) {
        rule.blocktype = Blocktype::parse(&b).map_err(|e| e.to_string())?;
    }
    if let Some(h) = get("chain_hook").filter(|h| !h.is_empty()) {
        rule.chain_hook = h;
    } else if native_kind(action) == Some("ipset") {
        // iptables actions name a built-in chain (`chain = INPUT`).
        if let Some(c) = get("chain").filter(|c| !c.is_empty() && !c.contains('<')) {
            rule.chain_hook = c;
        }
    }
    if let Some(p) = get("chain_priority").and_then(|p| p.parse().ok()) {
        rule.priority = p;
    }
    Ok(rule)
}

pub(super) enum NativeJob {
    Start,
    Add(Arc<Ticket>),
    Remove(Arc<Ticket>),
    Reconcile(Vec<Arc<Ticket>>),
    Stop(oneshot::Sender<()>),
}

fn timeout_of(t: &Ticket) -> Option<Duration> {
    if t.bantime < 0 {
        return None;
    }
    let left = t.time + t.bantime as f64 - crate::jail::now();
    Some(Duration::from_secs_f64(left.max(1.0)))
}

fn net(t: &Ticket) -> IpNet {
    IpNet::from(t.ip)
}

/// Serve one jail's native action until it stops.
pub(super) async fn run(
    jail: String,
    action: String,
    fw: Arc<dyn Firewall>,
    rule: JailRule,
    mut rx: mpsc::UnboundedReceiver<NativeJob>,
) {
    let mut started = false;
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while let Ok(j) = rx.try_recv() {
            jobs.push(j);
        }
        let mut ops: Vec<SetOp> = Vec::new();
        for job in jobs {
            match job {
                NativeJob::Start => {
                    if !started {
                        started = setup(&jail, &action, &fw, &rule).await;
                    }
                }
                NativeJob::Add(t) => {
                    if !started {
                        started = setup(&jail, &action, &fw, &rule).await;
                    }
                    ops.push(SetOp::Add {
                        jail: jail.clone(),
                        net: net(&t),
                        timeout: timeout_of(&t),
                    });
                }
                NativeJob::Remove(t) => ops.push(SetOp::Remove {
                    jail: jail.clone(),
                    net: net(&t),
                }),
                NativeJob::Reconcile(wanted) => {
                    flush(&jail, &action, &fw, std::mem::take(&mut ops)).await;
                    let wanted: Vec<(IpNet, Option<Duration>)> =
                        wanted.iter().map(|t| (net(t), timeout_of(t))).collect();
                    let (fw2, j2) = (Arc::clone(&fw), jail.clone());
                    match tokio::task::spawn_blocking(move || fw2.reconcile(&j2, &wanted)).await {
                        Ok(Ok(r)) => tracing::info!(
                            jail = %jail,
                            "[{jail}] kernel set reconciled: {} added, {} removed, {} refreshed, {} kept",
                            r.added, r.removed, r.refreshed, r.kept
                        ),
                        Ok(Err(e)) => failed(&jail, &action, "reconcile", &e.to_string()),
                        Err(e) => failed(&jail, &action, "reconcile", &e.to_string()),
                    }
                }
                NativeJob::Stop(done) => {
                    flush(&jail, &action, &fw, std::mem::take(&mut ops)).await;
                    if started {
                        let (fw2, j2) = (Arc::clone(&fw), jail.clone());
                        match tokio::task::spawn_blocking(move || fw2.teardown_jail(&j2)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => failed(&jail, &action, "stop", &e.to_string()),
                            Err(e) => failed(&jail, &action, "stop", &e.to_string()),
                        }
                    }
                    let _ = done.send(());
                    return;
                }
            }
        }
        flush(&jail, &action, &fw, ops).await;
    }
}

async fn setup(jail: &str, action: &str, fw: &Arc<dyn Firewall>, rule: &JailRule) -> bool {
    let (fw2, j2, r2) = (Arc::clone(fw), jail.to_string(), rule.clone());
    match tokio::task::spawn_blocking(move || fw2.setup_jail(&j2, &r2)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            failed(jail, action, "start", &e.to_string());
            false
        }
        Err(e) => {
            failed(jail, action, "start", &e.to_string());
            false
        }
    }
}

async fn flush(jail: &str, action: &str, fw: &Arc<dyn Firewall>, ops: Vec<SetOp>) {
    if ops.is_empty() {
        return;
    }
    // A ban is one netlink round trip of some tens of microseconds: run it on this worker
    // (tokio moves the worker's other tasks elsewhere meanwhile) rather than wake a thread of
    // the blocking pool for it, a hand-over that costs milliseconds when the CPUs are busy.
    // `block_in_place` needs the multi-threaded runtime; others (tests) use the pool.
    let result = if tokio::runtime::Handle::current().runtime_flavor()
        == tokio::runtime::RuntimeFlavor::MultiThread
    {
        Ok(tokio::task::block_in_place(|| fw.apply(&ops)))
    } else {
        let fw2 = Arc::clone(fw);
        tokio::task::spawn_blocking(move || fw2.apply(&ops)).await
    };
    match result {
        Ok(Ok(report)) => {
            for (op, why) in report.rejected {
                failed(jail, action, "ban", &format!("{} refused: {why}", op.net()));
            }
        }
        Ok(Err(e)) => failed(jail, action, "ban", &e.to_string()),
        Err(e) => failed(jail, action, "ban", &e.to_string()),
    }
}

fn failed(jail: &str, action: &str, method: &str, message: &str) {
    events::action_failed(
        jail,
        action,
        method,
        None,
        &super::exec::Outcome::Failed {
            code: None,
            output: message.to_string(),
        },
    );
}
