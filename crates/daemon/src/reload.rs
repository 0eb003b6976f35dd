//! Re-reading the configuration: validate first, then restart only what changed.

use crate::server::Server;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What to reload and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadOptions {
    /// Only this jail; every jail when `None`.
    pub jail: Option<String>,
    /// Lift the bans of the reloaded jails first.
    pub unban: bool,
    /// Restart the reloaded jails even if unchanged.
    pub restart: bool,
}

/// Re-read the tree the server was started with. A broken tree is refused and the running
/// configuration stays. Unchanged jails keep running untouched (bans, counters, filter state);
/// changed jails are restarted; jails no longer enabled are stopped and their bans lifted.
pub async fn reload(server: &Arc<Server>) -> Result<String, String> {
    reload_with(server, &ReloadOptions::default()).await
}

/// [`reload`] with options (`reload --unban`, `reload --restart`, `reload JAIL`).
pub async fn reload_with(server: &Arc<Server>, opts: &ReloadOptions) -> Result<String, String> {
    let _guard = server.reload_lock().lock().await;
    let dir = server.options.config_dir.clone();
    let checked = tokio::task::spawn_blocking(move || crate::check::check(&dir))
        .await
        .map_err(|e| format!("reload failed: {e}"))?
        .map_err(|diags| {
            let mut msg = format!(
                "the configuration has {} error(s); the running configuration stays:",
                diags.len()
            );
            for d in diags {
                msg.push_str(&format!("\n  {d}"));
            }
            msg
        })?;
    let mut wanted: BTreeMap<String, _> = BTreeMap::new();
    for (jail, filter) in checked.config.jails.into_iter().zip(checked.filters) {
        if opts.jail.as_ref().is_none_or(|j| *j == jail.name) {
            wanted.insert(jail.name.clone(), (jail, filter));
        }
    }
    let (mut kept, mut restarted, mut stopped, mut started) = (0, 0, 0, 0);
    let mut carried = BTreeMap::new();
    for running in server.registry.all() {
        if opts.jail.as_ref().is_some_and(|j| *j != running.name) {
            continue;
        }
        if opts.unban {
            for ip in running.banned() {
                running.unban(ip);
            }
        }
        match wanted.get(&running.name) {
            Some((cfg, _)) if *cfg == running.config && !opts.restart => {
                wanted.remove(&running.name);
                kept += 1;
            }
            Some(_) => {
                // Bans outlive the restart (Fail2Ban's reload without --unban).
                carried.insert(running.name.clone(), running.ban_entries());
                server.stop_jail(&running.name).await;
                restarted += 1;
            }
            None => {
                server.stop_jail(&running.name).await;
                stopped += 1;
            }
        }
    }
    for (name, (cfg, filter)) in wanted {
        server.start_jail(cfg, filter);
        if let (Some(bans), Some(jail)) = (carried.remove(&name), server.registry.get(&name)) {
            for entry in bans {
                jail.adopt(entry);
            }
        }
        started += 1;
    }
    started -= restarted;
    server.sync_watchers();
    server.record_running_jails();
    // Reading the tree and compiling filters again touched as much as start-up did.
    crate::memory::release_when_settled();
    Ok(format!(
        "{kept} unchanged, {restarted} restarted, {started} started, {stopped} stopped"
    ))
}
