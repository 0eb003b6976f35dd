//! Log sources: following files across rotation (API contract; bodies being filled in).

pub mod file;
