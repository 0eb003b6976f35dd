//! `banned [IP...]`: which jails hold which addresses.

use crate::server::Server;
use warden_proto::{BannedEntry, Reply, Response};

/// Per jail, its banned addresses (only those asked about, if any were named).
pub fn apply(server: &Server, ips: &[String]) -> Response {
    let filter = super::parse_ips(ips)?;
    let jails = server
        .registry
        .all()
        .iter()
        .map(|j| BannedEntry {
            jail: j.name.clone(),
            ips: j
                .banned()
                .into_iter()
                .filter(|ip| filter.is_empty() || filter.contains(ip))
                .map(|ip| ip.to_string())
                .collect(),
        })
        .filter(|e| filter.is_empty() || !e.ips.is_empty())
        .collect();
    Ok(Reply::Banned { jails })
}
