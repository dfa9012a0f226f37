//! The `tidings-server` binary as an operator runs it: flags, environment, config file,
//! logs, `/healthz`, `/metrics`, the `token` command and shutdown on SIGTERM.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

use std::io::Read;
use std::process::{Child, Command as Proc};
use tidings_stomp::{Command, Frame};
use tidings_testkit::*;

/// Starts the binary on port 0 in a fresh data directory.
fn start(args: &[&str], env: &[(&str, &str)]) -> BinServer {
    let dir = TempDir::new("bin");
    let mut r = BinServer::start_args(&dir.0, args, env);
    r.dir = Some(dir);
    r
}

fn token(data_dir_args: &[&str], sub: &str) -> String {
    let out = Proc::new(server_binary())
        .args(data_dir_args)
        .args(["token", "--sub", sub, "--ttl", "60"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn terminate(child: &Child) {
    let ok = Proc::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM failed");
}

#[tokio::test]
async fn serves_health_and_metrics_and_never_logs_a_token() {
    let secret = "binary-test-secret-123456";
    let service = "binary-test-service-token-0123";
    let mut srv = start(&["--jwt-secret", secret, "--service-token", service], &[]);
    let (status, body) = http_get(srv.addr, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok", "{body}");
    assert_eq!(health["store"]["kind"], "sqlite", "{body}");
    assert_eq!(health["store"]["ok"], true, "{body}");
    assert_eq!(health["bus"]["kind"], "none", "one node, no bus: {body}");
    // Tokens are accepted for accounts the server has.
    srv.api().register("alice").await;
    let tok = token(&["--jwt-secret", secret], "alice");
    // The token travels in the URL, where request logging would catch it.
    let mut c = Client::open(&format!("ws://{}/ws?token={tok}", srv.addr)).await;
    c.send(Frame::new(Command::Connect).with_header("accept-version", "1.2"))
        .await;
    assert_eq!(c.next_frame().await.header("user-name"), Some("alice"));
    c.subscribe("/topic/m", "s", "auto").await;
    c.publish("/topic/m", "x").await;
    // A refused token too.
    let mut bad = Client::open(&format!("ws://{}/ws?token={tok}x", srv.addr)).await;
    bad.send(Frame::new(Command::Connect).with_header("accept-version", "1.2"))
        .await;
    bad.expect_error().await;
    // The metrics are not public: the service token (or an admin) may read them.
    assert_eq!(http_get(srv.addr, "/metrics").await.0, 401);
    let (status, metrics) =
        http_get_with(srv.addr, "/metrics", Some(&format!("Bearer {service}"))).await;
    assert_eq!(status, 200);
    for needle in [
        "tidings_stomp_connections 1",
        "tidings_stomp_subscriptions",
        "tidings_stomp_frames_in_total{command=\"SEND\"} 1",
        "tidings_stomp_frames_out_total",
        "kind=\"token_bad_signature\"",
        "tidings_upload_bytes_total 0",
        "tidings_uploads_finished_total 0",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }
    let (status, body) = http_get(srv.addr, &format!("/nope?token={tok}")).await;
    assert_eq!(status, 404);
    assert!(!body.contains(&tok));
    drop(c);
    terminate(&srv.child);
    assert!(srv.child.wait().unwrap().success());
    let mut logs = String::new();
    srv.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(
        logs.contains("connected"),
        "debug logs were captured:\n{logs}"
    );
    let sig = tok.rsplit('.').next().unwrap();
    assert!(!logs.contains(sig), "the token reached the log:\n{logs}");
}

#[tokio::test]
async fn sigterm_tells_clients_and_exits_cleanly() {
    let srv = start(&["--jwt-secret", "binary-test-secret-123456"], &[]);
    srv.api().register("bob").await;
    let tok = token(&["--jwt-secret", "binary-test-secret-123456"], "bob");
    let mut c = Client::open(&format!("ws://{}/ws", srv.addr)).await;
    c.connect(&tok, "0,0").await;
    let mut srv = srv;
    terminate(&srv.child);
    let e = c.expect_error().await;
    assert_eq!(e.header("message"), Some("server is shutting down"));
    assert!(srv.child.wait().unwrap().success());
    assert!(
        tokio::net::TcpStream::connect(srv.addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn environment_and_config_file_are_read_and_flags_win() {
    let dir = TempDir::new("cfg");
    let file = dir.0.join("server.toml");
    std::fs::write(
        &file,
        "[jwt]\nsecret = \"file-secret-000000000\"\n[limits]\nsends_per_minute = 1\n",
    )
    .unwrap();
    // Secret from the file; the env var for the listen address is overridden by the flag.
    let srv = start(
        &["--config", file.to_str().unwrap()],
        &[("TIDINGS_LISTEN", "127.0.0.1:1")],
    );
    assert_ne!(
        srv.addr.port(),
        1,
        "the --listen flag wins over TIDINGS_LISTEN"
    );
    srv.api().register("carol").await;
    let tok = token(&["--config", file.to_str().unwrap()], "carol");
    let mut c = Client::open(&format!("ws://{}/ws", srv.addr)).await;
    assert_eq!(c.connect(&tok, "0,0").await.command, Command::Connected);
    c.publish("/topic/a", "one").await;
    c.send(Frame::new(Command::Send).with_header("destination", "/topic/a"))
        .await;
    assert!(c
        .expect_error()
        .await
        .header("message")
        .unwrap()
        .contains("at most 1 SEND"));
}

#[test]
fn a_generated_secret_is_kept_in_the_data_dir() {
    let dir = TempDir::new("gen");
    let args = ["--data-dir", dir.0.to_str().unwrap()];
    let a = token(&args, "dave");
    assert!(dir.0.join("jwt-secret").exists());
    let b = token(&args, "dave");
    // Same secret both times: both verify with it.
    let secret = std::fs::read_to_string(dir.0.join("jwt-secret")).unwrap();
    let auth = tidings_server::auth::Authenticator::hs256(secret.trim().as_bytes(), 0);
    assert_eq!(&*auth.verify(&a).unwrap().name, "dave");
    assert_eq!(&*auth.verify(&b).unwrap().name, "dave");
}

#[test]
fn bad_configuration_exits_non_zero_with_a_sentence() {
    let dir = TempDir::new("badcfg");
    let file = dir.0.join("server.toml");
    std::fs::write(&file, "[limits]\nmax_frame_bytes = 10\n").unwrap();
    let out = Proc::new(server_binary())
        .args([
            "--config",
            file.to_str().unwrap(),
            "--data-dir",
            dir.0.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("limits.max_frame_bytes must be at least 1024"),
        "{err}"
    );
    let out = Proc::new(server_binary())
        .args([
            "--jwt-secret",
            "short",
            "--data-dir",
            dir.0.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 16 characters"));
    let out = Proc::new(server_binary())
        .args(["--listen", "not-an-address"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'not-an-address'"));
}

/// `THP_enabled` of a process, from /proc (Linux 5.0 and later).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn thp_enabled(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:"))
        .map(|v| v.trim().to_owned())
        .expect("no THP_enabled line in /proc/PID/status")
}

/// Transparent huge pages are off for the server unless MIMALLOC_ALLOW_THP=1 keeps them
/// (they cost idle connections memory: `malloc::no_huge_pages`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[tokio::test]
async fn transparent_huge_pages_are_off_unless_asked_for() {
    let srv = start(&[], &[]);
    assert_eq!(thp_enabled(srv.child.id()), "0");
    let kept = start(&[], &[("MIMALLOC_ALLOW_THP", "1")]);
    // As the system has them: the same as this test process's.
    assert_eq!(
        thp_enabled(kept.child.id()),
        thp_enabled(std::process::id())
    );
}
