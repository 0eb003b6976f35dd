//! `reload [--restart] [--unban] [JAIL]`: re-read the configuration.

use crate::reload::ReloadOptions;
use crate::server::Server;
use std::sync::Arc;
use warden_proto::{Reply, Response};

/// Reload; a broken configuration is refused with every problem listed.
pub async fn apply(
    server: &Arc<Server>,
    jail: Option<&str>,
    unban: bool,
    restart: bool,
) -> Response {
    if let Some(name) = jail {
        super::jail(server, name)?;
    }
    let opts = ReloadOptions {
        jail: jail.map(str::to_string),
        unban,
        restart,
    };
    let summary = crate::reload::reload_with(server, &opts).await?;
    tracing::info!("Reload: {summary}");
    Ok(Reply::Done)
}
