//! Validating a configuration tree completely before anything is touched.
//!
//! `warden check` and `warden server` share this: the server compiles every filter and resolves
//! every action before it creates a socket or runs a single firewall command, so a broken
//! configuration never leaves a half-started daemon or a half-built firewall behind.

use std::path::Path;
use warden_config::{Config, Diagnostic, Location};
use warden_filter::Filter;

/// A configuration that passed every check, with its compiled filters.
pub struct Checked {
    /// The configuration.
    pub config: Config,
    /// One compiled filter per jail, in `config.jails` order.
    pub filters: Vec<Filter>,
    /// Things that work but look wrong.
    pub warnings: Vec<Diagnostic>,
}

fn regex_location(list: &[(String, Location)], index: usize, fallback: &Path) -> Location {
    list.get(index)
        .map(|(_, l)| l.clone())
        .unwrap_or_else(|| Location {
            file: fallback.to_path_buf(),
            line: None,
        })
}

/// Load and fully validate the tree at `dir`. Every problem found is returned at once.
pub fn check(dir: &Path) -> Result<Checked, Vec<Diagnostic>> {
    let config = warden_config::load(dir)?;
    let mut errors = Vec::new();
    let mut warnings = config.warnings.clone();
    let mut filters = Vec::new();
    for jail in &config.jails {
        let f = &jail.filter;
        for (regex, loc) in &f.failregex {
            for lint in warden_filter::lint_regex(regex) {
                let mut message = lint.message.clone();
                if let Some(s) = &lint.suggestion {
                    message.push_str(&format!("; did you mean: {s}"));
                }
                warnings.push(Diagnostic {
                    location: loc.clone(),
                    section: Some(format!("{} (filter {})", jail.name, f.name)),
                    key: Some("failregex".into()),
                    message,
                });
            }
        }
        if let Err(message) = crate::jail::increment::BanTimeIncrement::from_options(&jail.options)
        {
            errors.push(Diagnostic {
                location: jail.location.clone(),
                section: Some(jail.name.clone()),
                key: message.split(':').next().map(str::to_string),
                message,
            });
        }
        if jail.backend.trim().starts_with("systemd") {
            let m = jail.filter.journalmatch.clone().unwrap_or_default();
            if let Err(e) = crate::sources::journal::JournalMatch::parse(&m) {
                errors.push(Diagnostic {
                    location: Location {
                        file: jail.filter.file.clone(),
                        line: None,
                    },
                    section: Some(format!("{} (filter {})", jail.name, jail.filter.name)),
                    key: Some("journalmatch".into()),
                    message: e.to_string(),
                });
            }
        }
        match Filter::new(&crate::jail::filter_spec(jail)) {
            Ok(filter) => filters.push(filter),
            Err(errs) => {
                for e in errs {
                    let location = match e.option {
                        "failregex" => regex_location(&f.failregex, e.index, &f.file),
                        "ignoreregex" => regex_location(&f.ignoreregex, e.index, &f.file),
                        _ => Location {
                            file: f.file.clone(),
                            line: None,
                        },
                    };
                    errors.push(Diagnostic {
                        location,
                        section: Some(format!("{} (filter {})", jail.name, f.name)),
                        key: Some(e.option.to_string()),
                        message: format!("{} in {:?}", e.message, e.regex),
                    });
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(Checked {
            config,
            filters,
            warnings,
        })
    } else {
        Err(errors)
    }
}
