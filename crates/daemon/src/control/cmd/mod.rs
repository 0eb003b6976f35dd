//! One module per control command; each turns a request into a response.

mod ban;
mod banned;
mod ping;
mod reload;
mod status;
mod stop;

use crate::server::Server;
use std::net::IpAddr;
use std::sync::Arc;
use warden_proto::{Request, Response};

/// Carry out `req`.
pub async fn apply(server: &Arc<Server>, req: Request) -> Response {
    match req {
        Request::Ping => ping::apply(),
        Request::Status { jail } => status::apply(server, jail.as_deref()),
        Request::BanIp { jail, ips } => ban::ban(server, &jail, &ips),
        Request::UnbanIp { jail, ips } => ban::unban(server, &jail, &ips),
        Request::Banned { ips } => banned::apply(server, &ips),
        Request::Reload {
            jail,
            unban,
            restart,
        } => reload::apply(server, jail.as_deref(), unban, restart).await,
        Request::Unban { all, ips } => ban::unban_everywhere(server, all, &ips),
        Request::Stop => stop::apply(server),
    }
}

/// The jail called `name`, or Fail2Ban's error text.
fn jail(server: &Server, name: &str) -> Result<Arc<crate::jail::Jail>, String> {
    server
        .registry
        .get(name)
        .ok_or_else(|| format!("Sorry but the jail '{name}' does not exist"))
}

/// Parse every address or fail naming the first bad one.
fn parse_ips(ips: &[String]) -> Result<Vec<IpAddr>, String> {
    ips.iter()
        .map(|s| {
            s.trim()
                .parse::<IpAddr>()
                .map_err(|_| format!("'{s}' is not an IP address"))
        })
        .collect()
}
