//! `warden test-filter`: run Fail2Ban-style annotated sample logs against filters.
//!
//! Filter authors document a filter with a sample log whose lines carry
//! `# failJSON: {"match": true, "host": ..., "time": ...}` annotations (Fail2Ban keeps one per
//! filter under `tests/files/logs/`). This command runs such files the way Fail2Ban's
//! `tests/samplestestcase.py` does and reports every line whose result disagrees with its
//! annotation, naming the file, line, filter variant and field.
//!
//! # Layout
//!
//! - `suite`: one sample file (and the files it adds) against its filter's variants.
//! - `expect`: what an annotation expects and how a failure is compared with it.
//! - `options`: `filterOptions` dictionaries and the `test.condition` / `constraint`
//!   expressions.
//! - `report`: results, printed as text or JSON.

mod expect;
mod options;
mod report;
mod suite;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use report::Report;
use suite::{SampleRun, Settings};

/// Fail2Ban's sample-test "now": 2005-08-14 12:00:00 CEST.
pub const SUITE_NOW: f64 = 1_124_013_600.0;
/// Fail2Ban's sample-test time zone (DST changes at 02:00).
pub const SUITE_TZ: &str = "CET-01CEST-02,M3.5.0,M10.5.0";

/// Arguments of `warden test-filter`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Annotated sample logs (`# failJSON:` lines); each runs against the filter of the same
    /// name in the configuration's filter.d.
    #[arg(required = true)]
    pub samples: Vec<PathBuf>,
    /// The current time, epoch seconds (for year-less dates and lines without a date).
    #[arg(long, value_name = "EPOCH", default_value_t = SUITE_NOW)]
    pub now: f64,
    /// Time zone of the annotated times and of dates without a zone (POSIX TZ syntax).
    #[arg(long, value_name = "TZ", default_value = SUITE_TZ)]
    pub tz: String,
    /// Skip Fail2Ban's check for a greedy catch-all (`.*`, `.+`) before `<HOST>`.
    #[arg(long)]
    pub no_greed_check: bool,
    /// Print every case and check as one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// Set the process time zone (before any local-time conversion happens).
pub fn set_timezone(tz: &str) {
    std::env::set_var("TZ", tz);
}

/// Fail2Ban's `RE_WRONG_GREED`: `.*` or `.+` (not lazy) before `<HOST>`, not followed by a
/// hard end anchor or a precise sub-expression.
fn greed_matcher() -> anyhow::Result<warden_filter::matcher::AnyMatcher> {
    let host = warden_filter::tags::host();
    let mut escaped = String::with_capacity(host.len() * 2);
    for c in host.chars() {
        if "\\.^$*+?{}[]|()".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    let pattern = format!(r"\.[+\*](?!\?)[^\$\^]*{escaped}.*(?:\.[+\*].*|[^\$])$");
    warden_filter::matcher::compile(&pattern, false)
        .map_err(|e| anyhow::anyhow!("greedy catch-all check does not compile: {e}"))
}

/// The filter a sample file tests: its base name.
fn filter_name(sample: &Path) -> anyhow::Result<String> {
    let name = sample
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{}: not a file name", sample.display()))?;
    Ok(name.to_string())
}

/// Run the command.
pub fn run(config: &Path, args: Args) -> anyhow::Result<i32> {
    set_timezone(&args.tz);
    if !config.join("filter.d").is_dir() {
        bail!(
            "{}: no filter.d directory here (give the configuration directory with --config)",
            config.display()
        );
    }
    let greed = if args.no_greed_check {
        None
    } else {
        Some(greed_matcher()?)
    };
    let settings = Settings {
        config,
        now: args.now,
        greed: greed.as_ref(),
    };
    let mut report = Report::default();
    for sample in suite::dedup_samples(&args.samples) {
        if !sample.is_file() {
            bail!("{}: no such sample file", sample.display());
        }
        let name = filter_name(&sample)?;
        SampleRun::new(&settings, &name).run(&sample, &mut report);
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        // Serialised first so that a closed pipe surfaces as an I/O error (exit 0).
        let text = serde_json::to_string_pretty(&report.to_json())?;
        use std::io::Write;
        writeln!(out, "{text}")?;
    } else {
        report.print_text(&mut out)?;
    }
    let t = report.totals();
    Ok(if t.failed == 0 && t.checks == 0 { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_filter::matcher::Matcher;

    #[test]
    fn greed_check_is_fail2bans() {
        let greed = greed_matcher().unwrap();
        let host = warden_filter::tags::host();
        let hit = |s: String| greed.search(&s).is_some();
        assert!(hit(format!("greedy .* test{host} test not hard-anchored")));
        assert!(hit(format!("greedy .+ test{host} test vary .* anchored$")));
        assert!(!hit(format!(
            "greedy .* test{host} test no catch-all, hard-anchored$"
        )));
        assert!(!hit(format!(
            "non-greedy .*? test{host} test not hard-anchored"
        )));
        assert!(!hit(format!(
            "non-greedy .+? test{host} test vary catch-all .* anchored$"
        )));
    }
}
