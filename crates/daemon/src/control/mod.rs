//! The control socket: one task per client connection, one file per command.

pub mod cmd;

use crate::server::Server;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use warden_proto::codec::{decode_body, encode_frame};
use warden_proto::{Envelope, Request, Response, PROTOCOL_VERSION};

/// Accept clients until the process ends.
pub async fn serve(listener: UnixListener, server: Arc<Server>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(stream, Arc::clone(&server)));
            }
            Err(e) => {
                tracing::warn!(error = %e, "control socket accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(mut stream: UnixStream, server: Arc<Server>) {
    loop {
        let mut len = [0u8; 4];
        if stream.read_exact(&mut len).await.is_err() {
            return;
        }
        let len = u32::from_be_bytes(len) as usize;
        // Requests are small; a huge length is a confused or hostile peer.
        if len > 16 << 20 {
            return;
        }
        let mut body = vec![0u8; len];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        let response: Response = match decode_body::<Envelope<Request>>(&body) {
            Ok(env) if env.version != PROTOCOL_VERSION => Err(format!(
                "protocol version {} is not supported by this server (it speaks {PROTOCOL_VERSION}); use the matching warden client",
                env.version
            )),
            Ok(env) => cmd::apply(&server, env.body).await,
            Err(e) => Err(format!("malformed request: {e}")),
        };
        let Ok(frame) = encode_frame(&Envelope::new(response)) else {
            return;
        };
        if stream.write_all(&frame).await.is_err() {
            return;
        }
    }
}
