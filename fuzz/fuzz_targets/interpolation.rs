//! `%(x)s` interpolation and `<tag>` substitution from fuzz input, two ways:
//!
//! 1. the input as one INI file, every option of every section resolved through the
//!    crate's interpolation and tag substitution directly (`warden_config::fuzzing`);
//! 2. the input's parts placed into a jail with one action, loaded with
//!    `warden_config::load`, and every action property rendered (`ActionConfig::render`),
//!    for both families.
//!
//! Must never panic, hang or recurse without bound: self-references are errors.
//!
//! Input: lossy UTF-8, split at lines `@@` into up to six parts: `[DEFAULT]` options, the
//! jail's options, the action's parameters (inside `action = demo[...]`), the action file's
//! `[Definition]`, `[Init]` and `[Init?family=inet6]`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "tree.rs"]
mod tree;

fn action_tree(parts: &[&str]) -> Vec<(String, String)> {
    let part = |i: usize| parts.get(i).copied().unwrap_or_default();
    let jail = format!(
        "[DEFAULT]\n{}\n[demo]\nenabled = true\nfilter = demo\nlogpath = /var/log/demo.log\nbackend = auto\naction = demo[{}]\n{}\n",
        part(0),
        part(2).replace('\n', " "),
        part(1),
    );
    let action = format!(
        "[Definition]\n{}\n[Init]\n{}\n[Init?family=inet6]\n{}\n",
        part(3),
        part(4),
        part(5),
    );
    vec![
        ("jail.conf".to_string(), jail),
        (
            "filter.d/demo.conf".to_string(),
            "[Definition]\nfailregex = ^fail from <HOST>$\n".to_string(),
        ),
        ("action.d/demo.conf".to_string(), action),
    ]
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = warden_config::fuzzing::fuzz_interpolate(&text);

    if !tree::acceptable(&text) {
        return;
    }
    let parts: Vec<&str> = text.split("\n@@\n").take(6).collect();
    let root = tree::scratch();
    tree::write(root, &action_tree(&parts));
    if let Ok(config) = warden_config::load(root) {
        for jail in &config.jails {
            for action in &jail.actions {
                let _ = action.timeout();
                let keys = action
                    .properties
                    .keys()
                    .chain(action.family_properties.values().flat_map(|m| m.keys()));
                for key in keys {
                    for family in ["inet4", "inet6"] {
                        let _ = action.render(key, family);
                    }
                }
            }
        }
    }
});
