//! Child processes that print "... listening on ADDR" as their first stdout line: the
//! `tidings-server` binary under test, and every server the benchmarks measure. One place
//! starts them, reads the address and stops them (SIGTERM, then SIGKILL after a deadline).

use anyhow::{bail, Context};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Spawns `cmd` with stdout piped and reads the address its first line ends with. The child
/// is killed if that line is not an address.
pub fn spawn_listening(cmd: &mut Command, what: &str) -> anyhow::Result<(Child, SocketAddr)> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {what}"))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let Some(addr) = line.trim().rsplit(' ').next().and_then(|a| a.parse().ok()) else {
        let _ = child.kill();
        let _ = child.wait();
        bail!("{what} did not start (first line {line:?})");
    };
    Ok((child, addr))
}

/// A listening child process with its stderr in a log file; killed when dropped.
#[derive(Debug)]
pub struct Process {
    /// `None` once stopped.
    child: Option<Child>,
    pid: u32,
    pub addr: SocketAddr,
}

impl Process {
    /// Starts `cmd` (stdin closed, stderr to `log`); the error carries the log on failure.
    pub fn spawn(mut cmd: Command, log: &Path, what: &str) -> anyhow::Result<Process> {
        let log_file = std::fs::File::create(log)?;
        cmd.stdin(Stdio::null()).stderr(log_file);
        let (child, addr) = spawn_listening(&mut cmd, what).map_err(|e| {
            let log_text = std::fs::read_to_string(log).unwrap_or_default();
            e.context(format!("its log:\n{log_text}"))
        })?;
        Ok(Process {
            pid: child.id(),
            child: Some(child),
            addr,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// SIGTERM, then SIGKILL if it has not ended within 15 s.
    pub fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = self.pid.to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        // The child is reaped by `wait` on a thread; this one waits for that or the deadline.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        if rx.recv_timeout(Duration::from_secs(15)).is_err() {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            let _ = rx.recv();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
