//! The Warden daemon: follows logs, counts failures per address, bans through actions.
//!
//! # Layout
//! - [`sources`]: following log files across rotation (inotify, polling fallback).
//! - [`jail`]: one running jail — its filter thread, [`jail::tracker::FailureTracker`]
//!   (maxretry within findtime), [`jail::ignore::IgnoreList`] (ignoreip, ignoreself) and bans.
//! - [`bans`]: the unban timer (sorted deadlines, one sleeping task).
//! - [`actions`]: action.d command templates, rendered so that log data never becomes shell
//!   text, run with timeouts, one ordered queue per action.
//! - [`firewall`]: kernel ban sets with per-element timeouts, changed in batches (nftables, ipset).
//! - [`store`]: SQLite: current bans, ban history and log positions (one thread, group commit).
//! - [`registry`]: running jails by name and which jails read which file.
//! - [`control`]: the control socket, one file per command under `control/cmd`.
//! - [`check`]: full validation before anything starts (shared with `warden check`).
//! - [`reload`]: re-read the configuration, restart only what changed.
//! - [`server`]: start-up order, signals, shutdown.
//! - [`events`]: the Found / Ban / Unban log lines, defined once.
#![deny(missing_docs)]

pub mod actions;
pub mod bans;
pub mod check;
pub mod control;
pub mod events;
pub mod firewall;
pub mod jail;
pub mod memory;
pub mod registry;
pub mod reload;
pub mod server;
pub mod sources;
pub mod store;
