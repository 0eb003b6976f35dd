//! `warden test-filter`: run Fail2Ban-style annotated sample logs against filters.

/// Arguments of `warden test-filter`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Annotated sample logs (`# failJSON:` lines).
    #[arg(required = true)]
    pub samples: Vec<std::path::PathBuf>,
}

/// Run the command.
pub fn run(_config: &std::path::Path, _args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("warden test-filter is not available yet")
}
