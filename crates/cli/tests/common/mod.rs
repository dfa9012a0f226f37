//! What the CLI tests share: a home directory per run of the real `tidings` binary, and a
//! server with alice, bob and their group.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;
use tidings_testkit::*;
use tokio::io::AsyncWriteExt;

pub const BIN: &str = env!("CARGO_BIN_EXE_tidings");

pub struct Home(pub TempDir);

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Home {
    pub fn new() -> Home {
        Home(TempDir::new("cli-home"))
    }

    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(BIN);
        c.args(args)
            .env("TIDINGS_HOME", self.0.path())
            .env("TIDINGS_CREDENTIALS", "file")
            .env_remove("TIDINGS_SERVER")
            .env_remove("TIDINGS_SERVICE_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    pub async fn run_with_input(&self, args: &[&str], input: &str) -> Run {
        let mut child = self.command(args).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).await.unwrap();
        drop(stdin);
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("tidings did not finish")
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_with_input(args, "").await
    }

    pub async fn login(&self, server: &str, user: &str) {
        let r = self
            .run_with_input(
                &[
                    "login",
                    "--server",
                    server,
                    "--username",
                    user,
                    "--password-stdin",
                ],
                &format!("{user}-password\n"),
            )
            .await;
        assert_eq!(r.code, 0, "login: {} {}", r.stdout, r.stderr);
    }
}

pub async fn setup() -> (TempDir, Server, Api, TestUser, TestUser, String) {
    let dir = TempDir::new("cli-server");
    let server = Server::start(dir.path(), None, |_| {}).await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.group(&alice, &[&bob]).await;
    (dir, server, api, alice, bob, cid)
}
