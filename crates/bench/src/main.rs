//! `tidings-bench`: the benchmarks of issue 7 for the server and the desktop cache.
//!
//! ```text
//! tidings-bench run [--smoke] [--out DIR] [--only idle,fanout,chat,catchup,cache,files,cluster]
//! tidings-bench report DIR          # merge DIR/*.json, print the table, draw the SVGs
//! tidings-bench broadcaster --listen 127.0.0.1:0 [--stomp-destination /topic/x]
//! ```
//!
//! Everything runs on 127.0.0.1, each scenario bounded in time, and stops by itself.
//! `make bench` runs the full set (with the desktop-app scenarios from tests/bench);
//! `make test` runs `--smoke`, a tiny run of every scenario that fails on any error.

mod broadcaster;
mod cache;
mod chat;
mod cluster;
mod fanout;
mod files;
mod idle;
mod load;
mod report;
mod sys;
mod targets;

use anyhow::Context;
use clap::{Parser, Subcommand};
use report::Report;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "tidings-bench",
    about = "Tidings benchmarks: server beside RabbitMQ Web-STOMP and a bare WebSocket broadcaster, and the desktop cache"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Runs the scenarios and writes one JSON file per scenario into --out.
    Run(RunArgs),
    /// Merges the JSON files in DIR into bench.json, prints the table, draws the charts.
    Report {
        dir: PathBuf,
        /// Exit with status 3 when a goal was missed.
        #[arg(long)]
        strict: bool,
    },
    /// The bare WebSocket broadcaster (started by `run` as a separate process).
    Broadcaster {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// The fair ceiling: send each message as the STOMP MESSAGE frame a Tidings
        /// subscriber of this destination receives, instead of as it came.
        #[arg(long)]
        stomp_destination: Option<String>,
        /// The subscription id in those frames.
        #[arg(long, default_value = fanout::SUBSCRIPTION)]
        stomp_subscription: String,
    },
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// A tiny run of every scenario, to check that they work (for `make test`).
    #[arg(long)]
    smoke: bool,
    /// Where the results go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Scratch space for data directories and logs (emptied first).
    #[arg(long, default_value = "target/bench-work")]
    work: PathBuf,
    /// Comma-separated scenarios: idle, fanout, chat, catchup, cache, files, cluster.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "idle,fanout,chat,catchup,cache,files,cluster"
    )]
    only: Vec<String>,
    /// The server binary (use a release build for figures).
    #[arg(long, default_value = "target/release/tidings-server")]
    server_bin: PathBuf,
    /// The script that starts and stops RabbitMQ with Web-STOMP.
    #[arg(long, default_value = "tests/interop/rabbitmq.sh")]
    rabbitmq_script: PathBuf,
    /// Leave RabbitMQ out.
    #[arg(long)]
    no_rabbitmq: bool,
    /// Publish rate (messages/s) of the fan-out latency run common to all targets.
    #[arg(long)]
    fixed_rate: Option<f64>,
    /// Messages the cache scenario ingests (default 1,000,000; for profiling a shorter run).
    #[arg(long)]
    cache_messages: Option<usize>,
    /// The chat ladder's receipt p99 bound in ms (default 50, the goal). For profiling the
    /// server's cost per message: set high, a run climbs the same steps whatever the disk's
    /// `fsync` latency does.
    #[arg(long)]
    chat_p99_bound: Option<f64>,
    /// The chat ladder's steps at most (default 20).
    #[arg(long)]
    chat_steps: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Cmd::Broadcaster {
            listen,
            stomp_destination,
            stomp_subscription,
        } => rt.block_on(async {
            let mode = match stomp_destination {
                Some(destination) => broadcaster::Mode::StompMessage {
                    destination,
                    subscription: stomp_subscription,
                },
                None => broadcaster::Mode::Plain,
            };
            let l = tokio::net::TcpListener::bind(listen).await?;
            println!("broadcaster listening on {}", l.local_addr()?);
            use std::io::Write;
            std::io::stdout().flush()?;
            broadcaster::serve(l, mode).await
        }),
        Cmd::Report { dir, strict } => {
            let missed = report::merge(&dir)?;
            if strict && missed > 0 {
                eprintln!("{missed} goals missed");
                std::process::exit(3);
            }
            Ok(())
        }
        Cmd::Run(args) => rt.block_on(run(args)),
    }
}

fn want(args: &RunArgs, s: &str) -> bool {
    args.only.iter().any(|o| o == s)
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let smoke = args.smoke;
    let _ = std::fs::remove_dir_all(&args.work);
    std::fs::create_dir_all(&args.work)?;
    std::fs::create_dir_all(&args.out)?;
    let work = std::fs::canonicalize(&args.work)?;
    let server_bin = std::fs::canonicalize(&args.server_bin).with_context(|| {
        format!(
            "the server binary {} is missing: build it (cargo build --release -p tidings-server)",
            args.server_bin.display()
        )
    })?;
    let mode = if smoke { "smoke" } else { "full" };
    let needs_servers = ["idle", "fanout"].iter().any(|s| want(&args, s));
    let rabbit = if needs_servers && !args.no_rabbitmq {
        println!("starting RabbitMQ (Web-STOMP) ...");
        Some(targets::Rabbit::start(
            &args.rabbitmq_script,
            &work.join("rabbitmq"),
        )?)
    } else {
        None
    };
    let result = run_scenarios(&args, &work, &server_bin, rabbit.as_ref(), mode).await;
    if let Some(r) = rabbit {
        r.stop();
    }
    result?;
    println!(
        "\n{} run done: results in {} (`tidings-bench report {}` prints the table and draws the charts)",
        mode,
        args.out.display(),
        args.out.display()
    );
    Ok(())
}

async fn run_scenarios(
    args: &RunArgs,
    work: &std::path::Path,
    server_bin: &std::path::Path,
    rabbit: Option<&targets::Rabbit>,
    mode: &str,
) -> anyhow::Result<()> {
    let smoke = args.smoke;
    let conditions = |r: &mut Report| {
        r.condition("mode", mode);
        r.condition("server", server_bin.display().to_string());
        r.condition(
            "network",
            "loopback (127.0.0.1), load generator on the same machine",
        );
    };

    if want(args, "idle") {
        println!("\n== 1. idle connections");
        let mut r = Report::new("idle");
        conditions(&mut r);
        let limit = sys::nofile_limit() as usize;
        let mut sizes = if smoke {
            vec![100]
        } else {
            vec![10_000, 50_000]
        };
        let most = limit.saturating_sub(1000);
        if sizes.iter().any(|&n| n > most) {
            let blocked: Vec<String> = sizes
                .iter()
                .filter(|&&n| n > most)
                .map(|n| n.to_string())
                .collect();
            r.note(
                "tidings",
                &format!("{} connections", blocked.join(", ")),
                &format!(
                    "not measurable here: the open-files limit is {limit} and cannot be raised (setrlimit: not permitted); measured {most} instead"
                ),
            );
            sizes.retain(|&n| n <= most);
            sizes.push(most);
        }
        let opts = |n| idle::IdleOpts {
            connections: n,
            window: Duration::from_secs(if smoke { 1 } else { 10 }),
            heart_beat_ms: if smoke { 500 } else { 10_000 },
        };
        r.condition("idle_heart_beat_ms", opts(0).heart_beat_ms);
        r.condition("idle_window_s", opts(0).window.as_secs());
        for &n in &sizes {
            let dir = work.join(format!("idle-{n}"));
            let secret = targets::secret();
            chat::seed_users(&dir, &secret, "idle", n).await?;
            let srv = targets::Tidings::start(server_bin, &dir, &secret)?;
            let t = srv.target("");
            idle::run(
                &t,
                &opts(n),
                &|i| Ok(Some(srv.token(&format!("idle{i}"))?)),
                &mut r,
            )
            .await?;
            srv.proc.stop();
        }
        let n0 = sizes[0];
        if let Some(rb) = rabbit {
            idle::run(&rb.target(""), &opts(n0), &|_| Ok(None), &mut r).await?;
        }
        let bare = targets::Bare::start(&work.join("bare-idle"))?;
        idle::run(&bare.target(), &opts(n0), &|_| Ok(None), &mut r).await?;
        bare.proc.stop();
        r.save(&args.out)?;
    }

    if want(args, "fanout") {
        println!("\n== 2. fan-out");
        let mut r = Report::new("fanout");
        conditions(&mut r);
        let opts = if smoke {
            fanout::FanoutOpts {
                subscribers: 50,
                body_bytes: 100,
                step: Duration::from_millis(500),
                start_rate: 20.0,
                growth: 2.0,
                max_steps: 2,
                fixed_rate: args.fixed_rate.unwrap_or(10.0),
                p99_bound_ms: 100.0,
            }
        } else {
            fanout::FanoutOpts {
                subscribers: 10_000,
                body_bytes: 100,
                step: Duration::from_secs(3),
                start_rate: 1.0,
                growth: 1.3,
                max_steps: 30,
                fixed_rate: args.fixed_rate.unwrap_or(1.0),
                p99_bound_ms: 100.0,
            }
        };
        r.condition("fanout_subscribers", opts.subscribers);
        r.condition("fanout_body_bytes", opts.body_bytes);
        r.condition("fanout_step_s", opts.step.as_secs_f64());
        r.condition("fanout_fixed_rate", opts.fixed_rate);
        let topic = "/topic/bench.fanout";
        let dir = work.join("fanout");
        // Subscribers fan0.. and the publisher, the last one.
        let secret = targets::secret();
        chat::seed_users(&dir, &secret, "fan", opts.subscribers + 1).await?;
        let srv = targets::Tidings::start(server_bin, &dir, &secret)?;
        let tid = fanout::run(
            &[srv.target(topic)],
            &opts,
            &|i| Ok(Some(srv.token(&format!("fan{i}"))?)),
            &mut r,
        )
        .await?;
        srv.proc.stop();
        let rmq = match rabbit {
            Some(rb) => Some(fanout::run(&[rb.target(topic)], &opts, &|_| Ok(None), &mut r).await?),
            None => None,
        };
        let bare = targets::Bare::start(&work.join("bare-fanout"))?;
        let b = fanout::run(&[bare.target()], &opts, &|_| Ok(None), &mut r).await?;
        bare.proc.stop();
        let fair = targets::Bare::start_stomp(
            &work.join("bare-stomp-fanout"),
            topic,
            fanout::SUBSCRIPTION,
        )?;
        let f = fanout::run(&[fair.target()], &opts, &|_| Ok(None), &mut r).await?;
        fair.proc.stop();
        r.condition(
            "fanout_ceilings",
            "bare: each message relayed as it came, plain text the load generator does not decode; bare-stomp (the fair ceiling): each message relayed as the STOMP MESSAGE frame a Tidings subscriber receives, encoded once per message and shared, decoded by the load generator as Tidings' frames are",
        );
        fair_ceiling_shape(&tid, &f, smoke, &mut r)?;
        if let Some(rmq) = rmq {
            if rmq.kept_up_per_s > 0.0 {
                r.figure(
                    "tidings",
                    "fan-out delivered/s: Tidings ÷ RabbitMQ",
                    tid.kept_up_per_s / rmq.kept_up_per_s,
                    "×",
                    report::Goal::at_least(3.0),
                );
            }
        }
        ceiling_ratios(&tid, &b, &f, &mut r);
        r.save(&args.out)?;
    }

    if want(args, "chat") {
        println!("\n== 3. chat with persistence");
        let mut r = Report::new("chat");
        conditions(&mut r);
        let opts = if smoke {
            chat::ChatOpts {
                users: 20,
                groups: 2,
                step: Duration::from_millis(500),
                start_rate: 20.0,
                growth: 2.0,
                max_steps: 2,
                receipt_p99_bound_ms: 50.0,
            }
        } else {
            chat::ChatOpts {
                users: 1000,
                groups: 100,
                step: Duration::from_secs(3),
                start_rate: 500.0,
                growth: 1.4,
                max_steps: args.chat_steps.unwrap_or(20),
                receipt_p99_bound_ms: args.chat_p99_bound.unwrap_or(50.0),
            }
        };
        r.condition("chat_users", opts.users);
        r.condition("chat_groups", opts.groups);
        r.condition("chat_step_s", opts.step.as_secs_f64());
        r.condition(
            "storage",
            "SQLite, synchronous=full (a receipt means on disk), WAL",
        );
        let dir = work.join("chat");
        let secret = targets::secret();
        let convs = chat::seed_groups(&dir, &secret, opts.users, opts.groups).await?;
        let srv = targets::Tidings::start(server_bin, &dir, &secret)?;
        chat::run(&srv, &convs, &opts, &mut r).await?;
        srv.proc.stop();
        r.save(&args.out)?;
    }

    if want(args, "catchup") {
        println!("\n== 4. catch-up over REST");
        let mut r = Report::new("catchup");
        conditions(&mut r);
        let count = if smoke { 1_000 } else { 100_000 };
        let dir = work.join("catchup");
        let secret = targets::secret();
        println!("  seeding {count} messages ...");
        let cid = chat::seed_history(&dir, &secret, count).await?;
        let srv = targets::Tidings::start(server_bin, &dir, &secret)?;
        chat::catchup(&srv, &cid, count, if smoke { 1 } else { 3 }, &mut r).await?;
        srv.proc.stop();
        r.condition("catchup_messages", count);
        r.condition("catchup_page", 500);
        r.save(&args.out)?;
    }

    if want(args, "cache") {
        println!("\n== 5. desktop cache");
        let mut r = Report::new("cache");
        conditions(&mut r);
        let opts = if smoke {
            cache::CacheOpts {
                messages: 5_000,
                conversations: 5,
                queries: 30,
            }
        } else {
            cache::CacheOpts {
                messages: args.cache_messages.unwrap_or(1_000_000),
                conversations: 100,
                queries: 1_000,
            }
        };
        let dir = work.join("cache");
        tokio::task::spawn_blocking(move || cache::run(&dir, &opts, &mut r).map(|_| r))
            .await??
            .save(&args.out)?;
    }

    if want(args, "files") {
        println!("\n== 8. files: upload and download beside a disk copy");
        let mut r = Report::new("files");
        conditions(&mut r);
        let opts = if smoke {
            files::FilesOpts {
                size: 4_000_000,
                chunk: 1024 * 1024,
                runs: 1,
            }
        } else {
            files::FilesOpts {
                size: 100_000_000,
                chunk: 8 * 1024 * 1024,
                runs: 3,
            }
        };
        r.condition("files_size_bytes", opts.size);
        r.condition("files_chunk_bytes", opts.chunk);
        r.condition("files_runs", opts.runs);
        r.condition(
            "storage",
            "data directory and the copy on the same file system; each PATCH fsynced",
        );
        let dir = work.join("files");
        let secret = targets::secret();
        let cid = files::seed(&dir, &secret).await?;
        let srv = targets::Tidings::start(server_bin, &dir, &secret)?;
        let result = files::run(&srv, &cid, &dir, &opts, &mut r).await;
        srv.proc.stop();
        result?;
        r.save(&args.out)?;
    }

    if want(args, "cluster") {
        println!("\n== 9. cluster: 1 node vs 3 (PostgreSQL + Redis), PostgreSQL vs SQLite");
        let mut r = Report::new("cluster");
        conditions(&mut r);
        let (chat_opts, fanout_opts) = cluster_opts(smoke, args.fixed_rate);
        r.condition("cluster_chat_users", chat_opts.users);
        r.condition("cluster_chat_groups", chat_opts.groups);
        r.condition("cluster_fanout_subscribers", fanout_opts.subscribers);
        r.condition(
            "cluster_storage",
            "SQLite synchronous=normal; PostgreSQL 15 (testkit instance, fsync=off) with synchronous_commit=on: a commit is written to the OS before it is acknowledged, on both",
        );
        r.condition(
            "cluster_placement",
            "every node, PostgreSQL, Redis and the load generator on this one machine; user i on node i % 3",
        );
        cluster::run(server_bin, work, &chat_opts, &fanout_opts, &mut r).await?;
        r.save(&args.out)?;
    }
    Ok(())
}

/// Tidings' fan-out beside both ceilings: deliveries/s kept up and p99 at the fixed rate as
/// ratios, the fair ceiling's beside the goals of issue 19 (≥ 70 % of its deliveries/s, p99
/// within 1.2× of its p99); the old ceiling's without a goal (it measures the load
/// generator's STOMP decoding too), and what that decoding costs the ceiling itself.
fn ceiling_ratios(
    tid: &fanout::FanoutResult,
    old: &fanout::FanoutResult,
    fair: &fanout::FanoutResult,
    r: &mut Report,
) {
    for (name, c, goal) in [
        ("bare broadcaster (old ceiling)", old, None),
        ("fair ceiling", fair, report::Goal::at_least(70.0)),
    ] {
        if c.kept_up_per_s > 0.0 {
            r.figure(
                "tidings",
                &format!("fan-out delivered/s: Tidings ÷ {name}"),
                tid.kept_up_per_s / c.kept_up_per_s * 100.0,
                "%",
                goal,
            );
        } else {
            r.note(
                "tidings",
                &format!("fan-out delivered/s: Tidings ÷ {name}"),
                "no ratio: the ceiling kept up with no step",
            );
        }
    }
    for (name, c, goal) in [
        ("old ceiling", old, None),
        ("fair ceiling", fair, report::Goal::at_most(1.2)),
    ] {
        let metric = format!("fan-out p99 at the fixed rate: Tidings ÷ {name}");
        match (tid.p99_fixed_ms, c.p99_fixed_ms) {
            (Some(t), Some(c)) if c > 0.0 => r.figure("tidings", &metric, t / c, "×", goal),
            _ => r.note(
                "tidings",
                &metric,
                "no ratio: a p99 at the fixed rate is missing (subscribers dropped)",
            ),
        }
    }
    if old.kept_up_per_s > 0.0 {
        r.figure(
            "bare-stomp",
            "fan-out delivered/s: fair ceiling ÷ old ceiling",
            fair.kept_up_per_s / old.kept_up_per_s * 100.0,
            "%",
            None,
        );
    }
}

/// The fair ceiling is only fair while its frames are shaped like Tidings': the same
/// command, header names in order and body length as a delivery Tidings made in the same
/// run. A mismatch is noted in the report, and fails a smoke run (so that `make test`
/// catches a server whose `MESSAGE` changed without the ceiling).
fn fair_ceiling_shape(
    tid: &fanout::FanoutResult,
    fair: &fanout::FanoutResult,
    smoke: bool,
    r: &mut Report,
) -> anyhow::Result<()> {
    let shape = |res: &fanout::FanoutResult| res.sample.as_deref().and_then(fanout::frame_shape);
    let (t, f) = (shape(tid), shape(fair));
    let problem = match (&t, &f) {
        (Some(t), Some(f)) if t == f => {
            r.condition("fanout_message_shape", t.as_str());
            return Ok(());
        }
        (Some(t), Some(f)) => format!("Tidings sends {t}, the fair ceiling {f}"),
        _ => format!(
            "a delivery to compare is missing (Tidings: {}, the fair ceiling: {})",
            t.as_deref().unwrap_or("none"),
            f.as_deref().unwrap_or("none")
        ),
    };
    r.note(
        "bare-stomp",
        "fan-out: MESSAGE frame not shaped like Tidings'",
        &problem,
    );
    if smoke {
        anyhow::bail!("the fair ceiling's MESSAGE frame is not shaped like Tidings': {problem} (update broadcaster::message_frame)");
    }
    Ok(())
}

/// The cluster scenario's chat and fan-out sizes.
fn cluster_opts(smoke: bool, fixed_rate: Option<f64>) -> (chat::ChatOpts, fanout::FanoutOpts) {
    if smoke {
        (
            chat::ChatOpts {
                users: 30,
                groups: 3,
                step: Duration::from_millis(500),
                start_rate: 20.0,
                growth: 2.0,
                max_steps: 2,
                receipt_p99_bound_ms: 50.0,
            },
            fanout::FanoutOpts {
                subscribers: 30,
                body_bytes: 100,
                step: Duration::from_millis(500),
                start_rate: 20.0,
                growth: 2.0,
                max_steps: 2,
                fixed_rate: fixed_rate.unwrap_or(10.0),
                p99_bound_ms: 100.0,
            },
        )
    } else {
        (
            chat::ChatOpts {
                users: 1000,
                groups: 100,
                step: Duration::from_secs(3),
                start_rate: 250.0,
                growth: 1.4,
                max_steps: 20,
                receipt_p99_bound_ms: 50.0,
            },
            fanout::FanoutOpts {
                subscribers: 3_000,
                body_bytes: 100,
                step: Duration::from_secs(3),
                start_rate: 2.0,
                growth: 1.4,
                max_steps: 25,
                fixed_rate: fixed_rate.unwrap_or(1.0),
                p99_bound_ms: 100.0,
            },
        )
    }
}
