//! `warden server` and `warden check`.

use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use warden_daemon::server::{ServerOptions, StartError};

/// `warden check`: 0 when valid, 1 with every error listed otherwise. With `dump`, the resolved
/// configuration is printed (as JSON with `json`).
pub fn check(dir: &Path, dump: bool, json: bool) -> i32 {
    match warden_daemon::check::check(dir) {
        Ok(c) => {
            for w in &c.warnings {
                eprintln!("WARNING  {w}");
            }
            if dump {
                crate::dump::print(&c.config, json);
                return 0;
            }
            let names: Vec<&str> = c.config.jails.iter().map(|j| j.name.as_str()).collect();
            println!(
                "OK: {} is valid; {} enabled jail(s): {}",
                dir.display(),
                names.len(),
                names.join(", ")
            );
            0
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("ERROR  {e}");
            }
            eprintln!("{} error(s) in {}", errors.len(), dir.display());
            1
        }
    }
}

/// Run the daemon, in the foreground or detached.
pub fn run(
    config: PathBuf,
    socket: Option<PathBuf>,
    pidfile: Option<PathBuf>,
    dbfile: Option<PathBuf>,
    foreground: bool,
) -> anyhow::Result<i32> {
    let mut options = ServerOptions::new(config);
    options.socket = socket;
    options.pidfile = pidfile;
    options.dbfile = dbfile;
    let server_cfg = warden_config::load(&options.config_dir)
        .ok()
        .map(|c| c.server);
    let level = server_cfg.as_ref().and_then(|s| s.loglevel.clone());
    let target = server_cfg.as_ref().and_then(|s| s.logtarget.clone());
    if foreground {
        crate::logging::init(level.as_deref(), Some("STDERR"))?;
        let ready = Box::new(|r: Result<(), String>| {
            if let Err(e) = r {
                eprintln!("ERROR  {e}");
            }
        });
        return Ok(match warden_daemon::server::run(options, ready) {
            Ok(()) => 0,
            Err(StartError::Config(_)) => 1,
            Err(_) => 255,
        });
    }
    detach_and_run(options, level, target)
}

/// Fork; the child becomes the daemon and reports over a pipe whether it started, so the
/// parent exits 0 only once the server is really serving (and prints why if it is not).
fn detach_and_run(
    options: ServerOptions,
    level: Option<String>,
    target: Option<String>,
) -> anyhow::Result<i32> {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills two descriptors we then own.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: no threads exist yet (the runtime starts in the child), so fork is sound.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    if pid > 0 {
        // SAFETY: fds[1] is ours to close; fds[0] becomes the File's.
        unsafe { libc::close(fds[1]) };
        let mut reader = unsafe { std::fs::File::from_raw_fd(fds[0]) };
        let mut msg = String::new();
        let _ = reader.read_to_string(&mut msg);
        return Ok(match msg.strip_prefix("OK") {
            Some(_) => 0,
            None if msg.is_empty() => {
                eprintln!("ERROR  the server exited before it was ready; see its log");
                255
            }
            None => {
                eprintln!("ERROR  {msg}");
                1
            }
        });
    }
    // Child: new session, no terminal.
    unsafe {
        libc::close(fds[0]);
        libc::setsid();
    }
    let mut writer = unsafe { std::fs::File::from_raw_fd(fds[1]) };
    let target = match target.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("STDERR") | Some("STDOUT") => Some("/var/log/warden.log".to_string()),
        _ => target,
    };
    if let Err(e) = crate::logging::init(level.as_deref(), target.as_deref()) {
        let _ = write!(writer, "{e}");
        std::process::exit(1);
    }
    redirect_stdio();
    let ready = Box::new(move |r: Result<(), String>| {
        let _ = match r {
            Ok(()) => write!(writer, "OK"),
            Err(e) => write!(writer, "{e}"),
        };
        // Dropping the writer closes the pipe; the parent exits.
    });
    let code = match warden_daemon::server::run(options, ready) {
        Ok(()) => 0,
        Err(_) => 1,
    };
    std::process::exit(code);
}

fn redirect_stdio() {
    // SAFETY: plain descriptor juggling on /dev/null.
    unsafe {
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if fd >= 0 {
            libc::dup2(fd, 0);
            libc::dup2(fd, 1);
            libc::dup2(fd, 2);
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
}
