//! `warden check --dump`: the fully resolved configuration, as text or JSON.

use warden_config::Config;

/// Print `config` resolved.
pub fn print(config: &Config, json: bool) {
    let _ = (config, json);
    eprintln!("--dump is not available yet");
}
