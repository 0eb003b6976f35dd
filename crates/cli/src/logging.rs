//! Log lines in Fail2Ban's layout, so existing log watchers (and the `recidive` jail) keep
//! working: `2026-11-28 10:00:00,123 warden.actions [42]: NOTICE  [sshd] Ban 192.0.2.1`.

use std::fmt;
use std::net::IpAddr;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

struct Fail2BanLayout {
    pid: u32,
}

/// A second's local time, formatted (`2026-11-28 10:00:00`) only when the second changes: most
/// lines of a busy moment share it, and the conversion costs more than the rest of a line.
struct Second {
    at: libc::time_t,
    text: String,
}

impl Default for Second {
    fn default() -> Self {
        Second {
            at: libc::time_t::MIN,
            text: String::new(),
        }
    }
}

impl Second {
    /// The local time of `secs`, without milliseconds.
    fn text(&mut self, secs: libc::time_t) -> &str {
        if self.at != secs {
            // SAFETY: localtime_r fills the tm we hand it.
            let mut tm: libc::tm = unsafe { std::mem::zeroed() };
            unsafe { libc::localtime_r(&secs, &mut tm) };
            self.text.clear();
            let _ = fmt::Write::write_fmt(
                &mut self.text,
                format_args!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                    tm.tm_year + 1900,
                    tm.tm_mon + 1,
                    tm.tm_mday,
                    tm.tm_hour,
                    tm.tm_min,
                    tm.tm_sec
                ),
            );
            self.at = secs;
        }
        &self.text
    }
}

thread_local! {
    static SECOND: std::cell::RefCell<Second> = std::cell::RefCell::new(Second::default());
}

/// Run `f` on this thread's scratch value in `key`, or on a fresh one while that is in use
/// (only if formatting a value logs, which nothing is expected to do).
fn with_scratch<T: Default + 'static, R>(
    key: &'static std::thread::LocalKey<std::cell::RefCell<T>>,
    f: impl FnOnce(&mut T) -> R,
) -> R {
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut value) => f(&mut value),
        Err(_) => f(&mut T::default()),
    })
}

/// The current time: seconds since the epoch and milliseconds.
fn now() -> (libc::time_t, u32) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_secs() as libc::time_t, now.subsec_millis())
}

/// Write the local time with milliseconds, as Fail2Ban does: `2026-11-28 10:00:00,123`.
fn write_timestamp(w: &mut impl fmt::Write) -> fmt::Result {
    let (secs, millis) = now();
    with_scratch(&SECOND, |second| {
        write!(w, "{},{:03}", second.text(secs), millis)
    })
}

/// Write what comes before a line's message: time, logger, pid and level.
fn write_prefix(w: &mut impl fmt::Write, target: &str, level: &str, pid: u32) -> fmt::Result {
    write_timestamp(w)?;
    w.write_char(' ')?;
    write_target(w, target)?;
    write!(w, "[{pid}]: {level:<7} ")
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
        write_prefix(&mut w, meta.target(), level, self.pid)?;
        with_scratch(&MESSAGE, |msg| {
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

/// The pid every line shows.
static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// Most bytes of `Found` lines gathered before they are written.
const HOLD_MAX: usize = 64 << 10;

thread_local! {
    /// Scratch: the `Found` lines of a batch, written together.
    static HELD: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `fmt::Write` into bytes.
struct Bytes<'a>(&'a mut Vec<u8>);

impl fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Append `n` (< 1000) as three digits.
fn push_3_digits(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&[
        b'0' + (n / 100 % 10) as u8,
        b'0' + (n / 10 % 10) as u8,
        b'0' + (n % 10) as u8,
    ]);
}

/// Append an address as `Display` writes it (IPv4 digit by digit: the usual case).
fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                if octet >= 100 {
                    out.push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    out.push(b'0' + octet / 10 % 10);
                }
                out.push(b'0' + octet % 10);
            }
        }
        IpAddr::V6(v6) => {
            use fmt::Write as _;
            let _ = write!(Bytes(out), "{v6}");
        }
    }
}

/// What follows the milliseconds in a `Found` line, up to the address.
fn found_middle(jail: &str, pid: u32) -> String {
    let mut middle = String::from(" ");
    let _ = write_target(&mut middle, "warden::filter");
    let _ = fmt::Write::write_fmt(
        &mut middle,
        format_args!("[{pid}]: {:<7} [{jail}] Found ", "INFO"),
    );
    middle
}

/// The daemon's `Found` lines of one batch ([`warden_daemon::events::found_all`]), laid out
/// as [`Fail2BanLayout`] lays out the event, written together: one `write` per 64 KiB instead
/// of one per line. A large read logs a line for every few lines it reads, so the line is put
/// together by hand: the part before the milliseconds is that of the second (cached), the part
/// after them is the same for every line.
fn write_found(jail: &str, ips: &mut dyn Iterator<Item = IpAddr>) {
    let (Some(out), Some(&pid)) = (OUT.get(), PID.get()) else {
        ips.for_each(drop);
        return;
    };
    let middle = found_middle(jail, pid);
    with_scratch(&HELD, |held| {
        let mut second = Second::default();
        for ip in ips {
            let (secs, millis) = now();
            held.extend_from_slice(second.text(secs).as_bytes());
            held.push(b',');
            push_3_digits(held, millis);
            held.extend_from_slice(middle.as_bytes());
            push_ip(held, ip);
            held.push(b'\n');
            if held.len() >= HOLD_MAX {
                let _ = out.write_all(held);
                held.clear();
            }
        }
        if !held.is_empty() {
            let _ = out.write_all(held);
            held.clear();
        }
        if held.capacity() > HOLD_MAX * 2 {
            *held = Vec::new();
        }
    });
}

/// The log's writer: each line is written at once, with one `write`.
struct LogSink;

struct EventWriter;

impl std::io::Write for EventWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(out) = OUT.get() {
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
    let _ = PID.set(std::process::id());
    warden_daemon::events::set_found_writer(write_found);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .event_format(layout)
        .with_writer(LogSink)
        .init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_lines_are_laid_out_as_the_event_would_be() {
        // The event's line: the prefix every line has, then the message `[jail] Found ip`.
        let mut prefix = String::new();
        write_prefix(&mut prefix, "warden::filter", "INFO", 4242).unwrap();
        // `2026-11-28 10:00:00,123` is 23 characters.
        let after_time = &prefix[23..];
        assert_eq!(
            found_middle("sshd", 4242),
            format!("{after_time}[sshd] Found ")
        );
        assert!(after_time.starts_with(" warden.filter "), "{after_time:?}");
        for text in [
            "0.0.0.0",
            "9.10.99.100",
            "192.0.2.255",
            "10.0.0.1",
            "2001:db8::1",
            "::ffff:192.0.2.1",
        ] {
            let ip: IpAddr = text.parse().unwrap();
            let mut out = Vec::new();
            push_ip(&mut out, ip);
            assert_eq!(String::from_utf8(out).unwrap(), ip.to_string());
        }
        for o in 0..=255u8 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::new(o, 0, 2, o));
            let mut out = Vec::new();
            push_ip(&mut out, ip);
            assert_eq!(String::from_utf8(out).unwrap(), ip.to_string());
        }
        let mut digits = Vec::new();
        for n in [0, 7, 42, 999] {
            push_3_digits(&mut digits, n);
        }
        assert_eq!(digits, b"000007042999");
    }
}
