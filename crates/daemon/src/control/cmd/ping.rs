//! `ping`: is the server alive?

use warden_proto::{Reply, Response};

/// Always `pong`.
pub fn apply() -> Response {
    Ok(Reply::Pong)
}
