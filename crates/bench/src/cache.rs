//! Scenario 5: the desktop app's SQLite cache (the same `tidings_client::cache::Cache` the
//! app uses, on a real file). Ingest in pages of 500 as catch-up delivers them, the newest
//! page of a conversation and a page further back, full-text search, size on disk.

use crate::report::{Goal, Report, Series};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::time::Instant;
use tidings_client::cache::Cache;
use tidings_proto::{ContentType, Conversation, ConversationKind, Message, Participant, Timestamp};

/// A vocabulary for message text: common words and rarer ones, so that searches hit both
/// many and few messages.
pub const WORDS: &[&str] = &[
    "the",
    "meeting",
    "deploy",
    "build",
    "staging",
    "review",
    "coffee",
    "lunch",
    "tomorrow",
    "release",
    "ticket",
    "customer",
    "invoice",
    "design",
    "server",
    "database",
    "backup",
    "weekend",
    "holiday",
    "appointment",
    "doctor",
    "schedule",
    "moved",
    "thursday",
    "friday",
    "monday",
    "green",
    "red",
    "tests",
    "flaky",
    "pipeline",
    "merge",
    "branch",
    "hotfix",
    "rollback",
    "latency",
    "memory",
    "dashboard",
    "metrics",
    "alert",
    "pager",
    "incident",
    "postmortem",
    "roadmap",
    "quarter",
    "budget",
    "hiring",
    "interview",
    "onboarding",
    "laptop",
    "vpn",
    "password",
    "keyring",
    "notification",
    "tray",
    "window",
    "update",
    "signature",
    "package",
    "debian",
    "windows",
    "macos",
    "tauri",
    "svelte",
    "rust",
    "tokio",
    "sqlite",
    "search",
    "index",
    "cache",
    "offline",
    "reconnect",
    "heartbeat",
    "receipt",
    "stomp",
    "websocket",
    "broker",
    "rabbit",
    "spring",
    "gateway",
    "proxy",
    "certificate",
    "renewal",
    "quartz",
    "zephyr",
    "obsidian",
    "marmalade",
    "kilimanjaro",
    "xylophone",
];

fn text(rng: &mut impl Rng) -> String {
    let n = rng.random_range(4..20);
    (0..n)
        .map(|_| {
            // Zipf-like: low indices (common words) far more often.
            let r: f64 = rng.random();
            WORDS[((r * r * r) * WORDS.len() as f64) as usize % WORDS.len()]
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Debug, Clone)]
pub struct CacheOpts {
    pub messages: usize,
    pub conversations: usize,
    pub queries: usize,
}

pub fn run(dir: &Path, opts: &CacheOpts, report: &mut Report) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("cache.db");
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    let cache = Cache::open(&path)?;
    let me = "alice";
    cache.bind_account("http://127.0.0.1", me)?;
    let convs = opts.conversations;
    for c in 0..convs {
        cache.upsert_conversation(
            &Conversation {
                id: format!("c{c}"),
                kind: ConversationKind::Group,
                title: Some(format!("group {c}")),
                participants: vec![
                    Participant {
                        id: me.into(),
                        display_name: "Alice".into(),
                        online: false,
                        read_seq: 0,
                    },
                    Participant {
                        id: "bob".into(),
                        display_name: "Bob".into(),
                        online: false,
                        read_seq: 0,
                    },
                ],
                last_seq: (opts.messages / convs) as i64,
                read_seq: 0,
                unread_count: 0,
                last_message: None,
                rev: 0,
                created_by: me.into(),
                created_at: Timestamp::now(),
            },
            me,
        )?;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let per_conv = opts.messages / convs;
    // Pages of 500 of one conversation at a time, as catch-up fetches them.
    let mut batches = Vec::new();
    for c in 0..convs {
        let mut seq = 1;
        while seq <= per_conv {
            let end = (seq + 499).min(per_conv);
            let page: Vec<Message> = (seq..=end)
                .map(|s| Message {
                    id: format!("m{c}-{s}"),
                    conversation_id: format!("c{c}"),
                    seq: s as i64,
                    sender_id: if s % 3 == 0 { me.into() } else { "bob".into() },
                    client_id: format!("k{c}-{s}"),
                    content: text(&mut rng),
                    content_type: ContentType::Text,
                    created_at: Timestamp(1_790_000_000_000 + s as i64 * 1000),
                    ..Default::default()
                })
                .collect();
            batches.push(page);
            seq = end + 1;
        }
    }
    let total: usize = batches.iter().map(Vec::len).sum();
    let start = Instant::now();
    for b in &batches {
        cache.insert_messages(b, me)?;
    }
    // Ingest ends when the full-text index (kept by a thread of its own) holds everything.
    anyhow::ensure!(
        cache.wait_indexed(std::time::Duration::from_secs(600))?,
        "the search index did not catch up within 10 minutes"
    );
    let ingest_s = start.elapsed().as_secs_f64();
    drop(batches);
    let label = if total >= 1_000_000 {
        format!("{}M", total / 1_000_000)
    } else {
        format!("{}k", total / 1000)
    };
    report.figure(
        "cache",
        &format!("ingest, {label} messages in pages of 500"),
        total as f64 / ingest_s,
        "msg/s",
        Goal::at_least(100_000.0),
    );

    let mut first = hist();
    let mut back = hist();
    for _ in 0..opts.queries {
        let cid = format!("c{}", rng.random_range(0..convs));
        let t = Instant::now();
        let page = cache.history(&cid, None, 50)?;
        first.saturating_record(t.elapsed().as_micros() as u64);
        anyhow::ensure!(
            page.len() == 50.min(per_conv),
            "first page of {cid} has {} messages",
            page.len()
        );
        let before = rng.random_range(1..=per_conv as i64);
        let t = Instant::now();
        let _ = cache.history(&cid, Some(before), 50)?;
        back.saturating_record(t.elapsed().as_micros() as u64);
    }
    let ms = |h: &Histogram<u64>, p: f64| h.value_at_quantile(p / 100.0) as f64 / 1000.0;
    report.figure("cache", "first page (50) p50", ms(&first, 50.0), "ms", None);
    report.figure(
        "cache",
        "first page (50) p99",
        ms(&first, 99.0),
        "ms",
        Goal::at_most(5.0),
    );
    report.figure(
        "cache",
        "page further back p50",
        ms(&back, 50.0),
        "ms",
        None,
    );
    report.figure(
        "cache",
        "page further back p99",
        ms(&back, 99.0),
        "ms",
        None,
    );

    let mut search = hist();
    // One histogram per kind of query, in the order below.
    let mut kinds = [hist(), hist(), hist(), hist()];
    let mut hits = 0usize;
    let mut prefix_hits = 0usize;
    for i in 0..opts.queries {
        // In turn: one common word, one rare word, two whole words, and two words as they
        // are being typed ("hel wor": prefixes of 2 or 3 letters, the hardest case for the
        // index since each prefix stands for many words).
        let word = |rng: &mut rand::rngs::StdRng| WORDS[rng.random_range(0..WORDS.len())];
        let q = match i % 4 {
            0 => WORDS[rng.random_range(0..10)].to_owned(),
            1 => WORDS[rng.random_range(WORDS.len() - 10..WORDS.len())].to_owned(),
            2 => format!("{} {}", word(&mut rng), word(&mut rng)),
            _ => {
                let mut cut = |w: &str| w[..w.len().min(rng.random_range(2..=3))].to_owned();
                let (a, b) = (
                    WORDS[i / 4 % WORDS.len()],
                    WORDS[(i / 4 * 7 + 3) % WORDS.len()],
                );
                format!("{} {}", cut(a), cut(b))
            }
        };
        let t = Instant::now();
        let found = cache.search(&q, 50)?;
        let took = t.elapsed().as_micros() as u64;
        search.saturating_record(took);
        hits += found.len();
        kinds[i % 4].saturating_record(took);
        if i % 4 == 3 {
            prefix_hits += found.len();
        }
    }
    anyhow::ensure!(hits > 0, "no search found anything");
    anyhow::ensure!(prefix_hits > 0, "no two-word prefix search found anything");
    report.figure(
        "cache",
        &format!("search (50 best) p50, {label}"),
        ms(&search, 50.0),
        "ms",
        None,
    );
    report.figure(
        "cache",
        &format!("search (50 best) p99, {label}"),
        ms(&search, 99.0),
        "ms",
        Goal::at_most(30.0),
    );
    for (kind, h) in KINDS.iter().zip(&kinds) {
        report.figure(
            "cache",
            &format!("search {kind} p99, {label}"),
            ms(h, 99.0),
            "ms",
            Goal::at_most(30.0),
        );
    }
    // The cache and its search index (`<name>.search.db`) once closed: SQLite folds each
    // write-ahead log into its file then (before, the figure counted the logs as they
    // happened to be).
    drop(cache);
    let index = path.with_extension("search.db");
    let size: u64 = [&path, &index]
        .iter()
        .flat_map(|p| ["", "-wal"].map(|e| format!("{}{e}", p.display())))
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    report.figure(
        "cache",
        &format!("size on disk, {label} messages"),
        size as f64 / 1048576.0,
        "MB",
        None,
    );
    report.figure(
        "cache",
        "size on disk per message",
        size as f64 / total as f64,
        "bytes",
        None,
    );
    for (name, h) in [
        ("first page", &first),
        ("page back", &back),
        ("search", &search),
        ("search, two-word prefixes", &kinds[3]),
    ] {
        report.series(Series {
            chart: "cache-latency".into(),
            title: format!("Desktop cache, {label} messages: query latency"),
            x_label: "percentile".into(),
            y_label: "ms".into(),
            name: name.into(),
            points: crate::report::percentile_points(h),
        });
    }
    report.condition("cache_messages", total);
    report.condition("cache_conversations", convs);
    Ok(())
}

/// The kinds of query the search measures, in turn.
const KINDS: [&str; 4] = [
    "a common word",
    "a rare word",
    "two whole words",
    "two-word prefixes (\"hel wor\")",
];

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}
