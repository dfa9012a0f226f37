//! The servers under test, each in its own process so that its memory and CPU can be read
//! apart from the load generator's: the Tidings server binary, RabbitMQ with Web-STOMP
//! (through tests/interop/rabbitmq.sh), and this binary's bare broadcaster. They start and
//! stop through the test harness's launcher (`tidings_testkit::Process`).

use crate::load::{Kind, Target};
use anyhow::{bail, Context};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tidings_server::auth::Authenticator;
use tidings_testkit::Process;

/// The Tidings server binary on 127.0.0.1:0 with its own data directory.
#[derive(Debug)]
pub struct Tidings {
    pub proc: Process,
    pub auth: Authenticator,
}

/// The config the benchmarks run the server with: defaults, but per-user send and REST
/// request budgets a load generator cannot exhaust (the defaults are for people), no cap
/// per client address (the load comes from four loopback addresses, thousands each), and
/// room for the file scenario's 100 MB files.
pub fn tidings_config(data_dir: &Path, secret: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n[jwt]\nsecret = \"{secret}\"\n[limits]\nsends_per_minute = 100000000\nrequests_per_minute = 100000000\nrequest_burst = 100000000\nmax_requests_in_flight_per_user = 1000000\nmax_connections_per_address = 1000000\nmax_attachment_bytes = 1073741824\nattachment_quota_bytes = 68719476736\n",
        data_dir.display()
    )
}

impl Tidings {
    pub fn start(bin: &Path, data_dir: &Path, secret: &str) -> anyhow::Result<Tidings> {
        Tidings::start_node(bin, data_dir, secret, "server", "")
    }

    /// One of several nodes on `data_dir`: its config file and log are named `name`, and
    /// `extra` (e.g. `[storage]`, `[cluster]`) is appended to [`tidings_config`]'s.
    pub fn start_node(
        bin: &Path,
        data_dir: &Path,
        secret: &str,
        name: &str,
        extra: &str,
    ) -> anyhow::Result<Tidings> {
        std::fs::create_dir_all(data_dir)?;
        let config = data_dir.join(format!("{name}.toml"));
        std::fs::write(&config, tidings_config(data_dir, secret) + extra)?;
        let mut cmd = Command::new(bin);
        cmd.arg("--config").arg(&config);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "warn");
        }
        let proc = Process::spawn(cmd, &data_dir.join(format!("{name}.log")), "tidings-server")?;
        Ok(Tidings {
            proc,
            auth: Authenticator::hs256(secret.as_bytes(), 0),
        })
    }

    pub fn target(&self, topic: &str) -> Target {
        Target {
            name: "tidings",
            addr: self.proc.addr,
            path: "/ws".into(),
            kind: Kind::Tidings,
            pid: self.proc.pid(),
            topic: topic.into(),
        }
    }

    pub fn token(&self, user: &str) -> anyhow::Result<String> {
        self.auth.mint(user, &[], 3600)
    }
}

/// RabbitMQ with Web-STOMP on 127.0.0.1:15674, its state in `dir`.
#[derive(Debug)]
pub struct Rabbit {
    script: PathBuf,
    dir: PathBuf,
    pid: u32,
}

impl Rabbit {
    pub fn start(script: &Path, dir: &Path) -> anyhow::Result<Rabbit> {
        let out = Command::new("bash")
            .arg(script)
            .arg("start")
            .arg(dir)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", script.display()))?;
        if !out.status.success() {
            bail!(
                "RabbitMQ did not start: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let pid = std::fs::read_to_string(dir.join("rabbitmq.pid"))?
            .trim()
            .parse()
            .context("rabbitmq.pid")?;
        Ok(Rabbit {
            script: script.to_owned(),
            dir: dir.to_owned(),
            pid,
        })
    }

    pub fn target(&self, topic: &str) -> Target {
        Target {
            name: "rabbitmq",
            addr: SocketAddr::from(([127, 0, 0, 1], 15674)),
            path: "/ws".into(),
            kind: Kind::Rabbit {
                login: "guest".into(),
                passcode: "guest".into(),
            },
            pid: self.pid,
            topic: topic.into(),
        }
    }

    pub fn stop(self) {
        let _ = Command::new("bash")
            .arg(&self.script)
            .arg("stop")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .output();
    }
}

/// This binary's `broadcaster` subcommand on 127.0.0.1:0: the old ceiling (plain text), or
/// with [`Bare::start_stomp`] the fair one (STOMP `MESSAGE` frames).
#[derive(Debug)]
pub struct Bare {
    pub proc: Process,
    stomp: bool,
}

impl Bare {
    pub fn start(dir: &Path) -> anyhow::Result<Bare> {
        Bare::spawn(dir, None)
    }

    /// The fair ceiling: each message goes out as the `MESSAGE` frame a Tidings subscriber
    /// of `destination` with subscription id `subscription` receives.
    pub fn start_stomp(dir: &Path, destination: &str, subscription: &str) -> anyhow::Result<Bare> {
        Bare::spawn(dir, Some((destination, subscription)))
    }

    fn spawn(dir: &Path, stomp: Option<(&str, &str)>) -> anyhow::Result<Bare> {
        std::fs::create_dir_all(dir)?;
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.args(["broadcaster", "--listen", "127.0.0.1:0"]);
        if let Some((destination, subscription)) = stomp {
            cmd.args(["--stomp-destination", destination])
                .args(["--stomp-subscription", subscription]);
        }
        Ok(Bare {
            proc: Process::spawn(cmd, &dir.join("broadcaster.log"), "the bare broadcaster")?,
            stomp: stomp.is_some(),
        })
    }

    pub fn target(&self) -> Target {
        Target {
            name: if self.stomp { "bare-stomp" } else { "bare" },
            addr: self.proc.addr,
            path: "/".into(),
            kind: if self.stomp {
                Kind::BareStomp
            } else {
                Kind::Bare
            },
            pid: self.proc.pid(),
            topic: String::new(),
        }
    }
}

/// A random hex secret.
pub fn secret() -> String {
    uuid::Uuid::new_v4().simple().to_string() + &uuid::Uuid::new_v4().simple().to_string()
}
