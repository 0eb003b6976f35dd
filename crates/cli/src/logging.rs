//! Log lines in Fail2Ban's layout, so existing log watchers (and the `recidive` jail) keep
//! working: `2026-11-28 10:00:00,123 warden.actions [42]: NOTICE  [sshd] Ban 192.0.2.1`.

use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

struct Fail2BanLayout {
    pid: u32,
}

fn local_timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: localtime_r fills the tm we hand it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&secs, &mut tm) };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_millis()
    )
}

/// Only the message is printed; structured fields are for other layers.
struct MessageOnly<'a>(&'a mut String);

impl tracing::field::Visit for MessageOnly<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0.push_str(&format!("{value:?}"));
        } else if self.0.is_empty() || !field.name().starts_with("log.") {
            // Keep extra context (paths, errors) visible after the message.
            if !matches!(
                field.name(),
                "jail" | "ip" | "time" | "bantime" | "action" | "method" | "reason"
            ) {
                self.0.push_str(&format!(" {}={value:?}", field.name()));
            }
        }
    }
}

impl<S, N> FormatEvent<S, N> for Fail2BanLayout
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let target = meta.target().replace("::", ".");
        let target = target
            .strip_prefix("warden_daemon.")
            .map(|t| format!("warden.{t}"))
            .unwrap_or(target);
        let level = match (*meta.level(), meta.target()) {
            (Level::WARN, "warden::actions") => "NOTICE",
            (Level::ERROR, _) => "ERROR",
            (Level::WARN, _) => "WARNING",
            (Level::INFO, _) => "INFO",
            (Level::DEBUG, _) => "DEBUG",
            (Level::TRACE, _) => "TRACE",
        };
        let mut msg = String::new();
        event.record(&mut MessageOnly(&mut msg));
        writeln!(
            w,
            "{} {:<24}[{}]: {:<7} {}",
            local_timestamp(),
            target,
            self.pid,
            level,
            msg
        )
    }
}

fn level_filter(level: Option<&str>) -> &'static str {
    match level.map(|l| l.trim().to_ascii_uppercase()).as_deref() {
        Some("CRITICAL") | Some("ERROR") => "error",
        Some("WARNING") | Some("WARN") | Some("NOTICE") => "warn",
        Some("DEBUG") | Some("TRACEDEBUG") | Some("HEAVYDEBUG") => "debug",
        _ => "info",
    }
}

/// Install the logger: `target` is STDERR, STDOUT or a file path (SYSLOG falls back to stderr).
pub fn init(level: Option<&str>, target: Option<&str>) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARDEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level_filter(level)));
    let layout = Fail2BanLayout {
        pid: std::process::id(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .event_format(layout);
    match target.map(|t| t.trim()) {
        None | Some("STDERR") | Some("SYSLOG") | Some("SYSOUT") => {
            builder.with_writer(std::io::stderr).init()
        }
        Some("STDOUT") => builder.with_writer(std::io::stdout).init(),
        Some(path) => {
            if let Some(dir) = std::path::Path::new(path).parent() {
                std::fs::create_dir_all(dir)?;
            }
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| anyhow::anyhow!("cannot open log target {path}: {e}"))?;
            builder.with_writer(std::sync::Mutex::new(file)).init()
        }
    }
    Ok(())
}
