//! `warden regex`: test filters against logs, argument-compatible with `fail2ban-regex`.

/// Arguments of `warden regex`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Log file, or a single log line.
    pub log: String,
    /// Failure regex, filter name (with options), or filter file.
    pub regex: String,
    /// Ignore regex, filter name, or filter file.
    pub ignoreregex: Option<String>,
}

/// Run the command.
pub fn run(_config: &std::path::Path, _args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("warden regex is not available yet")
}
