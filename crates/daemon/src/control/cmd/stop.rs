//! `stop`: shut the server down (bans lifted, actions stopped).

use crate::server::Server;
use warden_proto::{Reply, Response};

/// Ask for shutdown; the answer goes out before the server stops.
pub fn apply(server: &Server) -> Response {
    server.request_shutdown();
    Ok(Reply::Done)
}
