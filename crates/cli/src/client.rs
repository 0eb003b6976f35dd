//! The client side of the control socket.

use anyhow::{anyhow, Context};
use std::io::ErrorKind;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use warden_proto::{format, read_frame, write_frame, Envelope, Reply, Request, Response};

/// Which server to talk to.
pub struct Target {
    /// Configuration directory (its warden.conf may name the socket).
    pub config: PathBuf,
    /// Explicit socket path.
    pub socket: Option<PathBuf>,
}

impl Target {
    fn socket(&self) -> PathBuf {
        if let Some(s) = &self.socket {
            return s.clone();
        }
        if let Ok(s) = std::env::var("WARDEN_SOCKET") {
            return PathBuf::from(s);
        }
        if self.config.join("warden.conf").exists() {
            if let Ok(cfg) = warden_config::load(&self.config) {
                if let Some(s) = cfg.server.socket {
                    return s;
                }
            }
        }
        PathBuf::from(warden_daemon::server::DEFAULT_SOCKET)
    }
}

/// Send one request and wait for the answer.
fn request(target: &Target, req: Request) -> anyhow::Result<Response> {
    let path = target.socket();
    let mut stream = UnixStream::connect(&path).map_err(|e| match e.kind() {
        ErrorKind::PermissionDenied => anyhow!(
            "Permission denied to socket: {} (you must be root, or the socket's owner)",
            path.display()
        ),
        _ => anyhow!(
            "Failed to access socket path: {}. Is Warden running? ({e})",
            path.display()
        ),
    })?;
    write_frame(&mut stream, &Envelope::new(req)).context("sending the request")?;
    let env: Envelope<Response> = read_frame(&mut stream)
        .context("reading the answer")?
        .ok_or_else(|| anyhow!("the server closed the connection without answering"))?;
    Ok(env.body)
}

/// Print an error answer the way fail2ban-client does; exit code 255.
fn fail(message: String) -> anyhow::Result<i32> {
    eprintln!("ERROR  {message}");
    Ok(255)
}

/// `status [JAIL] [--json]`.
pub fn status(target: &Target, jail: Option<String>, json: bool) -> anyhow::Result<i32> {
    match request(target, Request::Status { jail })? {
        Ok(Reply::Server(s)) if json => println!("{}", serde_json::to_string_pretty(&s)?),
        Ok(Reply::Server(s)) => print!("{}", format::server_status(&s)),
        Ok(Reply::Jail(s)) if json => println!("{}", serde_json::to_string_pretty(&s)?),
        Ok(Reply::Jail(s)) => print!("{}", format::jail_status(&s)),
        Ok(other) => return Err(anyhow!("unexpected answer {other:?}")),
        Err(e) => return fail(e),
    }
    Ok(0)
}

/// `ping`.
pub fn ping(target: &Target) -> anyhow::Result<i32> {
    match request(target, Request::Ping)? {
        Ok(Reply::Pong) => println!("Server replied: pong"),
        Ok(other) => return Err(anyhow!("unexpected answer {other:?}")),
        Err(e) => return fail(e),
    }
    Ok(0)
}

/// `set JAIL banip|unbanip IP...`: prints how many addresses changed.
pub fn set(target: &Target, jail: &str, what: &str, ips: Vec<String>) -> anyhow::Result<i32> {
    let jail = jail.to_string();
    let req = match what {
        "banip" => Request::BanIp { jail, ips },
        _ => Request::UnbanIp { jail, ips },
    };
    count(target, req)
}

/// A request answered with a count, printed alone.
pub fn count(target: &Target, req: Request) -> anyhow::Result<i32> {
    match request(target, req)? {
        Ok(Reply::Count { count }) => println!("{count}"),
        Ok(other) => return Err(anyhow!("unexpected answer {other:?}")),
        Err(e) => return fail(e),
    }
    Ok(0)
}

/// `banned [IP...]`.
pub fn banned(target: &Target, ips: Vec<String>, json: bool) -> anyhow::Result<i32> {
    match request(target, Request::Banned { ips })? {
        Ok(Reply::Banned { jails }) if json => {
            println!("{}", serde_json::to_string_pretty(&jails)?)
        }
        Ok(Reply::Banned { jails }) => print!("{}", format::banned(&jails)),
        Ok(other) => return Err(anyhow!("unexpected answer {other:?}")),
        Err(e) => return fail(e),
    }
    Ok(0)
}

/// A command whose success has nothing to report but `ok_text`.
pub fn simple(target: &Target, req: Request, ok_text: &str) -> anyhow::Result<i32> {
    match request(target, req)? {
        Ok(_) => println!("{ok_text}"),
        Err(e) => return fail(e),
    }
    Ok(0)
}
