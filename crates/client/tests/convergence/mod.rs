//! Convergence under chaos, shared by the runs against one server (chaos.rs) and against a
//! cluster behind HAProxy (chaos_cluster.rs): two clients and the servers, `total` messages
//! from both sides (many written while offline, some replies, some mentioning), random
//! edits, deletions and reactions by both users, one member removed from the group and added
//! back, sockets cut at random moments (a proxy in front of the deployment), the network
//! gone for a stretch, the deployment failed once and recovered (what fails is the
//! [`Deployment`]'s: the server killed with `kill -9`, a cluster node killed, Redis
//! restarted), one client restarted once. At the end both caches hold exactly the server's
//! messages per conversation, every field compared (content, type, edits, tombstones,
//! replies, mentions, reactions, system entries, revisions), the same membership and left
//! state, read markers and unread counts equal the server's, and nothing is doubled.
//! Seeded: `TIDINGS_CHAOS_SEED=n` replays a run; the seed is printed.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

mod views;

use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tidings_client::engine::{EngineState, MemoryRefreshStore, RefreshStore};
use tidings_proto::{ContentType, Message};
use tidings_testkit::*;
use views::{cache_view, random_action, server_view, wait_outbox_below, Client};

/// What the run talks to, and the one failure it causes mid-run.
pub trait Deployment {
    /// Where clients connect (the run puts its socket-cutting proxy in front).
    fn addr(&self) -> SocketAddr;
    /// Whether clients can store messages now (the run paces itself by their outboxes only
    /// then).
    fn serving(&self) -> bool;
    /// The failure; returns what happened, for the printed list of events.
    async fn fail(&mut self) -> String;
    /// Back to normal after [`Deployment::fail`].
    async fn recover(&mut self) -> String;
}

/// `n` of a 5,000-message run, scaled to `total` (so a 5,000-message run keeps its
/// schedule, and a seed replays as before).
fn scale(total: usize, n: usize) -> usize {
    (n * total / 5_000).max(1)
}

/// The run: `total` messages through `d`, failing it once mid-run (see the module's doc).
pub async fn run(d: &mut impl Deployment, total: usize) {
    let seed: u64 = std::env::var("TIDINGS_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("chaos seed: {seed} (TIDINGS_CHAOS_SEED={seed} replays this run)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let addr = d.addr();
    let api = Api::new(&format!("http://{addr}"));
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let group = api.group(&alice, &[&bob]).await;
    let (status, direct) = api
        .call(
            "POST",
            "/api/conversations",
            Some(&alice.token),
            Some(serde_json::json!({"kind": "direct", "participants": ["bob"]})),
        )
        .await;
    assert_eq!(status, 201);
    let cids = vec![group.clone(), direct["id"].as_str().unwrap().to_owned()];
    let proxy = Proxy::start(addr).await;
    let caches = TempDir::new("chaos-caches");
    let mut clients: Vec<Client> = [alice.clone(), bob.clone()]
        .into_iter()
        .map(|who| Client {
            cache_path: caches.0.join(format!("{}.db", who.name)),
            refresh: Arc::new(MemoryRefreshStore::new(&who.refresh)),
            who,
            engine: None,
        })
        .collect();
    for c in &mut clients {
        c.start(&proxy.http());
    }

    let server_restart_at = total * 2 / 5 + rng.random_range(0..scale(total, 200));
    let client_restart_at = total * 7 / 10 + rng.random_range(0..scale(total, 200));
    // Bob leaves the group (removed by alice) and comes back, while the server is up.
    let remove_at = total * 3 / 5 + rng.random_range(0..scale(total, 100));
    let readd_at = remove_at + rng.random_range(scale(total, 300)..scale(total, 600));
    let mut bob_out = false;
    let mut next_cut = rng.random_range(scale(total, 200)..scale(total, 700));
    let mut blocked_until = 0usize;
    let mut events = Vec::new();
    for i in 0..total {
        let who = rng.random_range(0..2);
        // Removed from the group, bob writes in the direct conversation only.
        let cid = if who == 1 && bob_out {
            &cids[1]
        } else {
            &cids[rng.random_range(0..cids.len())]
        };
        // Now and then a reply to a recent message; in the direct conversation, sometimes
        // mentioning the other (always a participant there).
        let reply_to = if rng.random_range(0..10) == 0 {
            let recent = clients[who]
                .engine()
                .cache()
                .history(cid, None, 20)
                .unwrap();
            recent
                .get(rng.random_range(0..recent.len().max(1)))
                .map(|m| m.id.clone())
        } else {
            None
        };
        let mentions = if *cid == cids[1] && rng.random_range(0..8) == 0 {
            vec![clients[1 - who].who.name.clone()]
        } else {
            Vec::new()
        };
        clients[who]
            .engine()
            .send(
                cid,
                &format!("{} #{i}", clients[who].who.name),
                ContentType::Text,
                reply_to,
                mentions,
            )
            .unwrap();
        if rng.random_range(0..8) == 0 {
            let actor = rng.random_range(0..2);
            let on = if actor == 1 && bob_out { &cids[1] } else { cid };
            random_action(&mut rng, &clients[actor], on).await;
        }
        if i == remove_at {
            // Everything bob wrote to the group is stored first (else the server refuses
            // it, rightly, and the count below would be off).
            wait_outbox_below(clients[1].engine(), 1).await;
            bob_out = true;
            let (status, body) = api
                .call(
                    "DELETE",
                    &format!("/api/conversations/{group}/participants/bob"),
                    Some(&alice.token),
                    None,
                )
                .await;
            assert_eq!(status, 204, "{body}");
            events.push(format!("{i}: bob removed from the group"));
        }
        if i == readd_at {
            let (status, body) = api
                .post(
                    &format!("/api/conversations/{group}/participants"),
                    &alice.token,
                    serde_json::json!({"users": ["bob"]}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            events.push(format!("{i}: bob added back"));
        }
        if bob_out && i > readd_at {
            // Bob writes to the group again once his engine knows he is back.
            let cache = clients[1].engine().cache();
            if cache.conversation(&group).unwrap().is_some_and(|c| !c.left) {
                bob_out = false;
                events.push(format!("{i}: bob knows he is back"));
            }
        }
        if rng.random_range(0..50) == 0 {
            let reader = rng.random_range(0..2);
            let e = clients[reader].engine();
            let last = e
                .cache()
                .conversation(cid)
                .unwrap()
                .map_or(0, |c| c.last_seq);
            let _ = e.mark_read(cid, last);
        }
        if i == next_cut {
            proxy.cut();
            events.push(format!("{i}: sockets cut"));
            next_cut = i + rng.random_range(scale(total, 200)..scale(total, 700));
        }
        if i == blocked_until && blocked_until > 0 {
            proxy.block(false);
            for c in &clients {
                c.engine().nudge();
            }
            events.push(format!("{i}: network back"));
        }
        if i == total / 5 {
            // A stretch where the network is gone: everything written is queued.
            proxy.block(true);
            blocked_until = i + rng.random_range(scale(total, 300)..scale(total, 800));
            events.push(format!("{i}: network gone until {blocked_until}"));
        }
        if i == server_restart_at {
            events.push(format!("{i}: {}", d.fail().await));
        }
        if i == server_restart_at + scale(total, 150) {
            events.push(format!("{i}: {}", d.recover().await));
        }
        if i == client_restart_at {
            let c = &mut clients[0];
            c.engine.take().unwrap().shutdown().await;
            c.start(&proxy.http());
            events.push(format!("{i}: {} restarted", c.who.name));
        }
        let reachable = d.serving() && !(i >= total / 5 && i < blocked_until);
        assert!(
            d.serving() || (i < remove_at || i > readd_at),
            "the membership changes need the server up (seed {seed})"
        );
        if i % 50 == 49 && reachable {
            // Pace the writing by the engines' progress, so that cuts and crashes land while
            // messages are in flight (a condition with a deadline, not a timed pause).
            for c in &clients {
                wait_outbox_below(c.engine(), 25).await;
            }
        }
    }
    proxy.block(false);
    if !d.serving() {
        events.push(format!("end: {}", d.recover().await));
    }
    println!("chaos events: {events:?}");
    for c in &clients {
        c.engine().nudge();
        let s = c.engine().settle(Duration::from_secs(120)).await;
        assert_eq!(s, EngineState::Live, "{} settled in {s:?}", c.who.name);
    }
    // Everything is stored: the server's view is final.
    let fresh = |c: &Client| {
        let token = c.refresh.load().unwrap();
        (c.who.clone(), token)
    };
    let mut sessions = Vec::new();
    for c in &clients {
        let (who, refresh) = fresh(c);
        let (status, t) = api
            .call(
                "POST",
                "/api/auth/refresh",
                None,
                Some(serde_json::json!({"refreshToken": refresh})),
            )
            .await;
        assert_eq!(status, 200, "{t}");
        c.refresh.save(t["refreshToken"].as_str().unwrap()).unwrap();
        sessions.push(TestUser {
            token: t["accessToken"].as_str().unwrap().to_owned(),
            ..who
        });
    }
    let (server_msgs, _) = server_view(&api, &sessions[0], &cids).await;
    let stored: usize = server_msgs
        .values()
        .map(|l| l.iter().filter(|m| m.system.is_none()).count())
        .sum();
    assert_eq!(stored, total, "every message stored, none twice");
    let system: usize = server_msgs.values().map(|l| l.len()).sum::<usize>() - stored;
    assert_eq!(
        system, 2,
        "the removal and the addition are in the timeline"
    );
    for (cid, list) in &server_msgs {
        let seqs: Vec<i64> = list.iter().map(|m| m.seq).collect();
        assert_eq!(
            seqs,
            (1..=list.len() as i64).collect::<Vec<_>>(),
            "{cid}: contiguous"
        );
        let keys: BTreeSet<&String> = list.iter().map(|m| &m.client_id).collect();
        assert_eq!(keys.len(), list.len(), "{cid}: no clientId twice");
    }
    let changed = |f: fn(&Message) -> bool| -> usize {
        server_msgs.values().flatten().filter(|m| f(m)).count()
    };
    println!(
        "chaos: {} edited, {} deleted, {} with reactions, {} replies, {} with mentions",
        changed(|m| m.edited_at.is_some()),
        changed(|m| m.deleted),
        changed(|m| !m.reactions.is_empty()),
        changed(|m| m.reply_to.is_some()),
        changed(|m| !m.mentions.is_empty()),
    );
    assert!(
        changed(|m| m.edited_at.is_some()) > 0
            && changed(|m| m.deleted) > 0
            && changed(|m| !m.reactions.is_empty()) > 0,
        "the run edited, deleted and reacted"
    );
    // Each cache converges to it: every field of every message, membership, read markers,
    // unread counts; and each holds the server's revision.
    for (c, s) in clients.iter().zip(&sessions) {
        let engine = c.engine();
        let mut changed = engine.changed();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (_, server_reads) = server_view(&api, s, &[]).await;
            let (cached, cached_reads) = cache_view(engine.cache(), &cids);
            if cached == server_msgs && cached_reads == server_reads {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                for cid in &cids {
                    let (a, b) = (&cached[cid], &server_msgs[cid]);
                    println!("{} {cid}: cache {} server {}", c.who.name, a.len(), b.len());
                    if let Some((x, y)) = a.iter().zip(b).find(|(x, y)| x != y) {
                        println!("first difference: cache {x:?}\nserver {y:?}");
                    }
                }
                panic!(
                    "{} did not converge: reads cache {cached_reads:?} server {server_reads:?}",
                    c.who.name
                );
            }
            let _ = tokio::time::timeout_at(deadline, changed.changed()).await;
        }
        for cid in &cids {
            let rev = engine.cache().conversation(cid).unwrap().unwrap().rev;
            let last = server_msgs[cid].iter().map(|m| m.rev).max().unwrap_or(0);
            assert!(
                rev >= last,
                "{} holds rev {rev} of {cid}, below {last}",
                c.who.name
            );
        }
        println!("{}: converged ({stored} messages)", c.who.name);
    }
    for c in clients {
        c.engine.unwrap().shutdown().await;
    }
}
