//! Building [`Diagnostic`]s and telling errors from warnings.
//!
//! The public `Diagnostic` has no severity field (the API was fixed before this crate was written),
//! so severity is decided by where a diagnostic ends up: errors are returned by [`crate::load`] as
//! `Err`, warnings land in [`crate::Config::warnings`]. Internally both travel together, tagged.

use std::collections::HashSet;
use std::path::Path;

use crate::{Diagnostic, Location};

/// Severity of an internal diagnostic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Severity {
    /// Stops the tree from loading.
    Error,
    /// Reported, but the tree still loads.
    Warning,
}

/// A diagnostic with its severity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tagged {
    pub severity: Severity,
    pub diag: Diagnostic,
}

impl Location {
    /// A location in `file` at `line`.
    pub fn at(file: &Path, line: Option<usize>) -> Location {
        Location {
            file: file.to_path_buf(),
            line,
        }
    }
}

fn make(
    location: Location,
    section: Option<&str>,
    key: Option<&str>,
    message: String,
) -> Diagnostic {
    Diagnostic {
        location,
        section: section.map(str::to_string),
        key: key.map(str::to_string),
        message,
    }
}

/// An error diagnostic.
pub(crate) fn error(
    location: Location,
    section: Option<&str>,
    key: Option<&str>,
    message: String,
) -> Tagged {
    Tagged {
        severity: Severity::Error,
        diag: make(location, section, key, message),
    }
}

/// A warning diagnostic.
pub(crate) fn warning(
    location: Location,
    section: Option<&str>,
    key: Option<&str>,
    message: String,
) -> Tagged {
    Tagged {
        severity: Severity::Warning,
        diag: make(location, section, key, message),
    }
}

/// Collects diagnostics while a tree is loaded.
#[derive(Debug, Default)]
pub(crate) struct Diags {
    items: Vec<Tagged>,
}

impl Diags {
    /// Add one.
    pub fn push(&mut self, t: Tagged) {
        self.items.push(t);
    }

    /// Add many.
    pub fn extend(&mut self, t: impl IntoIterator<Item = Tagged>) {
        self.items.extend(t);
    }

    /// Number of errors so far.
    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|t| t.severity == Severity::Error)
            .count()
    }

    /// Split into (errors, warnings), each without duplicates, in the order found.
    pub fn split(self) -> (Vec<Diagnostic>, Vec<Diagnostic>) {
        let mut errors: Vec<Diagnostic> = Vec::new();
        let mut warnings: Vec<Diagnostic> = Vec::new();
        let mut seen: HashSet<(bool, String)> = HashSet::new();
        for t in self.items {
            let is_error = t.severity == Severity::Error;
            if !seen.insert((is_error, t.diag.to_string())) {
                continue;
            }
            if is_error {
                errors.push(t.diag);
            } else {
                warnings.push(t.diag);
            }
        }
        (errors, warnings)
    }
}
