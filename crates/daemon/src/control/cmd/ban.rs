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

/// `unban --all` or `unban IP...` across every jail; the count of lifted bans is returned.
pub fn unban_everywhere(server: &Server, all: bool, ips: &[String]) -> Response {
    let ips = super::parse_ips(ips)?;
    if !all && ips.is_empty() {
        return Err("unban needs --all or at least one address".into());
    }
    let mut count = 0u64;
    for jail in server.registry.all() {
        let targets = if all { jail.banned() } else { ips.clone() };
        count += targets.into_iter().filter(|ip| jail.unban(*ip)).count() as u64;
    }
    Ok(Reply::Count { count })
}
