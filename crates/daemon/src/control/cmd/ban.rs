//! `set JAIL banip IP...` and `set JAIL unbanip IP...`.

use crate::server::Server;
use warden_proto::{Reply, Response};

/// Ban each address; the count of new bans is returned.
pub fn ban(server: &Server, jail: &str, ips: &[String]) -> Response {
    let jail = super::jail(server, jail)?;
    let ips = super::parse_ips(ips)?;
    let count = ips.into_iter().filter(|ip| jail.ban_manually(*ip)).count();
    Ok(Reply::Count {
        count: count as u64,
    })
}

/// Unban each address; the count of lifted bans is returned.
pub fn unban(server: &Server, jail: &str, ips: &[String]) -> Response {
    let jail = super::jail(server, jail)?;
    let ips = super::parse_ips(ips)?;
    let count = ips.into_iter().filter(|ip| jail.unban(*ip)).count();
    Ok(Reply::Count {
        count: count as u64,
    })
}
