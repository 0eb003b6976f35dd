//! Re-reading the configuration: validate first, then restart only what changed.

use crate::server::Server;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Re-read the tree the server was started with. A broken tree is refused and the running
/// configuration stays. Unchanged jails keep running untouched (bans, counters, filter state);
/// changed jails are restarted; jails no longer enabled are stopped and their bans lifted.
pub async fn reload(server: &Arc<Server>) -> Result<String, String> {
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
        wanted.insert(jail.name.clone(), (jail, filter));
    }
    let (mut kept, mut restarted, mut stopped, mut started) = (0, 0, 0, 0);
    for running in server.registry.all() {
        match wanted.get(&running.name) {
            Some((cfg, _)) if *cfg == running.config => {
                wanted.remove(&running.name);
                kept += 1;
            }
            Some(_) => {
                server.stop_jail(&running.name).await;
                restarted += 1;
            }
            None => {
                server.stop_jail(&running.name).await;
                stopped += 1;
            }
        }
    }
    for (_, (cfg, filter)) in wanted {
        server.start_jail(cfg, filter);
        started += 1;
    }
    started -= restarted;
    server.sync_watchers();
    Ok(format!(
        "{kept} unchanged, {restarted} restarted, {started} started, {stopped} stopped"
    ))
}
