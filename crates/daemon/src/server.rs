//! `warden server`: start everything in order, serve the control socket, stop cleanly.

use crate::bans::ExpiryTimer;
use crate::check::Checked;
use crate::control;
use crate::jail::Jail;
use crate::registry::Registry;
use crate::sources::file::{self, LineBatch, StartAt, Watcher};
use crate::store::{Store, Write};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use warden_filter::Filter;

/// Default control socket.
pub const DEFAULT_SOCKET: &str = "/run/warden/warden.sock";
/// Default pid file.
pub const DEFAULT_PIDFILE: &str = "/run/warden/warden.pid";
/// Default database.
pub const DEFAULT_DBFILE: &str = "/var/lib/warden/warden.sqlite3";
/// Default `dbpurgeage`: ban history older than this is purged (hourly).
pub const DEFAULT_DBPURGEAGE: f64 = 86_400.0;

/// How the server was asked to run.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Configuration tree.
    pub config_dir: PathBuf,
    /// Control socket (overrides the configuration).
    pub socket: Option<PathBuf>,
    /// Pid file (overrides the configuration).
    pub pidfile: Option<PathBuf>,
    /// Database (overrides the configuration); `:memory:` keeps bans in memory only.
    pub dbfile: Option<PathBuf>,
    /// Safety-net polling interval for log files.
    pub poll_interval: Duration,
}

impl ServerOptions {
    /// Options with defaults for `config_dir`.
    pub fn new(config_dir: impl Into<PathBuf>) -> Self {
        ServerOptions {
            config_dir: config_dir.into(),
            socket: None,
            pidfile: None,
            dbfile: None,
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// The socket and pid file paths a server with `opts` and `checked` uses. Only Warden's own
/// `warden.conf` may move them: a Fail2Ban tree's `fail2ban.conf` names Fail2Ban's socket, which
/// a Fail2Ban still running during a migration owns.
pub fn paths(opts: &ServerOptions, checked: Option<&Checked>) -> (PathBuf, PathBuf) {
    let own = opts.config_dir.join("warden.conf").exists();
    let server = checked.map(|c| &c.config.server).filter(|_| own);
    let socket = opts
        .socket
        .clone()
        .or_else(|| server.and_then(|s| s.socket.clone()))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
    let pidfile = opts
        .pidfile
        .clone()
        .or_else(|| server.and_then(|s| s.pidfile.clone()))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PIDFILE));
    (socket, pidfile)
}

/// The database a server with `opts` and `checked` uses (same rule as [`paths`]: Fail2Ban's
/// own database is never touched, its schema is not Warden's).
pub fn dbfile(opts: &ServerOptions, checked: Option<&Checked>) -> PathBuf {
    let own = opts.config_dir.join("warden.conf").exists();
    opts.dbfile
        .clone()
        .or_else(|| {
            checked
                .filter(|_| own)
                .and_then(|c| c.config.server.dbfile.clone())
        })
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DBFILE))
}

fn open_store(path: &Path, max_matches: Option<u32>) -> Result<Option<Store>, StartError> {
    let text = path.to_string_lossy();
    if text.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let mut options = crate::store::StoreOptions::default();
    if let Some(m) = max_matches {
        options.max_matches = m as usize;
    }
    let store = if text == ":memory:" {
        Store::in_memory_with(&options)
    } else {
        Store::open_with(path, &options)
    };
    store
        .map(Some)
        .map_err(|e| StartError::Io(format!("cannot open the database: {e}")))
}

/// The running server, shared by the control socket and signal handlers.
pub struct Server {
    /// How it was started (reload reads the same tree).
    pub options: ServerOptions,
    /// Jails and routes.
    pub registry: Arc<Registry>,
    /// Bans and log positions on disk (`None`: `dbfile = none`).
    pub store: Option<Store>,
    expiry: ExpiryTimer,
    watchers: Mutex<HashMap<PathBuf, Watcher>>,
    line_tx: Mutex<mpsc::SyncSender<LineBatch>>,
    shutdown: Notify,
    reload_lock: tokio::sync::Mutex<()>,
}

impl Server {
    /// Ask the server to stop.
    pub fn request_shutdown(&self) {
        self.shutdown.notify_one();
    }

    /// Start one jail with its compiled filter, restoring its stored bans.
    pub fn start_jail(&self, config: warden_config::JailConfig, filter: Filter) {
        let jail = Jail::start(config, self.expiry.clone(), self.store.clone());
        jail.restore_from_store();
        let lines = jail.spawn_filter_thread(filter);
        if jail.uses_journal() {
            jail.follow_journal(lines.clone());
        }
        self.registry.insert(jail, lines);
    }

    /// Tell the store which jails run now.
    pub fn record_running_jails(&self) {
        if let Some(store) = &self.store {
            store.submit_nowait(Write::RunningJails(self.registry.names()));
        }
    }

    /// Stop and remove one jail: its bans are lifted and its actions stopped.
    pub async fn stop_jail(&self, name: &str) {
        if let Some(jail) = self.registry.remove(name) {
            jail.stop().await;
        }
    }

    /// Follow every routed path not yet followed; stop following paths no jail reads.
    pub fn sync_watchers(&self) {
        let wanted = self.registry.paths();
        let mut watchers = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        watchers.retain(|p, _| wanted.contains(p));
        let tx = self
            .line_tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for path in wanted {
            if watchers.contains_key(&path) {
                continue;
            }
            let saved = self.saved_position(&path);
            match file::watch_from(
                vec![(path.clone(), saved)],
                StartAt::End,
                self.options.poll_interval,
                tx.clone(),
            ) {
                Ok(w) => {
                    watchers.insert(path, w);
                }
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "cannot follow log file")
                }
            }
        }
    }

    /// Where a jail reading `path` stopped last time, if the store knows.
    fn saved_position(&self, path: &Path) -> Option<file::Checkpoint> {
        let store = self.store.as_ref()?;
        self.registry.readers(path).iter().find_map(|jail| {
            store
                .log_position(jail, path)
                .ok()
                .flatten()
                .map(|p| p.checkpoint)
        })
    }

    /// Lock held while a reload runs, so two reloads never interleave.
    pub fn reload_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.reload_lock
    }
}

/// Why the server did not start.
#[derive(Debug)]
pub enum StartError {
    /// The configuration is broken (every problem listed).
    Config(Vec<warden_config::Diagnostic>),
    /// Another server answers on the socket.
    AlreadyRunning(PathBuf),
    /// The socket or pid file could not be set up.
    Io(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Config(d) => {
                writeln!(f, "the configuration has {} error(s):", d.len())?;
                for e in d {
                    writeln!(f, "  {e}")?;
                }
                write!(f, "nothing was started")
            }
            StartError::AlreadyRunning(p) => {
                write!(
                    f,
                    "a server is already running on {} (stop it first, or use --socket)",
                    p.display()
                )
            }
            StartError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StartError {}

fn io_err(what: &str, path: &Path, e: io::Error) -> StartError {
    StartError::Io(format!("{what} {}: {e}", path.display()))
}

/// Bind the control socket at `path`, refusing if a live server answers there.
fn bind_socket(path: &Path) -> Result<std::os::unix::net::UnixListener, StartError> {
    use std::os::unix::fs::PermissionsExt;
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(StartError::AlreadyRunning(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(|e| io_err("cannot remove stale socket", path, e))?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| io_err("cannot create socket directory", dir, e))?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path)
        .map_err(|e| io_err("cannot bind control socket", path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| io_err("cannot restrict control socket", path, e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| io_err("cannot set up control socket", path, e))?;
    Ok(listener)
}

fn write_pidfile(path: &Path) -> Result<(), StartError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| io_err("cannot create pid file directory", dir, e))?;
    }
    std::fs::write(path, format!("{}\n", std::process::id()))
        .map_err(|e| io_err("cannot write pid file", path, e))
}

/// Validate the configuration, then run until stopped. `ready` is called once: with `Ok` when
/// the server is serving, or with the error that kept it from starting (before anything in the
/// firewall changed).
pub fn run(
    options: ServerOptions,
    ready: Box<dyn FnOnce(Result<(), String>) + Send>,
) -> Result<(), StartError> {
    tune_allocator();
    let checked = match crate::check::check(&options.config_dir) {
        Ok(c) => c,
        Err(d) => {
            let e = StartError::Config(d);
            ready(Err(e.to_string()));
            return Err(e);
        }
    };
    for w in &checked.warnings {
        tracing::warn!("{w}");
    }
    let (socket, pidfile) = paths(&options, Some(&checked));
    // dbmaxmatches and dbpurgeage apply from either tree's server file (fail2ban.conf or
    // warden.conf): unlike the socket and dbfile paths they cannot collide with a Fail2Ban.
    let store = match open_store(
        &dbfile(&options, Some(&checked)),
        checked.config.server.dbmaxmatches,
    ) {
        Ok(s) => s,
        Err(e) => {
            ready(Err(e.to_string()));
            return Err(e);
        }
    };
    let listener = match bind_socket(&socket) {
        Ok(l) => l,
        Err(e) => {
            ready(Err(e.to_string()));
            return Err(e);
        }
    };
    if let Err(e) = write_pidfile(&pidfile) {
        let _ = std::fs::remove_file(&socket);
        ready(Err(e.to_string()));
        return Err(e);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("warden")
        .enable_all()
        .build()
        .map_err(|e| StartError::Io(format!("cannot start the runtime: {e}")))?;
    let result = runtime.block_on(serve(options, checked, store, listener, &socket, ready));
    let _ = std::fs::remove_file(&socket);
    let _ = std::fs::remove_file(&pidfile);
    result
}

async fn serve(
    options: ServerOptions,
    checked: Checked,
    store: Option<Store>,
    listener: std::os::unix::net::UnixListener,
    socket: &Path,
    ready: Box<dyn FnOnce(Result<(), String>) + Send>,
) -> Result<(), StartError> {
    let listener = tokio::net::UnixListener::from_std(listener)
        .map_err(|e| io_err("cannot set up control socket", socket, e))?;
    let registry = Arc::new(Registry::default());
    let expiry = ExpiryTimer::spawn(Arc::clone(&registry));
    // Bounded: file readers wait for the router, which waits for the jails' filter threads.
    let (line_tx, line_rx) = mpsc::sync_channel::<LineBatch>(1);
    let server = Arc::new(Server {
        options,
        registry: Arc::clone(&registry),
        store,
        expiry,
        watchers: Mutex::new(HashMap::new()),
        line_tx: Mutex::new(line_tx),
        shutdown: Notify::new(),
        reload_lock: tokio::sync::Mutex::new(()),
    });
    let purge_age = checked
        .config
        .server
        .dbpurgeage
        .map(|s| s as f64)
        .unwrap_or(DEFAULT_DBPURGEAGE);
    let Checked {
        config, filters, ..
    } = checked;
    for (jail, filter) in config.jails.into_iter().zip(filters) {
        server.start_jail(jail, filter);
    }
    let router_registry = Arc::clone(&registry);
    std::thread::Builder::new()
        .name("router".into())
        .stack_size(256 << 10)
        .spawn(move || {
            while let Ok(batch) = line_rx.recv() {
                router_registry.route(batch);
            }
        })
        .map_err(|e| StartError::Io(format!("cannot start the line router: {e}")))?;
    server.sync_watchers();
    server.record_running_jails();
    if let Some(store) = server.store.clone() {
        tokio::spawn(purge_hourly(store, purge_age));
    }
    tokio::spawn(control::serve(listener, Arc::clone(&server)));
    tokio::spawn(signals(Arc::clone(&server)));
    tracing::info!(socket = %socket.display(), jails = ?registry.names(), "Server ready");
    // Reading the configuration and compiling filters left freed memory behind.
    crate::jail::release_free_memory();
    ready(Ok(()));
    // And once the jails' firewall set-up and first reading are done, what start-up touched.
    crate::memory::release_when_settled();
    server.shutdown.notified().await;
    tracing::info!("Shutdown in progress...");
    server
        .watchers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    for name in registry.names() {
        server.stop_jail(&name).await;
    }
    let _ = tokio::task::spawn_blocking(crate::actions::native::remove_table).await;
    if let Some(store) = &server.store {
        if let Err(e) = store.flush() {
            tracing::error!(error = %e, "cannot flush the database");
        }
    }
    tracing::info!("Exiting Warden");
    Ok(())
}

async fn signals(server: Arc<Server>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => { server.request_shutdown(); return; }
            _ = int.recv() => { server.request_shutdown(); return; }
            _ = hup.recv() => {
                match crate::reload::reload(&server).await {
                    Ok(summary) => tracing::info!("Reload on SIGHUP: {summary}"),
                    Err(e) => tracing::error!("Reload on SIGHUP refused: {e}"),
                }
            }
        }
    }
}

/// glibc gives every thread that allocates an arena of its own (up to 8 per core), each keeping
/// its freed memory: with a thread per jail, the file reader, the store and the runtime's, that
/// is resident memory no thread uses. Two arenas are enough for a daemon whose threads mostly
/// wait; large blocks (line batches, the trackers' tables) are mapped on their own and given
/// back when freed, rather than left in an arena.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's parameters (under its own locks).
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
    }
}

/// Fail2Ban's hourly purge of old ban history (`dbpurgeage`).
async fn purge_hourly(store: Store, age: f64) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        store.submit_nowait(Write::Purge {
            now: crate::jail::now(),
            age,
        });
    }
}
