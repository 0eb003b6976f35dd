//! The control-socket protocol spoken between `warden` (the client) and `warden server`.
//!
//! # Layout
//! - [`codec`]: framing. Every message is a 4-byte big-endian length followed by that many bytes
//!   of JSON. There is no size cap beyond the 4 GiB the length allows, so a status listing
//!   100,000 bans travels whole.
//! - [`message`]: the [`Request`] and [`Response`] types, versioned by [`PROTOCOL_VERSION`].
//! - [`format`]: the text the client prints, byte for byte as `fail2ban-client` prints it,
//!   so scripts written against Fail2Ban keep working.
#![deny(missing_docs)]

pub mod codec;
pub mod format;
pub mod message;

pub use codec::{read_frame, write_frame};
pub use message::{
    BannedEntry, Envelope, JailStatus, Reply, Request, Response, ServerStatus, PROTOCOL_VERSION,
};
