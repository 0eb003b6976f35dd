//! Running one rendered command: `sh -c`, its own process group, a hard timeout.

use super::render::Script;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Exit status 0.
    Success,
    /// Non-zero exit status (or killed by a signal), with what it wrote on stderr/stdout.
    Failed {
        /// Exit code, if it exited.
        code: Option<i32>,
        /// Captured output (trimmed, at most a few kB).
        output: String,
    },
    /// Did not finish in time; its whole process group was killed.
    TimedOut,
    /// Could not be started at all.
    SpawnError(String),
}

impl Outcome {
    /// Did it succeed?
    pub fn ok(&self) -> bool {
        matches!(self, Outcome::Success)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Success => write!(f, "success"),
            Outcome::Failed {
                code: Some(c),
                output,
            } => write!(f, "exit code {c}: {output}"),
            Outcome::Failed { code: None, output } => write!(f, "killed by a signal: {output}"),
            Outcome::TimedOut => write!(f, "timed out, killed"),
            Outcome::SpawnError(e) => write!(f, "could not start /bin/sh: {e}"),
        }
    }
}

const OUTPUT_LIMIT: usize = 4096;

/// Run `script` with `/bin/sh -c`, killing its process group after `timeout`.
pub async fn run(script: &Script, timeout: Duration) -> Outcome {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&script.text)
        .envs(script.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Outcome::SpawnError(e.to_string()),
    };
    let pid = child.id();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let collect = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let a = async {
            if let Some(s) = stdout.as_mut() {
                let _ = s.read_to_end(&mut out).await;
            }
        };
        let b = async {
            if let Some(s) = stderr.as_mut() {
                let _ = s.read_to_end(&mut err).await;
            }
        };
        tokio::join!(a, b);
        let status = child.wait().await;
        (status, out, err)
    };
    match tokio::time::timeout(timeout, collect).await {
        Ok((Ok(status), out, err)) => {
            if status.success() {
                Outcome::Success
            } else {
                let mut text = String::from_utf8_lossy(&err).into_owned();
                if text.trim().is_empty() {
                    text = String::from_utf8_lossy(&out).into_owned();
                }
                let mut text = text.trim().to_string();
                if text.len() > OUTPUT_LIMIT {
                    let mut cut = OUTPUT_LIMIT;
                    while !text.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    text.truncate(cut);
                }
                Outcome::Failed {
                    code: status.code(),
                    output: text,
                }
            }
        }
        Ok((Err(e), _, _)) => Outcome::SpawnError(e.to_string()),
        Err(_) => {
            if let Some(pid) = pid {
                // The child leads its own group: take down everything it started.
                // SAFETY: kill(2) with a negative pid signals a process group; no memory involved.
                unsafe {
                    libc::kill(-(pid as i32), libc::SIGKILL);
                }
            }
            Outcome::TimedOut
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(text: &str) -> Script {
        Script {
            text: text.into(),
            env: vec![],
        }
    }

    #[tokio::test]
    async fn success_and_failure_are_told_apart() {
        assert!(run(&script("true"), Duration::from_secs(5)).await.ok());
        match run(&script("echo oops >&2; exit 3"), Duration::from_secs(5)).await {
            Outcome::Failed { code, output } => {
                assert_eq!(code, Some(3));
                assert_eq!(output, "oops");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let start = std::time::Instant::now();
        let o = run(
            &script("sleep 30 | cat; echo done"),
            Duration::from_millis(200),
        )
        .await;
        assert_eq!(o, Outcome::TimedOut);
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}
