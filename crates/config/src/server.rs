//! Server-wide options from `warden.conf` (our tree) or `fail2ban.conf` (Fail2Ban trees).

use std::path::PathBuf;

use crate::diag::error;
use crate::duration::parse_duration;
use crate::filter::parse_count;
use crate::interp::Scope;
use crate::overlay::Loader;
use crate::ServerConfig;

/// Read `[Definition]` of `warden` when any of its files exists, else of `fail2ban`.
pub(crate) fn load_server(loader: &mut Loader) -> ServerConfig {
    let stem = if loader.exists("warden") {
        "warden"
    } else {
        "fail2ban"
    };
    let Some(tree) = loader.unit(stem) else {
        return ServerConfig::default();
    };
    let scope = Scope::new(&tree, "Definition");
    let mut get = |key: &str| -> Option<String> {
        match scope.get(key)? {
            Ok(v) => Some(v).filter(|v| !v.is_empty()),
            Err(e) => {
                let loc = tree
                    .raw("Definition", key)
                    .map(|v| v.loc.clone())
                    .unwrap_or_default();
                loader
                    .diags
                    .push(error(loc, Some("Definition"), Some(key), e));
                None
            }
        }
    };
    let mut server = ServerConfig {
        socket: get("socket").map(PathBuf::from),
        pidfile: get("pidfile").map(PathBuf::from),
        dbfile: get("dbfile").map(PathBuf::from),
        loglevel: get("loglevel"),
        logtarget: get("logtarget"),
        ..ServerConfig::default()
    };
    let purge = get("dbpurgeage");
    let maxmatches = get("dbmaxmatches");
    let mut bad = |key: &str, msg: String| {
        let loc = tree
            .raw("Definition", key)
            .map(|v| v.loc.clone())
            .unwrap_or_default();
        loader
            .diags
            .push(error(loc, Some("Definition"), Some(key), msg));
    };
    if let Some(v) = purge {
        match parse_duration(&v) {
            Ok(s) => server.dbpurgeage = Some(s),
            Err(e) => bad("dbpurgeage", e),
        }
    }
    if let Some(v) = maxmatches {
        match parse_count(&v).and_then(|n| u32::try_from(n).ok()) {
            Some(n) => server.dbmaxmatches = Some(n),
            None => bad(
                "dbmaxmatches",
                format!("expected a whole number (0 or more), got {v:?}"),
            ),
        }
    }
    server
}
