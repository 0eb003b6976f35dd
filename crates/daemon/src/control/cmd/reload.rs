//! `reload`: re-read the configuration.

use crate::server::Server;
use std::sync::Arc;
use warden_proto::{Reply, Response};

/// Reload; a broken configuration is refused with every problem listed.
pub async fn apply(server: &Arc<Server>) -> Response {
    let summary = crate::reload::reload(server).await?;
    tracing::info!("Reload: {summary}");
    Ok(Reply::Done)
}
