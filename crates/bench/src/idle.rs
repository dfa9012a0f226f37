//! Scenario 1: idle connections. N authenticated connections with heart-beats both ways
//! (10 s, as a desktop app asks), held open: the server's resident memory per connection
//! and its CPU per connection per second while they idle.

use crate::load::{self, Target};
use crate::report::{Goal, Report};
use crate::sys;
use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone)]
pub struct IdleOpts {
    pub connections: usize,
    /// How long the connections idle while CPU is measured.
    pub window: Duration,
    pub heart_beat_ms: u64,
}

/// Opens the connections, measures, closes them. `token(i)` gives connection i's token.
pub async fn run(
    t: &Target,
    opts: &IdleOpts,
    token: &(dyn Fn(usize) -> anyhow::Result<Option<String>> + Sync),
    report: &mut Report,
) -> anyhow::Result<()> {
    let n = opts.connections;
    let limit = sys::nofile_limit() as usize;
    if n + 100 > limit {
        anyhow::bail!(
            "{n} connections need more open files than this process may have ({limit}; `ulimit -n`): the load generator and the server each hold one per connection"
        );
    }
    let rss0 = sys::rss_bytes(t.pid);
    let (stop_tx, stop_rx) = watch::channel(false);
    let lost = Arc::new(AtomicU64::new(0));
    let beats_in = Arc::new(AtomicU64::new(0));
    let hb = opts.heart_beat_ms;
    let started = std::time::Instant::now();
    let tokens: Vec<Option<String>> = (0..n).map(token).collect::<anyhow::Result<_>>()?;
    let conns = load::connect_many(n, 64, |i| {
        let tok = tokens[i].clone();
        async move { load::open(t, i, tok.as_deref(), (hb, hb)).await }
    })
    .await?;
    let connect_s = started.elapsed().as_secs_f64();
    let mut tasks = Vec::with_capacity(n);
    let bare = t.kind.is_bare();
    for c in conns {
        let mut stop = stop_rx.clone();
        let lost = lost.clone();
        let beats_in = beats_in.clone();
        tasks.push(tokio::spawn(async move {
            let load::Conn { mut tx, mut rx, .. } = c;
            let mut tick = tokio::time::interval(Duration::from_millis(hb));
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    _ = tick.tick() => {
                        // STOMP heart-beats; the bare broadcaster has no protocol (it
                        // would pass an EOL on to everyone): a WebSocket ping instead.
                        let beat = if bare { Message::Ping(Default::default()) } else { Message::text("\n") };
                        if tx.send(beat).await.is_err() { lost.fetch_add(1, Ordering::Relaxed); break; }
                    }
                    m = rx.next() => match m {
                        Some(Ok(Message::Text(_) | Message::Binary(_) | Message::Pong(_))) => { beats_in.fetch_add(1, Ordering::Relaxed); }
                        Some(Ok(_)) => {}
                        _ => { lost.fetch_add(1, Ordering::Relaxed); break; }
                    }
                }
            }
            let _ = tx.send(Message::Close(None)).await;
        }));
    }
    // Memory once every connection is up, then CPU over the idle window: the window is the
    // measurement itself (CPU per connection per second), not a wait for something.
    let rss1 = sys::rss_bytes(t.pid);
    let cpu = sys::CpuWindow::start(t.pid);
    let beats_before = beats_in.load(Ordering::Relaxed);
    tokio::time::sleep(opts.window).await;
    let (cpu_s, wall_s) = cpu.finish();
    let rss2 = sys::rss_bytes(t.pid);
    let beats = beats_in.load(Ordering::Relaxed) - beats_before;
    let lost_n = lost.load(Ordering::Relaxed);
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    if lost_n > 0 {
        anyhow::bail!(
            "{lost_n} of {n} idle connections to {} were closed while idle",
            t.name
        );
    }
    let per_conn = (rss1.max(rss2).saturating_sub(rss0)) as f64 / n as f64 / 1024.0;
    let label = format!("{}k connections", n as f64 / 1000.0);
    report.figure(
        t.name,
        &format!("memory per connection, {label}"),
        per_conn,
        "KB",
        if t.name == "tidings" {
            Goal::at_most(8.0)
        } else {
            None
        },
    );
    report.figure(
        t.name,
        &format!("CPU per connection per second, {label}"),
        cpu_s / n as f64 / wall_s * 1e6,
        "µs",
        None,
    );
    report.figure(
        t.name,
        &format!("resident memory, {label}"),
        rss1.max(rss2) as f64 / 1024.0 / 1024.0,
        "MB",
        None,
    );
    report.figure(
        t.name,
        &format!("connect rate, {label}"),
        n as f64 / connect_s,
        "conn/s",
        None,
    );
    if !t.kind.is_bare() && hb <= opts.window.as_millis() as u64 && beats == 0 {
        anyhow::bail!("no heart-beats arrived from {} in {wall_s:.1} s", t.name);
    }
    Ok(())
}
