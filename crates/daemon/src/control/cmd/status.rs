//! `status [JAIL]`.

use crate::server::Server;
use warden_proto::{Reply, Response, ServerStatus};

/// Server overview, or one jail's counters.
pub fn apply(server: &Server, jail: Option<&str>) -> Response {
    match jail {
        None => Ok(Reply::Server(ServerStatus {
            jails: server.registry.names(),
        })),
        Some(name) => Ok(Reply::Jail(super::jail(server, name)?.status())),
    }
}
