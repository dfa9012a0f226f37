//! Scenario 9: the cluster. Chat with persistence on SQLite alone, on PostgreSQL alone, and
//! on three nodes sharing PostgreSQL with Redis as their bus; fan-out on one node against
//! three. The load generator spreads its connections over the nodes (user `i` on node
//! `i % 3`), so deliveries cross nodes through Redis. PostgreSQL and Redis are the testkit's
//! private instances; the CPU each process used during each run is recorded beside the
//! figures, which is what tells what limits them.
//!
//! Durability is made equal: the testkit's PostgreSQL runs with `fsync=off` (a test
//! instance), and the benchmark's database sets `synchronous_commit = on`, so a commit is
//! in the operating system's hands when it is acknowledged: what SQLite's
//! `synchronous = normal` gives, which the comparison runs use too (the chat scenario
//! proper runs SQLite at `full`).

use crate::chat::{self, ChatOpts, ChatResult};
use crate::fanout::{self, FanoutOpts};
use crate::report::Report;
use crate::sys;
use crate::targets::{self, Tidings};
use std::path::Path;
use tidings_testkit::{Postgres, Redis};

/// One setup measured.
struct Setup {
    /// The report's target name (short: the table's column is 10 wide).
    name: &'static str,
    nodes: usize,
    postgres: bool,
}

const CHAT_SETUPS: [Setup; 3] = [
    Setup {
        name: "sqlite-1",
        nodes: 1,
        postgres: false,
    },
    Setup {
        name: "pg-1",
        nodes: 1,
        postgres: true,
    },
    Setup {
        name: "pg+redis-3",
        nodes: 3,
        postgres: true,
    },
];

const FANOUT_SETUPS: [Setup; 2] = [
    Setup {
        name: "1-node",
        nodes: 1,
        postgres: false,
    },
    Setup {
        name: "pg+redis-3",
        nodes: 3,
        postgres: true,
    },
];

/// The running setup: its nodes, and the Redis of a cluster.
struct Running {
    nodes: Vec<Tidings>,
    redis: Option<Redis>,
}

impl Running {
    fn stop(self) {
        for n in self.nodes {
            n.proc.stop();
        }
    }

    /// CPU seconds used so far: the nodes together, Redis, PostgreSQL (the postmaster's
    /// tree), this load generator.
    fn cpu(&self, pg_port: Option<u16>) -> [f64; 4] {
        [
            self.nodes
                .iter()
                .map(|n| sys::cpu_seconds(n.proc.pid()))
                .sum(),
            self.redis
                .as_ref()
                .and_then(Redis::pid)
                .map_or(0.0, sys::cpu_seconds),
            pg_port.and_then(postmaster).map_or(0.0, sys::cpu_seconds),
            sys::cpu_seconds(std::process::id()),
        ]
    }
}

/// The PostgreSQL postmaster listening on `port` (a `postgres` process whose command line
/// names it).
fn postmaster(port: u16) -> Option<u32> {
    let want = format!("-p\0{port}\0");
    std::fs::read_dir("/proc").ok()?.find_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd);
        (cmd.contains("postgres\0") && cmd.contains(&want)).then_some(pid)
    })
}

fn start(
    bin: &Path,
    dir: &Path,
    secret: &str,
    setup: &Setup,
    store: Option<&str>,
) -> anyhow::Result<Running> {
    let redis = (setup.nodes > 1).then(Redis::start);
    let mut nodes = Vec::new();
    for i in 0..setup.nodes {
        let mut extra = String::from("[storage]\nsynchronous = \"normal\"\n");
        if let Some(url) = store {
            extra += &format!("store = \"{url}\"\n");
        }
        if let Some(r) = &redis {
            extra += &format!("[cluster]\nbus = \"{}\"\nnode_id = \"n{i}\"\n", r.url());
        }
        nodes.push(Tidings::start_node(
            bin,
            dir,
            secret,
            &format!("node{i}"),
            &extra,
        )?);
    }
    Ok(Running { nodes, redis })
}

/// A fresh database on the shared instance, commits acknowledged once written to the OS.
fn database(pg: &Postgres) -> String {
    let url = pg.create_database();
    let name = url.rsplit('/').next().unwrap_or_default().to_owned();
    pg.psql(&format!(
        "ALTER DATABASE {name} SET synchronous_commit = on"
    ));
    url
}

/// Prints what each process used over a run, and records it.
fn cpu_note(r: &mut Report, name: &str, what: &str, before: [f64; 4], after: [f64; 4], s: f64) {
    let used: Vec<String> = ["nodes", "redis", "postgres", "load generator"]
        .iter()
        .zip(before.iter().zip(after))
        .filter(|(_, (b, a))| a - *b > 0.0)
        .map(|(k, (b, a))| format!("{k} {:.0}%", (a - b) / s * 100.0))
        .collect();
    let text = format!(
        "CPU over the run ({s:.0} s, 200% = both cores): {}",
        used.join(", ")
    );
    println!("    {text}");
    r.note(name, &format!("{what}: CPU"), &text);
}

pub async fn run(
    bin: &Path,
    work: &Path,
    chat_opts: &ChatOpts,
    fanout_opts: &FanoutOpts,
    r: &mut Report,
) -> anyhow::Result<()> {
    let pg = Postgres::shared();
    let mut chat_results: Vec<(&str, ChatResult)> = Vec::new();
    for setup in &CHAT_SETUPS {
        println!("  chat on {} ...", setup.name);
        let dir = work.join(format!("cluster-chat-{}", setup.name));
        let secret = targets::secret();
        let store = setup.postgres.then(|| database(pg));
        let convs = chat::seed_groups_on(
            &dir,
            &secret,
            store.as_deref(),
            chat_opts.users,
            chat_opts.groups,
        )
        .await?;
        let running = start(bin, &dir, &secret, setup, store.as_deref())?;
        let port = setup.postgres.then(|| pg.port());
        let before = running.cpu(port);
        let t = std::time::Instant::now();
        let nodes: Vec<&Tidings> = running.nodes.iter().collect();
        let res = chat::run_on(&nodes, setup.name, &convs, chat_opts, r).await;
        cpu_note(
            r,
            setup.name,
            "chat",
            before,
            running.cpu(port),
            t.elapsed().as_secs_f64(),
        );
        running.stop();
        chat_results.push((setup.name, res?));
    }

    let topic = "/topic/bench.cluster";
    let mut fanout_results = Vec::new();
    for setup in &FANOUT_SETUPS {
        println!("  fan-out on {} ...", setup.name);
        let dir = work.join(format!("cluster-fanout-{}", setup.name));
        let secret = targets::secret();
        let store = setup.postgres.then(|| database(pg));
        chat::seed_users_on(
            &dir,
            &secret,
            store.as_deref(),
            "fan",
            fanout_opts.subscribers + 1,
        )
        .await?;
        let running = start(bin, &dir, &secret, setup, store.as_deref())?;
        let port = setup.postgres.then(|| pg.port());
        let mut ts: Vec<_> = running.nodes.iter().map(|n| n.target(topic)).collect();
        for t in &mut ts {
            t.name = setup.name;
        }
        let before = running.cpu(port);
        let t = std::time::Instant::now();
        let node0 = &running.nodes[0];
        let res = fanout::run(
            &ts,
            fanout_opts,
            &|i| Ok(Some(node0.token(&format!("fan{i}"))?)),
            r,
        )
        .await;
        cpu_note(
            r,
            setup.name,
            "fan-out",
            before,
            running.cpu(port),
            t.elapsed().as_secs_f64(),
        );
        running.stop();
        fanout_results.push((setup.name, res?));
    }

    println!("\n  side by side:");
    println!(
        "    {:<12} {:>14} {:>14} {:>15}",
        "chat", "persisted/s", "receipt p99", "delivery p99"
    );
    for (name, c) in &chat_results {
        println!(
            "    {name:<12} {:>14.0} {:>11.1} ms {:>12.1} ms",
            c.persisted, c.receipt_p99, c.delivery_p99
        );
    }
    println!("    {:<12} {:>14} {:>14}", "fan-out", "held/s", "kept up/s");
    for (name, f) in &fanout_results {
        println!(
            "    {name:<12} {:>14.0} {:>14.0}",
            f.delivered_per_s, f.kept_up_per_s
        );
    }
    Ok(())
}
