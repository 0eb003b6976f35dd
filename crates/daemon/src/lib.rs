//! The Warden daemon.
#![deny(missing_docs)]

pub mod sources;
