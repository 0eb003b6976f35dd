//! `warden`: the daemon (`warden server`) and its client, in one binary.
//!
//! This file only parses flags, dispatches and maps errors to exit codes; the work is in the
//! library crates. Exit codes follow `fail2ban-client`: 0 success, 255 when the server answered
//! with an error or could not be reached, 1 for a configuration that does not check.

mod client;
mod dump;
mod logging;
mod regex_cmd;
mod server;
mod test_filter;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Where Warden looks for its configuration unless told otherwise.
pub const DEFAULT_CONFIG: &str = "/etc/warden";

#[derive(Parser, Debug)]
#[command(
    name = "warden",
    version,
    about = "Fail2Ban-compatible intrusion prevention: watch logs, ban offenders"
)]
struct Cli {
    /// Configuration directory (Warden's or any Fail2Ban tree such as /etc/fail2ban).
    #[arg(short = 'c', long = "config", global = true, value_name = "DIR", default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Control socket (default: warden.conf's `socket`, else /run/warden/warden.sock).
    #[arg(short = 's', long = "socket", global = true, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Pid file (default: warden.conf's `pidfile`, else /run/warden/warden.pid).
    #[arg(short = 'p', long = "pidfile", global = true, value_name = "PATH")]
    pidfile: Option<PathBuf>,
    /// Database of bans and log positions (default: warden.conf's `dbfile`, else
    /// /var/lib/warden/warden.sqlite3; `:memory:` keeps nothing across restarts).
    #[arg(long = "dbfile", global = true, value_name = "PATH")]
    dbfile: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon.
    Server {
        /// Stay in the foreground (log to the terminal).
        #[arg(short = 'f', long = "foreground")]
        foreground: bool,
    },
    /// Show the jails, or one jail's counters and bans.
    Status {
        /// The jail.
        jail: Option<String>,
        /// Print JSON instead of Fail2Ban's tree.
        #[arg(long)]
        json: bool,
    },
    /// Check that the server answers.
    Ping,
    /// Change a jail: `set JAIL banip IP...`, `set JAIL unbanip IP...`.
    Set {
        /// The jail.
        jail: String,
        /// `banip` or `unbanip`.
        #[arg(value_parser = ["banip", "unbanip"])]
        what: String,
        /// Addresses.
        #[arg(required = true)]
        ips: Vec<String>,
    },
    /// List banned addresses per jail (only the given ones, if any).
    Banned {
        /// Addresses to look up.
        ips: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-read the configuration (unchanged jails keep their state).
    Reload {
        /// Only this jail.
        jail: Option<String>,
        /// Lift the bans of the reloaded jails first.
        #[arg(long)]
        unban: bool,
        /// Restart the reloaded jails even when unchanged.
        #[arg(long)]
        restart: bool,
    },
    /// Unban addresses in every jail, or every ban with --all; prints how many.
    Unban {
        /// Every ban of every jail.
        #[arg(long, conflicts_with = "ips")]
        all: bool,
        /// Addresses.
        #[arg(required_unless_present = "all")]
        ips: Vec<String>,
    },
    /// Stop the server.
    Stop,
    /// Validate the configuration: every error with its file, line and key.
    Check {
        /// Print the fully resolved configuration.
        #[arg(long)]
        dump: bool,
        /// With --dump: print JSON.
        #[arg(long, requires = "dump")]
        json: bool,
    },
    /// Test a filter or regex against a log file or line (like fail2ban-regex).
    Regex(regex_cmd::Args),
    /// Run annotated sample logs (`# failJSON:`) against filters and report disagreements.
    TestFilter(test_filter::Args),
}

fn main() {
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    std::process::exit(0);
                }
            }
            eprintln!("ERROR  {e:#}");
            255
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let conn = client::Target {
        config: cli.config.clone(),
        socket: cli.socket.clone(),
    };
    match cli.command {
        Command::Server { foreground } => {
            server::run(cli.config, cli.socket, cli.pidfile, cli.dbfile, foreground)
        }
        Command::Check { dump, json } => Ok(server::check(&cli.config, dump, json)),
        Command::Regex(args) => regex_cmd::run(&cli.config, args),
        Command::TestFilter(args) => test_filter::run(&cli.config, args),
        Command::Status { jail, json } => client::status(&conn, jail, json),
        Command::Ping => client::ping(&conn),
        Command::Set { jail, what, ips } => client::set(&conn, &jail, &what, ips),
        Command::Banned { ips, json } => client::banned(&conn, ips, json),
        Command::Reload {
            jail,
            unban,
            restart,
        } => client::simple(
            &conn,
            warden_proto::Request::Reload {
                jail,
                unban,
                restart,
            },
            "OK",
        ),
        Command::Unban { all, ips } => {
            client::count(&conn, warden_proto::Request::Unban { all, ips })
        }
        Command::Stop => client::simple(&conn, warden_proto::Request::Stop, "Shutdown successful"),
    }
}
