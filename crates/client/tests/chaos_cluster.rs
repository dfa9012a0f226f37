//! Convergence under chaos through the load balancer (the run is in `convergence`): the two
//! engines talk to HAProxy in front of three nodes on PostgreSQL and Redis (testkit
//! `Cluster`), with sockets cut and the network gone as in the one-server run, and one
//! failure mid-run: the node carrying the most STOMP sessions killed with `SIGKILL` and
//! started again on its port, or Redis restarted (empty: it keeps nothing). Both caches
//! converge, nothing lost or doubled. 2,000 messages each (the one-server run sends 5,000):
//! the same schedule scaled, to keep `make test` within its budget.
//! `TIDINGS_CHAOS_SEED=n` replays a run; the seed is printed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod convergence;

use convergence::Deployment;
use std::net::SocketAddr;
use tidings_testkit::{Cluster, Postgres, SERVICE_TOKEN};

const TOTAL: usize = 2_000;

/// What fails.
enum Failure {
    Node,
    Redis,
}

struct OnCluster {
    cluster: Cluster,
    failure: Failure,
    killed: Option<usize>,
}

impl OnCluster {
    /// The node with the most STOMP sessions (the engines' sockets).
    async fn busiest(&self) -> usize {
        let mut best = (0, -1);
        for i in 0..self.cluster.addrs.len() {
            let (status, text) = tidings_testkit::http_get_with(
                self.cluster.addrs[i],
                "/metrics",
                Some(&format!("Bearer {SERVICE_TOKEN}")),
            )
            .await;
            assert_eq!(status, 200, "{text}");
            let n: i64 = text
                .lines()
                .find_map(|l| l.strip_prefix("tidings_stomp_connections "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if n > best.1 {
                best = (i, n);
            }
        }
        best.0
    }
}

impl Deployment for OnCluster {
    fn addr(&self) -> SocketAddr {
        self.cluster.haproxy.addr
    }

    fn serving(&self) -> bool {
        // Two nodes stay up; without Redis the nodes store and serve their own sessions.
        true
    }

    async fn fail(&mut self) -> String {
        match self.failure {
            Failure::Node => {
                let i = self.busiest().await;
                self.cluster.kill(i);
                self.killed = Some(i);
                format!("node{} kill -9", i + 1)
            }
            Failure::Redis => {
                self.cluster.redis.stop();
                "redis stopped".into()
            }
        }
    }

    async fn recover(&mut self) -> String {
        match self.failure {
            Failure::Node => {
                let i = self.killed.take().unwrap();
                self.cluster.restart(i);
                format!("node{} restarted", i + 1)
            }
            Failure::Redis => {
                self.cluster.redis.restart();
                "redis restarted".into()
            }
        }
    }
}

/// The two runs take turns: each is a whole cluster, and the machine has 2 cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run(failure: Failure) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let store = Postgres::shared().create_database();
    let cluster = Cluster::start(3, &store).await;
    let mut d = OnCluster {
        cluster,
        failure,
        killed: None,
    };
    convergence::run(&mut d, TOTAL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caches_converge_through_haproxy_with_a_node_killed() {
    run(Failure::Node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caches_converge_through_haproxy_with_redis_restarted() {
    run(Failure::Redis).await;
}
