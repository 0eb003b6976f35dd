//! Log sources.
//!
//! - [`file`](mod@file): following log files across rename and copytruncate rotation, woken by
//!   inotify with polling as a safety net; [`file::watch`] runs one thread for all the files it
//!   is given and sends [`file::LineBatch`]es.

pub mod file;
pub mod journal;
