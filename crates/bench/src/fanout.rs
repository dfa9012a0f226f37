//! Scenario 2: fan-out. One publisher, S subscribers on one topic, 100-byte messages. The
//! publish rate rises step by step while every message arrives at every subscriber with a
//! p99 under 100 ms; the highest such step is the rate held. Then latency percentiles at
//! half that rate and at a fixed rate common to all targets.
//!
//! Every target's deliveries are taken apart the same way: STOMP frames (Tidings, RabbitMQ
//! and the fair ceiling, `bare-stomp`) go through the same decoder and the same loop; only
//! the old ceiling's plain text is read as it comes.

use crate::load::{self, Kind, Latencies, Pacer, Target};
use crate::report::{percentile_points, Goal, Report, Series};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tidings_stomp::{Command, Decoder, Frame, Item, Limits, Version};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone)]
pub struct FanoutOpts {
    pub subscribers: usize,
    pub body_bytes: usize,
    pub step: Duration,
    pub start_rate: f64,
    pub growth: f64,
    pub max_steps: usize,
    /// Publish rate (messages/s) of the common latency run.
    pub fixed_rate: f64,
    /// p99 bound for a step to count as held.
    pub p99_bound_ms: f64,
}

/// The subscription id the subscribers use (and the fair ceiling's frames carry).
pub const SUBSCRIPTION: &str = "fanout";

/// What one target reached; the caller compares targets.
#[derive(Debug, Clone, Default)]
pub struct FanoutResult {
    /// Deliveries per second at the highest step held.
    pub delivered_per_s: f64,
    pub rate_held: f64,
    /// Deliveries per second at the highest step where every message arrived in time.
    pub kept_up_per_s: f64,
    pub rate_kept_up: f64,
    /// p99 (ms) at the fixed rate common to all targets, if it was measured.
    pub p99_fixed_ms: Option<f64>,
    /// The first delivery a subscriber received: the WebSocket message's payload.
    pub sample: Option<Vec<u8>>,
}

/// A step where p99 passes this has fallen behind, whatever arrived.
const KEEP_UP_MS: f64 = 1000.0;

const MAX_STEPS: usize = 64;

struct Shared {
    lat: Vec<Latencies>,
    lost: AtomicU64,
    sample: OnceLock<Vec<u8>>,
}

/// The fan-out on `ts`: subscriber `i` connects to `ts[i % ts.len()]` (the nodes of a
/// cluster; one target otherwise), the publisher to the first. Figures are named by the
/// first target.
pub async fn run(
    ts: &[Target],
    opts: &FanoutOpts,
    token: &(dyn Fn(usize) -> anyhow::Result<Option<String>> + Sync),
    report: &mut Report,
) -> anyhow::Result<FanoutResult> {
    let t = &ts[0];
    let s = opts.subscribers;
    let shared = Arc::new(Shared {
        lat: (0..MAX_STEPS).map(|_| Latencies::new()).collect(),
        lost: AtomicU64::new(0),
        sample: OnceLock::new(),
    });
    let tokens: Vec<Option<String>> = (0..=s).map(token).collect::<anyhow::Result<_>>()?;
    let conns = load::connect_many(s, 64, |i| {
        let tok = tokens[i].clone();
        let t = &ts[i % ts.len()];
        async move {
            let mut c = load::open(t, i, tok.as_deref(), (0, 0)).await?;
            if !t.kind.is_bare() {
                c.subscribe(&t.topic, SUBSCRIPTION).await?;
            }
            Ok(c)
        }
    })
    .await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::with_capacity(s);
    let stomp = t.kind.delivers_frames();
    for (i, c) in conns.into_iter().enumerate() {
        let shared = shared.clone();
        let mut stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let load::Conn {
                tx,
                mut rx,
                mut dec,
            } = c;
            let _keep = tx;
            loop {
                let m = tokio::select! {
                    _ = stop.changed() => break,
                    m = futures_util::StreamExt::next(&mut rx) => m,
                };
                let bytes = match m {
                    Some(Ok(Message::Text(b))) => b,
                    Some(Ok(_)) => continue,
                    _ => {
                        shared.lost.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                };
                let now = load::now_ns();
                if shared.sample.get().is_none() {
                    let _ = shared.sample.set(bytes.as_bytes().to_vec());
                }
                if stomp {
                    dec.extend(bytes.as_bytes());
                    while let Ok(Some(item)) = dec.decode() {
                        if let Item::Frame(f) = item {
                            if f.command == Command::Message {
                                record(&shared, i, &f.body, now);
                            }
                        }
                    }
                } else {
                    record(&shared, i, bytes.as_bytes(), now);
                }
            }
        }));
    }
    let mut publisher = load::open(t, s, tokens[s].as_deref(), (0, 0)).await?;

    // The ramp: up while the target keeps up (every message arrives, p99 under a second);
    // the highest step with p99 under the bound is the rate held.
    let mut rate = opts.start_rate;
    let mut best = FanoutResult::default();
    let mut offered_pts = Vec::new();
    let mut p99_pts = Vec::new();
    let mut step = 0;
    println!("  {} fan-out to {s} subscribers:", t.name);
    while step < opts.max_steps.min(MAX_STEPS - 2) {
        let r = run_step(&mut publisher, t, opts, &shared, step, rate, opts.step).await?;
        let h = shared.lat[step].merged();
        let p99 = load::ms(&h, 99.0);
        let whole = shared.lost.load(Ordering::Relaxed) == 0;
        let kept_up = r.ratio >= 0.999 && p99 <= KEEP_UP_MS && whole;
        let held = kept_up && p99 <= opts.p99_bound_ms;
        println!(
            "    step {step}: {rate:.1} msg/s offered, {:.0} deliveries/s, {:.2}% arrived, p50 {:.1} ms, p99 {p99:.1} ms{}",
            r.delivered_per_s,
            r.ratio * 100.0,
            load::ms(&h, 50.0),
            if held { "" } else if kept_up { "  (kept up, p99 over the bound)" } else { "  (fell behind)" }
        );
        offered_pts.push((rate * s as f64, r.delivered_per_s));
        p99_pts.push((rate * s as f64, p99));
        step += 1;
        if !kept_up {
            // Nothing kept up yet: look lower (a few halvings), else stop here.
            if best.rate_kept_up == 0.0 && whole && rate > opts.start_rate / 8.0 {
                rate /= 2.0;
                continue;
            }
            break;
        }
        best.kept_up_per_s = r.delivered_per_s;
        best.rate_kept_up = rate;
        if held {
            best.delivered_per_s = r.delivered_per_s;
            best.rate_held = rate;
        }
        rate *= opts.growth;
    }
    if shared.lost.load(Ordering::Relaxed) > 0 {
        report.note(
            t.name,
            "fan-out: subscribers dropped",
            &format!(
                "{} subscribers were disconnected at the last step (slow consumers)",
                shared.lost.load(Ordering::Relaxed)
            ),
        );
    }
    report.figure(
        t.name,
        &format!(
            "fan-out deliveries/s held (p99 < {:.0} ms)",
            opts.p99_bound_ms
        ),
        best.delivered_per_s,
        "msg/s",
        None,
    );
    report.figure(
        t.name,
        &format!("fan-out deliveries/s kept up (all arrive, p99 < {KEEP_UP_MS:.0} ms)"),
        best.kept_up_per_s,
        "msg/s",
        None,
    );
    report.series(Series {
        chart: "fanout-throughput".into(),
        title: format!("Fan-out to {s} subscribers: delivered vs offered"),
        x_label: "offered deliveries/s".into(),
        y_label: "delivered/s".into(),
        name: t.name.into(),
        points: offered_pts,
    });
    report.series(Series {
        chart: "fanout-p99".into(),
        title: format!("Fan-out to {s} subscribers: p99 latency by offered load"),
        x_label: "offered deliveries/s".into(),
        y_label: "p99 ms".into(),
        name: t.name.into(),
        points: p99_pts,
    });

    // Latency at half the rate held (if the target held any step and is still whole).
    if shared.lost.load(Ordering::Relaxed) == 0 {
        for (half, label, chart, r) in [
            (
                true,
                "half the rate kept up",
                "fanout-latency-half",
                best.rate_kept_up / 2.0,
            ),
            (
                false,
                "the fixed rate",
                "fanout-latency-fixed",
                opts.fixed_rate,
            ),
        ] {
            if r <= 0.0 || step >= MAX_STEPS {
                continue;
            }
            let res = run_step(&mut publisher, t, opts, &shared, step, r, opts.step * 2).await?;
            let h = shared.lat[step].merged();
            step += 1;
            let what = format!("{:.0} deliveries/s ({label})", r * s as f64);
            if !half {
                best.p99_fixed_ms = Some(load::ms(&h, 99.0));
            }
            for p in [50.0, 99.0, 99.9] {
                report.figure(
                    t.name,
                    &format!("fan-out p{p} at {what}"),
                    load::ms(&h, p),
                    "ms",
                    if t.name == "tidings" && p == 99.0 && half {
                        Goal::at_most(20.0)
                    } else {
                        None
                    },
                );
            }
            if res.ratio < 0.999 {
                report.note(
                    t.name,
                    &format!("fan-out at {what}"),
                    &format!("only {:.2}% of the deliveries arrived", res.ratio * 100.0),
                );
            }
            report.series(Series {
                chart: chart.into(),
                title: format!("Fan-out latency distribution at {label}"),
                x_label: "percentile".into(),
                y_label: "ms".into(),
                name: format!("{} ({:.0}/s)", t.name, r * s as f64),
                points: percentile_points(&h),
            });
        }
    }
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    best.sample = shared.sample.get().cloned();
    if let Some(b) = &best.sample {
        report.figure(
            t.name,
            "fan-out bytes per delivery (WebSocket payload)",
            b.len() as f64,
            "bytes",
            None,
        );
    }
    Ok(best)
}

/// What makes two deliveries the same work to decode: the command, the header names in
/// order and the body's length, of the STOMP frame in `payload` (`None` if it is none).
pub fn frame_shape(payload: &[u8]) -> Option<String> {
    let mut dec = Decoder::new(Limits {
        max_frame_bytes: 1 << 20,
        max_body_bytes: 1 << 20,
        ..Limits::default()
    });
    dec.set_version(Version::V1_2);
    dec.extend(payload);
    let Ok(Some(Item::Frame(f))) = dec.decode() else {
        return None;
    };
    let names: Vec<&str> = f.headers.iter().map(|(k, _)| k.as_str()).collect();
    Some(format!(
        "{} [{}] body {} bytes",
        f.command.as_str(),
        names.join(", "),
        f.body.len()
    ))
}

fn record(shared: &Shared, i: usize, body: &[u8], now: u64) {
    if let Some((step, sent)) = load::parse_stamp(body, b"") {
        if step < MAX_STEPS {
            shared.lat[step].record(i, sent, now);
        }
    }
}

struct StepResult {
    delivered_per_s: f64,
    ratio: f64,
}

async fn run_step(
    publisher: &mut load::Conn,
    t: &Target,
    opts: &FanoutOpts,
    shared: &Shared,
    step: usize,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<StepResult> {
    use futures_util::SinkExt;
    let start = Instant::now();
    let mut pacer = Pacer::new(rate);
    let mut sent = 0u64;
    while start.elapsed() < duration {
        let n = pacer.due().await;
        for _ in 0..n {
            let body = load::stamped_body(step, opts.body_bytes);
            match t.kind {
                Kind::Bare | Kind::BareStomp => publisher.tx.feed(Message::text(body)).await?,
                _ => {
                    let f = Frame::new(Command::Send)
                        .with_header("destination", t.topic.as_str())
                        .with_header("content-type", "text/plain")
                        .with_body(body.into_bytes());
                    let b = tidings_stomp::encode_to_bytes(&f, tidings_stomp::Version::V1_2);
                    publisher
                        .tx
                        .feed(Message::text(String::from_utf8(b.to_vec())?))
                        .await?;
                }
            }
            sent += 1;
        }
        publisher.tx.flush().await?;
    }
    let send_s = start.elapsed().as_secs_f64();
    // Wait for the deliveries (or give up 3 s after the last send).
    let expected = sent * opts.subscribers as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    shared.lat[step].wait_count(expected, deadline).await;
    let got = shared.lat[step].count.load(Ordering::Relaxed);
    Ok(StepResult {
        delivered_per_s: got as f64 / send_s,
        ratio: if expected == 0 {
            0.0
        } else {
            got as f64 / expected as f64
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_name_command_headers_and_body_length() {
        let body = load::stamped_body(0, 100);
        let frame = crate::broadcaster::message_frame(
            "/topic/bench.fanout",
            SUBSCRIPTION,
            10_000,
            1,
            body.as_bytes(),
        );
        assert_eq!(
            frame_shape(&frame).as_deref(),
            Some("MESSAGE [destination, message-id, subscription, content-type, content-length] body 100 bytes")
        );
        assert_eq!(frame_shape(body.as_bytes()), None);
    }
}
