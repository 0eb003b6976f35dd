//! Entry points for the cargo-fuzz targets in `fuzz/`; not part of the API.
//!
//! The fuzzers reach most of the reader through [`crate::load`] on a directory they write,
//! but `%(x)s` interpolation and `<tag>` substitution are cheaper and more thoroughly fuzzed
//! on one parsed file, without the file system in between.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use crate::interp::Scope;
use crate::overlay::Tree;

/// Parse `text` as one INI file and resolve every option of every section (and of
/// `[DEFAULT]`) the ways the reader does: `%(x)s` interpolation in the section's scope, then
/// load-time `<tag>` substitution over the section's values (plain and `?family=inet6`), then
/// run-time rendering of each value with the dynamic action tags left in place. Returns how
/// many values resolved, so that the work cannot be optimised away.
pub fn fuzz_interpolate(text: &str) -> usize {
    let (file, _) = crate::ini::parse(Path::new("fuzz.conf"), text);
    let mut tree = Tree::default();
    tree.merge(&file);
    // Twice, so that every value also has a `known/` predecessor.
    tree.merge(&file);
    let mut resolved = 0;
    let sections: Vec<String> = std::iter::once("DEFAULT".to_string())
        .chain(tree.sections.keys().cloned())
        .collect();
    for section in &sections {
        let scope = Scope::new(&tree, section);
        let mut values = BTreeMap::new();
        for key in tree.keys_with_defaults(section) {
            if let Some(Ok(v)) = scope.get(&key) {
                values.insert(key, v);
            }
        }
        resolved += values.len();
        let none = HashSet::new();
        for conditional in ["", "family=inet6"] {
            if let Ok(all) = crate::tags::substitute_all(&values, conditional, &none, &|_| None) {
                resolved += all.len();
            }
        }
        let lookup = |name: &str| values.get(name).cloned();
        for value in values.values() {
            let (out, _) = crate::tags::render(value, &lookup, &crate::is_dynamic_tag);
            resolved += usize::from(!out.is_empty());
        }
    }
    resolved
}
