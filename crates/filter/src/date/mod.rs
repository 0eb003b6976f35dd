//! The date detector: finds a log line's timestamp so it can be cut out and converted.
//!
//! - [`fields`]: strptime `%` fields → regex groups (Fail2Ban's overrides, `%Ex*`).
//! - [`template`]: one date template: anchoring rules, `EPOCH`/`LEPOCH`/`TAI64N`.
//! - [`detector`]: the template list, default templates and the selection rules.
//! - `syslog`: reads the usual syslog date at a line's start without the regex.
//! - [`convert`]: matched fields → epoch seconds (year-less dates, zones, local time).

pub mod convert;
pub mod detector;
pub mod fields;
mod syslog;
pub mod template;

pub use detector::{DateDetector, DateMatch, TemplateSlot, TimeCache, DEFAULT_PATTERNS};
pub use template::DateTemplate;
