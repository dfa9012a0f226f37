//! Convergence under chaos against one server (the run is in `convergence`): 5,000
//! messages, the server killed with `kill -9` and restarted once on its data directory.
//! `TIDINGS_CHAOS_SEED=n` replays a run; the seed is printed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod convergence;

use convergence::Deployment;
use std::net::SocketAddr;
use tidings_testkit::{BinServer, TempDir};

struct OneServer {
    data: TempDir,
    server: Option<BinServer>,
    addr: SocketAddr,
}

impl Deployment for OneServer {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn serving(&self) -> bool {
        self.server.is_some()
    }

    async fn fail(&mut self) -> String {
        self.server.take().unwrap().kill();
        "server kill -9".into()
    }

    async fn recover(&mut self) -> String {
        self.server = Some(BinServer::start(self.data.path(), Some(self.addr)));
        "server restarted".into()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_caches_converge_to_the_server_under_chaos() {
    let data = TempDir::new("chaos-server");
    let server = BinServer::start(data.path(), None);
    let mut d = OneServer {
        addr: server.addr,
        server: Some(server),
        data,
    };
    convergence::run(&mut d, 5_000).await;
}
