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

thread_local! {
    /// The last second's local time, formatted (`2026-11-28 10:00:00`): most lines of a busy
    /// moment share it, and the local-time conversion costs more than the rest of a line.
    static SECOND: std::cell::RefCell<(libc::time_t, String)> =
        const { std::cell::RefCell::new((libc::time_t::MIN, String::new())) };
}

/// Write the local time with milliseconds, as Fail2Ban does: `2026-11-28 10:00:00,123`.
fn write_timestamp(w: &mut impl fmt::Write) -> fmt::Result {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    SECOND.with(|cached| {
        let Ok(mut cached) = cached.try_borrow_mut() else {
            // Only if formatting the time logged: convert without the cache.
            let mut own = (libc::time_t::MIN, String::new());
            return write_second(w, &mut own, secs, now.subsec_millis());
        };
        write_second(w, &mut cached, secs, now.subsec_millis())
    })
}

/// [`write_timestamp`] with `cached` holding the last second written.
fn write_second(
    w: &mut impl fmt::Write,
    cached: &mut (libc::time_t, String),
    secs: libc::time_t,
    millis: u32,
) -> fmt::Result {
    {
        if cached.0 != secs {
            // SAFETY: localtime_r fills the tm we hand it.
            let mut tm: libc::tm = unsafe { std::mem::zeroed() };
            unsafe { libc::localtime_r(&secs, &mut tm) };
            let text = &mut cached.1;
            text.clear();
            fmt::Write::write_fmt(
                text,
                format_args!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                    tm.tm_year + 1900,
                    tm.tm_mon + 1,
                    tm.tm_mday,
                    tm.tm_hour,
                    tm.tm_min,
                    tm.tm_sec
                ),
            )?;
            cached.0 = secs;
        }
        write!(w, "{},{:03}", cached.1, millis)
    }
}

/// Write an event's target as Fail2Ban names loggers (`warden_daemon::jail` becomes
/// `warden.jail`), padded to 24 characters.
fn write_target(w: &mut impl fmt::Write, target: &str) -> fmt::Result {
    let (prefix, rest) = match target.strip_prefix("warden_daemon::") {
        Some(rest) => ("warden.", rest),
        None => ("", target),
    };
    let mut len = prefix.len();
    w.write_str(prefix)?;
    for (i, part) in rest.split("::").enumerate() {
        if i > 0 {
            w.write_char('.')?;
            len += 1;
        }
        w.write_str(part)?;
        len += part.chars().count();
    }
    for _ in len..24 {
        w.write_char(' ')?;
    }
    Ok(())
}

/// Only the message is printed; structured fields are for other layers.
struct MessageOnly<'a>(&'a mut String);

impl tracing::field::Visit for MessageOnly<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        use fmt::Write;
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else if self.0.is_empty() || !field.name().starts_with("log.") {
            // Keep extra context (paths, errors) visible after the message.
            if !matches!(
                field.name(),
                "jail" | "ip" | "time" | "bantime" | "action" | "method" | "reason"
            ) {
                let _ = write!(self.0, " {}={value:?}", field.name());
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
        let level = match (*meta.level(), meta.target()) {
            (Level::WARN, "warden::actions") => "NOTICE",
            (Level::ERROR, _) => "ERROR",
            (Level::WARN, _) => "WARNING",
            (Level::INFO, _) => "INFO",
            (Level::DEBUG, _) => "DEBUG",
            (Level::TRACE, _) => "TRACE",
        };
        write_timestamp(&mut w)?;
        w.write_char(' ')?;
        write_target(&mut w, meta.target())?;
        write!(w, "[{}]: {:<7} ", self.pid, level)?;
        MESSAGE.with(|scratch| {
            // A value whose formatting logs (never expected) gets a buffer of its own.
            let mut own = String::new();
            let mut borrowed = scratch.try_borrow_mut();
            let msg = match borrowed.as_deref_mut() {
                Ok(msg) => msg,
                Err(_) => &mut own,
            };
            msg.clear();
            event.record(&mut MessageOnly(msg));
            writeln!(w, "{msg}")
        })
    }
}

thread_local! {
    /// Scratch for an event's message.
    static MESSAGE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn level_filter(level: Option<&str>) -> &'static str {
    match level.map(|l| l.trim().to_ascii_uppercase()).as_deref() {
        Some("CRITICAL") | Some("ERROR") => "error",
        Some("WARNING") | Some("WARN") | Some("NOTICE") => "warn",
        Some("DEBUG") | Some("TRACEDEBUG") | Some("HEAVYDEBUG") => "debug",
        _ => "info",
    }
}

/// Where log lines go.
enum Out {
    Stderr,
    Stdout,
    File(std::sync::Mutex<std::fs::File>),
}

impl Out {
    fn write_all(&self, buf: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        match self {
            Out::Stderr => std::io::stderr().lock().write_all(buf),
            Out::Stdout => std::io::stdout().lock().write_all(buf),
            Out::File(f) => f.lock().unwrap_or_else(|p| p.into_inner()).write_all(buf),
        }
    }
}

static OUT: std::sync::OnceLock<Out> = std::sync::OnceLock::new();

/// Most bytes a thread holds back during a batch before writing them out anyway.
const HOLD_MAX: usize = 64 << 10;

thread_local! {
    /// Lines this thread holds back while it announces a batch of events.
    static HELD: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Write out the lines the calling thread held back (the end of a batch, see
/// [`warden_daemon::events::in_batch`]).
fn flush_held() {
    let Some(out) = OUT.get() else { return };
    HELD.with(|held| {
        let mut held = held.borrow_mut();
        if !held.is_empty() {
            let _ = out.write_all(&held);
            held.clear();
        }
        if held.capacity() > HOLD_MAX * 2 {
            *held = Vec::new();
        }
    });
}

/// The log's writer: each line is written at once with one `write`, except the lines of a
/// batch of events (the `Found` lines of a large read), which are written together when the
/// batch ends or 64 KiB have gathered: one write for many lines.
struct LogSink;

struct EventWriter;

impl std::io::Write for EventWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let Some(out) = OUT.get() else {
            return Ok(buf.len());
        };
        if warden_daemon::events::in_batch() {
            let full = HELD.with(|held| {
                let mut held = held.borrow_mut();
                held.extend_from_slice(buf);
                held.len() >= HOLD_MAX
            });
            if full {
                flush_held();
            }
        } else {
            out.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogSink {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> EventWriter {
        EventWriter
    }
}

/// Install the logger: `target` is STDERR, STDOUT or a file path (SYSLOG falls back to stderr).
pub fn init(level: Option<&str>, target: Option<&str>) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARDEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level_filter(level)));
    let layout = Fail2BanLayout {
        pid: std::process::id(),
    };
    let out = match target.map(|t| t.trim()) {
        None | Some("STDERR") | Some("SYSLOG") | Some("SYSOUT") => Out::Stderr,
        Some("STDOUT") => Out::Stdout,
        Some(path) => {
            if let Some(dir) = std::path::Path::new(path).parent() {
                std::fs::create_dir_all(dir)?;
            }
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| anyhow::anyhow!("cannot open log target {path}: {e}"))?;
            Out::File(std::sync::Mutex::new(file))
        }
    };
    if OUT.set(out).is_err() {
        anyhow::bail!("the logger is already installed");
    }
    warden_daemon::events::set_log_flush(flush_held);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .event_format(layout)
        .with_writer(LogSink)
        .init();
    Ok(())
}
