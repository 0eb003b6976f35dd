//! Arbitrary text as a whole Fail2Ban configuration tree: `warden_config::load` must return
//! `Ok` or `Err`, never panic, hang or overflow the stack (include cycles, `%(a)s` cycles
//! and `<tag>` cycles are errors or warnings, not loops).
//!
//! Input: lossy UTF-8. A line `@@ PATH` starts file PATH (relative, up to 3 components);
//! text before the first such line is `jail.conf`. For example:
//!
//! ```text
//! [sshd]
//! enabled = true
//! @@ filter.d/sshd.conf
//! [Definition]
//! failregex = ^x <HOST>$
//! ```
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;

#[path = "tree.rs"]
mod tree;

/// Split the input into (path, contents) pairs.
fn files(text: &str) -> Vec<(String, String)> {
    let mut out = vec![("jail.conf".to_string(), String::new())];
    for line in text.split_inclusive('\n') {
        if let Some(path) = line.strip_prefix("@@ ") {
            out.push((path.trim().to_string(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if !tree::acceptable(&text) {
        return;
    }
    let files = files(&text);
    let root = tree::scratch();
    tree::write(root, &files);

    if let Ok(config) = warden_config::load(root) {
        for jail in &config.jails {
            for action in &jail.actions {
                let _ = action.timeout();
                for key in action.properties.keys() {
                    for family in ["inet4", "inet6"] {
                        let _ = action.render(key, family);
                    }
                }
            }
        }
    }

    // Every filter on its own, as `warden regex` and `test-filter` read them.
    let none = BTreeMap::new();
    for (path, _) in &files {
        if let Some(name) = path
            .strip_prefix("filter.d/")
            .and_then(|p| p.strip_suffix(".conf"))
        {
            let _ = warden_config::load_filter(root, name, &none, "auto");
            let _ = warden_config::load_filter(root, name, &none, "systemd");
        }
    }
});
