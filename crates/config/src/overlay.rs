//! File order, `[INCLUDES]` and key-by-key merging of one configuration unit.
//!
//! A unit (`jail`, `fail2ban`, `filter.d/sshd`, `action.d/iptables-allports`) is read from
//! `X.conf`, `X.d/*.conf`, `X.local`, `X.d/*.local` (each glob sorted). Every file first pulls
//! in its `[INCLUDES] before` files (recursively, relative to itself, each `Y.conf` followed by
//! `Y.local`), then itself, then its `after` files. The resulting file list is merged section by
//! section and key by key, last wins; a value that gets overridden is kept as the section's
//! "known" value so that `%(known/x)s` can extend it. `[Init?family=inet6]` style sections are
//! folded into `Init` with their keys suffixed (`blocktype?family=inet6`), as Fail2Ban does.
//!
//! Parsed files and merged units are cached by the [`Loader`], so `common.conf` is parsed once
//! however many filters include it, and a filter used by many jails is merged once.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use crate::diag::{warning, Diags};
use crate::ini::{self, IniFile};
use crate::interp::Scope;
use crate::Location;

/// Deepest `[INCLUDES]` chain followed; deeper chains are reported and cut.
const MAX_INCLUDE_DEPTH: usize = 32;

/// A merged value and where its final definition is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Value {
    /// The raw (not interpolated) text.
    pub text: String,
    /// Location of the key.
    pub loc: Location,
    /// Source line of each line of `text`.
    pub value_lines: Vec<usize>,
}

/// A merged unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Tree {
    /// `[DEFAULT]`.
    pub defaults: BTreeMap<String, Value>,
    /// Every other section, conditional sections folded in.
    pub sections: BTreeMap<String, BTreeMap<String, Value>>,
    /// Where each section was first defined.
    pub section_locs: BTreeMap<String, Location>,
    /// Overridden values per section (the value before the last override).
    pub known: BTreeMap<String, BTreeMap<String, Value>>,
    /// The files merged, in order.
    pub files: Vec<PathBuf>,
}

impl Tree {
    /// Merge one parsed file on top.
    pub(crate) fn merge(&mut self, file: &IniFile) {
        self.files.push(file.path.clone());
        for section in &file.sections {
            let (name, cond) = split_conditional(&section.name);
            let entries = section.entries.iter().map(|e| {
                (
                    format!("{}{}", e.key, cond),
                    Value {
                        text: e.value.clone(),
                        loc: Location::at(&file.path, Some(e.line)),
                        value_lines: e.value_lines.clone(),
                    },
                )
            });
            if name == "DEFAULT" {
                self.defaults.extend(entries);
                continue;
            }
            self.section_locs
                .entry(name.to_string())
                .or_insert_with(|| Location::at(&file.path, Some(section.line)));
            let target = self.sections.entry(name.to_string()).or_default();
            for (k, v) in entries {
                if let Some(old) = target.insert(k.clone(), v) {
                    self.known
                        .entry(name.to_string())
                        .or_default()
                        .insert(k, old);
                }
            }
        }
    }

    /// Raw value of `key` in `section`, falling back to `[DEFAULT]`.
    pub fn raw(&self, section: &str, key: &str) -> Option<&Value> {
        self.sections
            .get(section)
            .and_then(|s| s.get(key))
            .or_else(|| self.defaults.get(key))
    }

    /// Does `section` itself (not `[DEFAULT]`) define `key`?
    pub fn has_own(&self, section: &str, key: &str) -> bool {
        self.sections
            .get(section)
            .is_some_and(|s| s.contains_key(key))
    }

    /// Option names of `section` followed by those of `[DEFAULT]` it does not override.
    pub fn keys_with_defaults(&self, section: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .sections
            .get(section)
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default();
        for k in self.defaults.keys() {
            if !self.has_own(section, k) {
                keys.push(k.clone());
            }
        }
        keys
    }
}

/// `Init?family=inet6` -> (`Init`, `?family=inet6`); other names -> (name, "").
pub(crate) fn split_conditional(name: &str) -> (&str, &str) {
    if let Some(q) = name.find('?') {
        let base = &name[..q];
        if q + 1 < name.len()
            && !base.is_empty()
            && base.chars().all(|c| c.is_alphanumeric() || c == '_')
        {
            return (base, &name[q..]);
        }
    }
    (name, "")
}

/// Reads units of one configuration directory, with caches.
#[derive(Debug)]
pub(crate) struct Loader {
    root: PathBuf,
    files: HashMap<PathBuf, Option<Rc<IniFile>>>,
    units: HashMap<String, Option<Rc<Tree>>>,
    /// Everything found while reading.
    pub diags: Diags,
}

impl Loader {
    /// A loader for the tree at `root`.
    pub fn new(root: &Path) -> Loader {
        Loader {
            root: root.to_path_buf(),
            files: HashMap::new(),
            units: HashMap::new(),
            diags: Diags::default(),
        }
    }

    /// The configuration root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Does any file of unit `stem` exist?
    pub fn exists(&self, stem: &str) -> bool {
        !unit_files(&self.root, stem).is_empty()
    }

    /// Read unit `stem` (`jail`, `filter.d/sshd`); `None` when none of its files exist.
    pub fn unit(&mut self, stem: &str) -> Option<Rc<Tree>> {
        if let Some(t) = self.units.get(stem) {
            return t.clone();
        }
        let files = unit_files(&self.root, stem);
        let tree = if files.is_empty() {
            None
        } else {
            let all = self.with_includes(&files, &[], 0);
            let mut tree = Tree::default();
            for f in &all {
                if let Some(parsed) = self.file(f) {
                    tree.merge(&parsed);
                }
            }
            Some(Rc::new(tree))
        };
        self.units.insert(stem.to_string(), tree.clone());
        tree
    }

    /// Parse `path` once; `None` if it cannot be read.
    fn file(&mut self, path: &Path) -> Option<Rc<IniFile>> {
        if let Some(f) = self.files.get(path) {
            return f.clone();
        }
        let (parsed, diags) = ini::read(path);
        self.diags.extend(diags);
        let parsed = parsed.map(Rc::new);
        self.files.insert(path.to_path_buf(), parsed.clone());
        parsed
    }

    /// Fail2Ban's `_getIncludes`: each file (plus its `.local`) with its includes around it.
    fn with_includes(&mut self, files: &[PathBuf], seen: &[PathBuf], depth: usize) -> Vec<PathBuf> {
        let mut expanded: Vec<PathBuf> = Vec::new();
        for f in files {
            expanded.push(f.clone());
            let local = f.with_extension("local");
            if !files.contains(&local) && local != *f && local.is_file() {
                expanded.push(local);
            }
        }
        let mut out = Vec::new();
        for f in &expanded {
            out.extend(self.includes_of(f, seen, depth));
        }
        out
    }

    /// Fail2Ban's `__getIncludesUncached`: before-files, the file, after-files.
    fn includes_of(&mut self, resource: &Path, seen: &[PathBuf], depth: usize) -> Vec<PathBuf> {
        let Some(parsed) = self.file(resource) else {
            return Vec::new();
        };
        let Some(includes) = parsed.section("INCLUDES") else {
            return vec![resource.to_path_buf()];
        };
        let dir = resource.parent().unwrap_or(Path::new(""));
        let mut single = Tree::default();
        single.merge(&parsed);
        let mut before = Vec::new();
        let mut after = Vec::new();
        for (option, list) in [("before", &mut before), ("after", &mut after)] {
            let Some(entry) = includes.get(option) else {
                continue;
            };
            let loc = Location::at(resource, Some(entry.line));
            let text = match (Scope::new(&single, "INCLUDES")).interpolate(&entry.value) {
                Ok(t) => t,
                Err(e) => {
                    self.diags
                        .push(warning(loc.clone(), Some("INCLUDES"), Some(option), e));
                    entry.value.clone()
                }
            };
            for name in text.split('\n') {
                if name.is_empty() {
                    continue;
                }
                let r = normalize(&dir.join(name));
                if seen.contains(&r) {
                    continue;
                }
                if depth >= MAX_INCLUDE_DEPTH {
                    self.diags.push(warning(
                        loc.clone(),
                        Some("INCLUDES"),
                        Some(option),
                        format!("includes nested deeper than {MAX_INCLUDE_DEPTH} levels; {name:?} skipped"),
                    ));
                    continue;
                }
                if !r.is_file() {
                    // Stock trees name optional `.local` files (`after = common.local`);
                    // Fail2Ban skips missing includes silently, we only mention real ones.
                    if r.extension().is_some_and(|e| e == "local") {
                        continue;
                    }
                    self.diags.push(warning(
                        loc.clone(),
                        Some("INCLUDES"),
                        Some(option),
                        format!("included file {} does not exist; skipped", r.display()),
                    ));
                    continue;
                }
                let mut s = seen.to_vec();
                s.push(resource.to_path_buf());
                list.extend(self.with_includes(&[r], &s, depth + 1));
            }
        }
        let mut out = before;
        out.push(resource.to_path_buf());
        out.extend(after);
        out
    }
}

/// `X.conf`, `X.d/*.conf`, `X.local`, `X.d/*.local` that exist, in that order.
pub(crate) fn unit_files(root: &Path, stem: &str) -> Vec<PathBuf> {
    let dir = root.join(format!("{stem}.d"));
    let mut out = Vec::new();
    let conf = root.join(format!("{stem}.conf"));
    if conf.is_file() {
        out.push(conf);
    }
    out.extend(glob_sorted(&dir, "conf"));
    let local = root.join(format!("{stem}.local"));
    if local.is_file() {
        out.push(local);
    }
    out.extend(glob_sorted(&dir, "local"));
    out
}

/// Non-hidden regular files `dir/*.ext`, sorted by name.
fn glob_sorted(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let suffix = format!(".{ext}");
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.starts_with('.') && name.ends_with(&suffix)
        })
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Remove `.` and `..` components lexically, so include loops are recognised.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditional_section_names() {
        assert_eq!(
            split_conditional("Init?family=inet6"),
            ("Init", "?family=inet6")
        );
        assert_eq!(split_conditional("Init"), ("Init", ""));
        assert_eq!(split_conditional("a b?x"), ("a b?x", ""));
    }

    #[test]
    fn normalize_dots() {
        assert_eq!(
            normalize(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
    }
}
