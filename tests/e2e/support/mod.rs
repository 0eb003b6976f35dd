//! Shared pieces of the end-to-end tests: a workspace holding a real configuration tree, a real
//! `warden server` process, network namespaces, and waiting helpers.

pub mod netns;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `warden` binary under test.
pub fn warden_bin() -> &'static str {
    env!("CARGO_BIN_EXE_warden")
}

/// Debian's fail2ban package extracted by `scripts/fetch-fail2ban` (`$WARDEN_F2B_ROOT`), if any.
pub fn fail2ban_root() -> Option<PathBuf> {
    std::env::var_os("WARDEN_F2B_ROOT").map(PathBuf::from)
}

/// The default configuration tree shipped in the repository.
pub fn repo_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

/// Poll `cond` every 20 ms until it holds; panic naming `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A temporary directory with a configuration tree, logs, a socket path and a `bin/` folder put
/// first on the daemon's PATH (for recording stand-ins of `sendmail` and `whois`).
pub struct Workspace {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
}

impl Workspace {
    /// A copy of the shipped configuration tree, with the default `sshd` jail switched off so
    /// that only the jails a test writes run.
    pub fn with_default_config() -> Workspace {
        let ws = Workspace::with_tree(&repo_config());
        ws.write("config/jail.d/00-tests.local", "[sshd]\nenabled = false\n");
        ws
    }

    /// A copy of the configuration tree at `tree`, unchanged.
    pub fn with_tree(tree: &Path) -> Workspace {
        let dir = tempfile::Builder::new()
            .prefix("warden-e2e-")
            .tempdir()
            .unwrap();
        copy_tree(tree, &dir.path().join("config"));
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::create_dir_all(dir.path().join("mail")).unwrap();
        std::fs::create_dir_all(dir.path().join("config/jail.d")).unwrap();
        Workspace { dir }
    }

    /// Absolute path of `rel` inside the workspace.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Write a file (creating folders).
    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Install an executable script in `bin/`.
    pub fn script(&self, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = self.path(&format!("bin/{name}"));
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A fake `sendmail` (none can deliver mail here) that records its arguments and the message
    /// into `mail/N.eml`.
    pub fn recording_sendmail(&self) {
        let dir = self.path("mail");
        self.script(
            "sendmail",
            &format!(
                "f=\"{}/$$.eml\"\necho \"ARGS: $*\" > \"$f.tmp\"\ncat >> \"$f.tmp\"\nmv \"$f.tmp\" \"$f\"",
                dir.display()
            ),
        );
    }

    /// Messages recorded by the fake sendmail.
    pub fn mails(&self) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.path("mail")).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "eml") {
                out.push(std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        out
    }

    /// Append lines to a log file (each gets its `\n`), flushed at once.
    pub fn append(&self, rel: &str, lines: &[String]) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(rel))
            .unwrap();
        let mut text = String::new();
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        f.write_all(text.as_bytes()).unwrap();
    }
}

/// A running `warden server -f`, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Daemon {
    child: Option<Child>,
    socket: PathBuf,
    log: PathBuf,
}

impl Daemon {
    /// Start the server on `ws`'s tree, inside `netns` if given, and wait until it answers.
    pub fn start(ws: &Workspace, netns: Option<&str>) -> Daemon {
        let socket = ws.path("warden.sock");
        let log = ws.path("warden.log");
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, warden_bin()]);
                c
            }
            None => Command::new(warden_bin()),
        };
        // iptables lives in /usr/sbin, which a non-login PATH may lack.
        let path = format!(
            "{}:{}:/usr/sbin:/sbin:/usr/bin:/bin",
            ws.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.args(["server", "-f", "--config"])
            .arg(ws.path("config"))
            .arg("--socket")
            .arg(&socket)
            .arg("--pidfile")
            .arg(ws.path("warden.pid"))
            .arg("--dbfile")
            .arg(ws.path("warden.sqlite3"))
            .env("PATH", path)
            .env("WARDEN_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // Appended to, so that a restarted server's log follows the previous one's.
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            );
        let child = cmd.spawn().expect("starting warden server");
        let mut d = Daemon {
            child: Some(child),
            socket,
            log,
        };
        let start = Instant::now();
        loop {
            if d.client(&["ping"]).status.success() {
                break;
            }
            if let Some(st) = d.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "warden server exited ({st}) before answering:\n{}",
                    d.log_text()
                );
            }
            if start.elapsed() > Duration::from_secs(20) {
                panic!(
                    "warden server did not answer within 20 s:\n{}",
                    d.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Run the client against this server.
    pub fn client(&self, args: &[&str]) -> Output {
        Command::new(warden_bin())
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("running warden client")
    }

    /// Run the client, require success, return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.client(args);
        assert!(
            out.status.success(),
            "warden {:?} failed: {}\n{}\nserver log:\n{}",
            &args[..args.len().min(6)],
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log_text()
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `status JAIL --json`, parsed.
    pub fn jail_status(&self, jail: &str) -> warden_proto::JailStatus {
        serde_json::from_str(&self.ok(&["status", jail, "--json"])).unwrap()
    }

    /// Kill the server with SIGKILL (no cleanup of any kind) and reap it.
    pub fn kill9(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stop through the control socket and wait for the process to exit.
    pub fn stop(mut self) -> String {
        let _ = self.client(&["stop"]);
        let mut child = self.child.take().unwrap();
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                panic!(
                    "warden server did not stop within 20 s:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.log_text()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling our own child process.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let start = Instant::now();
            while child.try_wait().ok().flatten().is_none()
                && start.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            if std::thread::panicking() {
                eprintln!("--- warden server log ---\n{}", self.log_text());
            }
        }
    }
}

/// Local time formatted with strftime `fmt` (the daemon reads dates as local time too).
pub fn local_time(fmt: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let secs = now.as_secs() as libc::time_t;
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r and strftime write into buffers we own.
    unsafe { libc::localtime_r(&secs, &mut tm) };
    let mut buf = [0u8; 128];
    let cfmt = std::ffi::CString::new(fmt).unwrap();
    let n = unsafe {
        libc::strftime(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            cfmt.as_ptr(),
            &tm,
        )
    };
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A HAProxy `<NOSRV>` line as rsyslog writes it, dated now.
pub fn haproxy_nosrv_line(ip: &str, port: u16) -> String {
    format!(
        "{} lb haproxy[4711]: {ip}:{port} [{}.123] http_fe http_fe/<NOSRV> -1/-1/-1/-1/0 503 217 - - SC-- 1/1/0/0/0 0/0 \"GET /admin HTTP/1.1\"",
        local_time("%b %e %H:%M:%S"),
        local_time("%d/%b/%Y:%H:%M:%S"),
    )
}
