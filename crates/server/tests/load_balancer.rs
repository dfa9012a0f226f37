//! The reference load balancer (packaging/cluster/haproxy.cfg, run by the testkit's
//! `Haproxy`) in front of real servers: the shipped file is valid, WebSockets pass and
//! spread over the nodes (least connections), a node that goes away is left out by the
//! health checks, a changed node list takes effect, SSE is streamed unbuffered, and no
//! HAProxy is left running.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use std::process::Command;
use tidings_testkit::*;

fn shipped() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/cluster/haproxy.cfg")
}

fn check(file: &std::path::Path) {
    let out = Command::new("haproxy")
        .args(["-c", "-f"])
        .arg(file)
        .output()
        .expect("haproxy is not installed: install Debian's haproxy package (make deps does)");
    assert!(
        out.status.success(),
        "haproxy -c -f {}: {}{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The number of open STOMP connections a server reports.
async fn connections(s: &Server) -> i64 {
    let m = s.metrics().await;
    m.lines()
        .find_map(|l| l.strip_prefix("tidings_stomp_connections "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

fn running(dir: &std::path::Path) -> bool {
    Command::new("pgrep")
        .args(["-f", &dir.display().to_string()])
        .status()
        .unwrap()
        .success()
}

#[test]
fn the_shipped_config_and_the_tests_version_of_it_are_valid() {
    check(&shipped());
    let h = Haproxy::start(&["127.0.0.1:1".parse().unwrap()]).unwrap();
    let mine = h.dir().join("check.cfg");
    std::fs::write(&mine, h.config()).unwrap();
    check(&mine);
    // The tests run the shipped settings: only addresses and `global` differ.
    let cfg = h.config();
    for kept in [
        "timeout tunnel 1h",
        "balance leastconn",
        "balance uri",
        "use_backend uploads if { path_beg /api/uploads/ }",
        "http-check send meth GET uri /healthz",
    ] {
        assert!(cfg.contains(kept), "{kept} missing from\n{cfg}");
    }
    assert!(!cfg.contains("127.0.0.1:8081") && !cfg.contains("chroot"));
}

#[tokio::test]
async fn websockets_spread_over_the_nodes_and_follow_them_when_they_change() {
    let a = Server::broker().await;
    let b = Server::broker().await;
    let mut h = Haproxy::start(&[a.addr, b.addr]).unwrap();
    let dir = h.dir().to_owned();
    h.wait_servers_up(2).await;
    // Least connections: four long-lived sockets, two on each node.
    let mut clients = Vec::new();
    for i in 0..4 {
        let mut c = Client::open(&h.url()).await;
        let ok = c.connect(&a.token(&format!("u{i}")), "0,0").await;
        assert_eq!(ok.command, tidings_stomp::Command::Connected, "{ok:?}");
        clients.push(c);
    }
    assert_eq!((connections(&a).await, connections(&b).await), (2, 2));
    // The sockets are tunnels: frames pass both ways.
    clients[0].subscribe("/topic/lb", "s", "auto").await;
    clients[0].publish("/topic/lb", "through haproxy").await;
    assert_eq!(body(&clients[0].next_message().await), "through haproxy");

    // b goes away: the health checks leave it out, and every new socket lands on a.
    b.stop().await;
    h.wait_servers_up(1).await;
    for i in 0..3 {
        let mut c = Client::open(&h.url()).await;
        let ok = c.connect(&a.token(&format!("v{i}")), "0,0").await;
        assert_eq!(ok.command, tidings_stomp::Command::Connected, "{ok:?}");
        clients.push(c);
    }

    // A node on another port replaces it: HAProxy restarts with the new list (cutting what
    // passed through it) and balances over a and c.
    let c = Server::broker().await;
    h.set_backends(&[a.addr, c.addr]).unwrap();
    h.wait_servers_up(2).await;
    drop(clients);
    let mut fresh = Vec::new();
    for i in 0..2 {
        let mut cl = Client::open(&h.url()).await;
        let ok = cl.connect(&c.token(&format!("w{i}")), "0,0").await;
        assert_eq!(ok.command, tidings_stomp::Command::Connected, "{ok:?}");
        fresh.push(cl);
    }
    assert!(connections(&c).await >= 1, "the new node takes connections");

    assert!(running(&dir), "HAProxy runs while the value lives");
    drop(h);
    assert!(!running(&dir), "HAProxy is gone once dropped");
}

#[tokio::test]
async fn sse_and_rest_pass_unbuffered() {
    let node = Server::chat().await;
    let h = Haproxy::start(&[node.addr]).unwrap();
    h.wait_servers_up(1).await;
    let api = Api::new(&h.http());
    let alice = api.register("alice").await;
    let (_, sse) = Sse::open(&api, "/api/notifications/stream", Some(&alice.token), None).await;
    let mut sse = sse.expect("the stream opens through HAProxy");
    assert_eq!(sse.next().await.0, "connected");
    // Each notification arrives while the stream stays open: nothing waits in a buffer.
    for title in ["first", "second"] {
        let (status, body) = api
            .post(
                "/api/notifications",
                SERVICE_TOKEN,
                json!({"users": ["alice"], "title": title, "message": "m"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (name, _, data) = sse.next().await;
        assert_eq!(name, "notification");
        let env: Value = serde_json::from_str(&data).unwrap();
        assert_eq!(env["payload"]["title"], title);
    }
}
