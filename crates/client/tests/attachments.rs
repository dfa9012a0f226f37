//! Attachments through the engine against the real server: a file sent while the server is
//! stopped waits in the outbox and goes out once; the same across an engine restart and a
//! server restart in the middle of the upload (resumed from the server's offset, seen
//! through the engine's upload gate); cancel; bad files refused before anything is queued;
//! downloads cached, served offline, evicted least recently used. Real sockets on
//! 127.0.0.1, real cache files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tidings_client::cache::{Cache, OutboxState, Variant};
use tidings_client::engine::{Engine, EngineState, UploadStep};
use tidings_client::ClientError;
use tidings_testkit::*;
use tokio::sync::mpsc;

mod common;
use common::{start_engine, start_engine_with, until, until_state};

fn open_cache(dir: &TempDir) -> Arc<Cache> {
    Arc::new(Cache::open(&dir.0.join("c.db")).unwrap())
}

async fn next_step(gate: &mut mpsc::Receiver<UploadStep>) -> UploadStep {
    tokio::time::timeout(Duration::from_secs(20), gate.recv())
        .await
        .expect("timed out waiting for the next upload PATCH")
        .expect("the engine dropped its upload gate")
}

/// Waits (bounded) until an outbox entry is in `state`.
async fn until_entry(engine: &Engine, id: &str, state: OutboxState) {
    until(engine, &format!("outbox entry {state:?}"), |c| {
        c.outbox_entry(id)
            .unwrap()
            .is_some_and(|e| e.state == state)
    })
    .await;
}

/// The server's messages of a conversation that carry attachments.
async fn with_attachments(api: &Api, who: &TestUser, cid: &str) -> Vec<serde_json::Value> {
    api.all_messages(who, cid)
        .await
        .into_iter()
        .filter(|m| m["attachments"].as_array().is_some_and(|a| !a.is_empty()))
        .collect()
}

/// `HEAD /api/uploads/{id}` as `who`: the status.
async fn head_upload(api: &Api, who: &TestUser, id: &str) -> u16 {
    api.http
        .head(format!("{}/api/uploads/{id}", api.base))
        .bearer_auth(&who.token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_file_sent_while_the_server_is_stopped_goes_out_once_and_bob_downloads_it_byte_equal() {
    let dir = TempDir::new("att-offline");
    let server = Server::start(dir.path(), None, |_| {}).await;
    let addr = server.addr;
    let api = server.api();
    let (alice, bob, cid) = api.alice_and_bob().await;
    let cache_dir = TempDir::new("att-offline-alice");
    let engine = start_engine(&server.http(), &alice, open_cache(&cache_dir));
    until_state(&engine, "live", |s| *s == EngineState::Live).await;
    server.stop().await;
    until_state(&engine, "reconnecting", |s| {
        matches!(s, EngineState::Reconnecting { .. })
    })
    .await;

    let files = TempDir::new("att-offline-files");
    // Over two chunks of the default size (4 MiB): three PATCHes.
    const SIZE: usize = 9 * 1024 * 1024 + 17;
    let bytes = noise(SIZE, 1);
    let original = write_file(files.path(), "report.bin", &bytes);
    let id = engine
        .send_files(
            &cid,
            "the report",
            std::slice::from_ref(&original),
            None,
            vec![],
        )
        .await
        .unwrap();
    // The engine kept its own copy: the original can go.
    std::fs::remove_file(&original).unwrap();
    let entry = engine.cache().outbox_entry(&id).unwrap().unwrap();
    assert_eq!(entry.state, OutboxState::Pending);
    assert_eq!(
        (entry.attachments[0].name.as_str(), entry.total_bytes()),
        ("report.bin", SIZE as i64)
    );
    assert_eq!(
        engine.cache().unconfirmed(&cid).unwrap().len(),
        1,
        "shown pending"
    );

    let server = Server::start(dir.path(), Some(addr), |_| {}).await;
    until_entry(&engine, &id, OutboxState::Sent).await;
    let sent = with_attachments(&api, &alice, &cid).await;
    assert_eq!(sent.len(), 1, "stored once: {sent:?}");
    assert_eq!(sent[0]["clientId"], id.as_str());
    assert_eq!(sent[0]["content"], "the report");
    let att = &sent[0]["attachments"][0];
    assert_eq!(
        (att["name"].as_str(), att["size"].as_u64()),
        (Some("report.bin"), Some(SIZE as u64))
    );
    let att_id = att["id"].as_str().unwrap().to_owned();
    until(&engine, "the copy removed once sent", |c| {
        !c.files_dir().join("outbox").join(&id).exists()
    })
    .await;

    // Bob: the message with its attachment in his cache, the file byte-equal.
    let bob_dir = TempDir::new("att-offline-bob");
    let bobs = start_engine(&server.http(), &bob, open_cache(&bob_dir));
    until(&bobs, "bob has the message with its attachment", |c| {
        c.messages_after(&cid, 0)
            .unwrap()
            .iter()
            .any(|m| m.attachments.iter().any(|a| a.id == att_id))
    })
    .await;
    let cached = bobs.cache().attachment(&att_id).unwrap().unwrap();
    assert_eq!(
        (cached.name.as_str(), cached.size),
        ("report.bin", SIZE as u64)
    );
    let d = bobs.download(&att_id, Variant::File).await.unwrap();
    assert_eq!(std::fs::read(&d.path).unwrap(), bytes);
    assert_eq!(d.size, SIZE as u64);

    // With the server gone, the download is served from the cache.
    server.stop().await;
    until_state(&bobs, "bob reconnecting", |s| {
        matches!(s, EngineState::Reconnecting { .. })
    })
    .await;
    let again = bobs.download(&att_id, Variant::File).await.unwrap();
    assert_eq!(std::fs::read(&again.path).unwrap(), bytes);
    // One that was never downloaded says why it cannot be had.
    match bobs
        .download("a_00000000000000000000000000000000", Variant::File)
        .await
    {
        Err(ClientError::Unreachable(..)) => {}
        other => panic!("expected unreachable, got {other:?}"),
    }
    bobs.shutdown().await;
    engine.shutdown().await;
}

#[tokio::test]
async fn an_upload_cut_by_an_engine_restart_resumes_from_the_servers_offset_and_sends_once() {
    let dir = TempDir::new("att-restart");
    let server = Server::start(dir.path(), None, |_| {}).await;
    let api = server.api();
    let (alice, _bob, cid) = api.alice_and_bob().await;
    let cache_dir = TempDir::new("att-restart-alice");
    const CHUNK: usize = 64 * 1024;
    let (gate_tx, mut gate) = mpsc::channel(4);
    let engine = start_engine_with(&server.http(), &alice, open_cache(&cache_dir), |c| {
        c.upload_chunk = CHUNK;
        c.upload_gate = Some(gate_tx);
    });
    until_state(&engine, "live", |s| *s == EngineState::Live).await;
    let files = TempDir::new("att-restart-files");
    let bytes = noise(4 * CHUNK + 1000, 2);
    let path = write_file(files.path(), "big.bin", &bytes);
    let id = engine
        .send_files(&cid, "", &[path], None, vec![])
        .await
        .unwrap();
    let first = next_step(&mut gate).await;
    assert_eq!(first.offset, 0);
    first.go.send(()).unwrap();
    // The second PATCH is asked for only once the first was acknowledged and recorded.
    let second = next_step(&mut gate).await;
    assert_eq!(second.offset, CHUNK as u64);
    assert_eq!(second.upload_id, first.upload_id);
    let entry = engine.cache().outbox_entry(&id).unwrap().unwrap();
    assert_eq!(
        (entry.sent_bytes(), entry.total_bytes()),
        (CHUNK as i64, bytes.len() as i64)
    );
    let progress = engine.upload_progress().borrow().get(&id).copied().unwrap();
    assert_eq!(
        (progress.sent, progress.total),
        (CHUNK as u64, bytes.len() as u64)
    );
    // The app quits in the middle of the upload.
    drop(second);
    engine.shutdown().await;

    let (gate_tx, mut gate) = mpsc::channel(4);
    let engine = start_engine_with(&server.http(), &alice, open_cache(&cache_dir), |c| {
        c.upload_chunk = CHUNK;
        c.upload_gate = Some(gate_tx);
    });
    let resumed = next_step(&mut gate).await;
    assert_eq!(
        (resumed.upload_id.as_str(), resumed.offset),
        (first.upload_id.as_str(), CHUNK as u64),
        "the same upload, resumed where the server is"
    );
    resumed.go.send(()).unwrap();
    let mut offsets = vec![CHUNK as u64];
    while offsets.len() < 4 {
        let s = next_step(&mut gate).await;
        offsets.push(s.offset);
        s.go.send(()).unwrap();
    }
    assert_eq!(offsets, vec![65536, 131072, 196608, 262144]);
    until_entry(&engine, &id, OutboxState::Sent).await;
    let sent = with_attachments(&api, &alice, &cid).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["attachments"][0]["id"], first.upload_id.as_str());
    let d = engine
        .download(&first.upload_id, Variant::File)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&d.path).unwrap(), bytes);
    engine.shutdown().await;
    server.stop().await;
}

#[tokio::test]
async fn a_server_restart_in_the_middle_of_an_upload_resumes_from_its_offset() {
    let dir = TempDir::new("att-srv");
    let server = Server::start(dir.path(), None, |_| {}).await;
    let addr = server.addr;
    let api = server.api();
    let (alice, _bob, cid) = api.alice_and_bob().await;
    let cache_dir = TempDir::new("att-srv-alice");
    const CHUNK: usize = 32 * 1024;
    let (gate_tx, mut gate) = mpsc::channel(4);
    let engine = start_engine_with(&server.http(), &alice, open_cache(&cache_dir), |c| {
        c.upload_chunk = CHUNK;
        c.upload_gate = Some(gate_tx);
    });
    until_state(&engine, "live", |s| *s == EngineState::Live).await;
    let files = TempDir::new("att-srv-files");
    let bytes = noise(3 * CHUNK, 3);
    let path = write_file(files.path(), "three.bin", &bytes);
    let id = engine
        .send_files(&cid, "three chunks", &[path], None, vec![])
        .await
        .unwrap();
    let first = next_step(&mut gate).await;
    first.go.send(()).unwrap();
    let second = next_step(&mut gate).await;
    assert_eq!(second.offset, CHUNK as u64);
    // The server goes away between two chunks; the PATCH it was about to get fails.
    server.stop().await;
    second.go.send(()).unwrap();
    until(&engine, "the upload waits to be tried again", |c| {
        c.outbox_entry(&id)
            .unwrap()
            .is_some_and(|e| e.error.is_some() && e.state == OutboxState::Pending)
    })
    .await;
    let server = Server::start(dir.path(), Some(addr), |_| {}).await;
    let resumed = next_step(&mut gate).await;
    assert_eq!(
        (resumed.upload_id.as_str(), resumed.offset),
        (first.upload_id.as_str(), CHUNK as u64)
    );
    resumed.go.send(()).unwrap();
    let last = next_step(&mut gate).await;
    assert_eq!(last.offset, 2 * CHUNK as u64);
    last.go.send(()).unwrap();
    until_entry(&engine, &id, OutboxState::Sent).await;
    let sent = with_attachments(&api, &alice, &cid).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let d = engine
        .download(&first.upload_id, Variant::File)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&d.path).unwrap(), bytes);
    engine.shutdown().await;
    server.stop().await;
}

#[tokio::test]
async fn cancel_removes_the_upload_on_the_server_the_entry_and_its_copy() {
    let server = Server::chat().await;
    let api = server.api();
    let (alice, _bob, cid) = api.alice_and_bob().await;
    let cache_dir = TempDir::new("att-cancel");
    let (gate_tx, mut gate) = mpsc::channel(4);
    let engine = start_engine_with(&server.http(), &alice, open_cache(&cache_dir), |c| {
        c.upload_chunk = 16 * 1024;
        c.upload_gate = Some(gate_tx);
    });
    until_state(&engine, "live", |s| *s == EngineState::Live).await;
    let files = TempDir::new("att-cancel-files");
    let path = write_file(files.path(), "long.bin", &noise(100_000, 4));
    let id = engine
        .send_files(&cid, "", &[path], None, vec![])
        .await
        .unwrap();
    let first = next_step(&mut gate).await;
    first.go.send(()).unwrap();
    let second = next_step(&mut gate).await;
    assert_eq!(head_upload(&api, &alice, &second.upload_id).await, 200);
    assert!(engine.cancel(&id).await.unwrap());
    assert_eq!(
        head_upload(&api, &alice, &second.upload_id).await,
        404,
        "gone on the server"
    );
    assert!(engine.cache().outbox_entry(&id).unwrap().is_none());
    assert!(!engine.cache().files_dir().join("outbox").join(&id).exists());
    assert!(!engine.upload_progress().borrow().contains_key(&id));
    assert!(!engine.cancel(&id).await.unwrap(), "nothing left to cancel");
    drop(second);
    // The engine goes on: a text message after it is sent, and nothing else is stored.
    let text = engine
        .send(
            &cid,
            "after the cancel",
            tidings_proto::ContentType::Text,
            None,
            vec![],
        )
        .unwrap();
    until_entry(&engine, &text, OutboxState::Sent).await;
    let all = api.all_messages(&alice, &cid).await;
    assert!(
        with_attachments(&api, &alice, &cid).await.is_empty(),
        "{all:?}"
    );
    engine.shutdown().await;
    server.stop().await;
}

#[tokio::test]
async fn bad_files_are_refused_before_anything_is_queued() {
    let dir = TempDir::new("att-bad");
    let server = Server::start(dir.path(), None, |c| {
        c.limits.max_attachment_bytes = 1000;
    })
    .await;
    let addr = server.addr;
    let api = server.api();
    let (alice, _bob, cid) = api.alice_and_bob().await;
    let files = TempDir::new("att-bad-files");
    let empty = write_file(files.path(), "empty.txt", b"");
    let big = write_file(files.path(), "big.bin", &noise(1001, 5));
    let cache_dir = TempDir::new("att-bad-alice");
    let engine = start_engine(&server.http(), &alice, open_cache(&cache_dir));
    until_state(&engine, "live", |s| *s == EngineState::Live).await;
    let refused = |r: Result<String, ClientError>| match r {
        Err(ClientError::Refused {
            status, message, ..
        }) => (status, message),
        other => panic!("expected a refusal, got {other:?}"),
    };
    let (status, message) = refused(
        engine
            .send_files(&cid, "", &[files.path().join("missing.pdf")], None, vec![])
            .await,
    );
    assert_eq!(status, 400);
    assert!(message.starts_with("no file at "), "{message}");
    let (_, message) = refused(engine.send_files(&cid, "", &[empty], None, vec![]).await);
    assert!(message.contains("empty.txt is empty"), "{message}");
    let (_, message) = refused(
        engine
            .send_files(&cid, "", &[files.path().to_owned()], None, vec![])
            .await,
    );
    assert!(message.ends_with("is a folder, not a file"), "{message}");
    let (status, message) = refused(
        engine
            .send_files(&cid, "", std::slice::from_ref(&big), None, vec![])
            .await,
    );
    assert_eq!(status, 413);
    assert_eq!(
        message,
        "big.bin is 1001 bytes; the largest file this server takes is 1000 bytes"
    );
    assert!(
        engine.cache().unconfirmed(&cid).unwrap().is_empty(),
        "nothing queued"
    );
    assert!(std::fs::read_dir(engine.cache().files_dir().join("outbox"))
        .map(|d| d.count() == 0)
        .unwrap_or(true));
    engine.shutdown().await;

    // Offline with a cache that never learnt the limit: queued, then failed with the
    // server's sentence.
    server.stop().await;
    let fresh_dir = TempDir::new("att-bad-fresh");
    let engine = start_engine(&format!("http://{addr}"), &alice, open_cache(&fresh_dir));
    let id = engine
        .send_files(&cid, "", &[big], None, vec![])
        .await
        .unwrap();
    let server = Server::start(dir.path(), Some(addr), |c| {
        c.limits.max_attachment_bytes = 1000;
    })
    .await;
    until_entry(&engine, &id, OutboxState::Failed).await;
    let e = engine.cache().outbox_entry(&id).unwrap().unwrap();
    let error = e.error.unwrap_or_default();
    assert!(
        error.starts_with("the file is 1001 bytes; the largest attachment is 1000 bytes"),
        "the server's sentence: {error}"
    );
    assert!(with_attachments(&api, &alice, &cid).await.is_empty());
    // A failed entry can be cancelled: it goes with its copy.
    assert!(engine.cancel(&id).await.unwrap());
    assert!(engine.cache().outbox_entry(&id).unwrap().is_none());
    engine.shutdown().await;
    server.stop().await;
}

#[tokio::test]
async fn the_download_cache_evicts_the_least_recently_used_under_its_limit() {
    let server = Server::chat().await;
    let api = server.api();
    let (alice, bob, cid) = api.alice_and_bob().await;
    let alice_dir = TempDir::new("att-lru-alice");
    let engine = start_engine(&server.http(), &alice, open_cache(&alice_dir));
    until_state(&engine, "live", |s| *s == EngineState::Live).await;
    let files = TempDir::new("att-lru-files");
    let paths: Vec<PathBuf> = (0..3)
        .map(|i| write_file(files.path(), &format!("f{i}.bin"), &noise(100_000, 10 + i)))
        .collect();
    let id = engine
        .send_files(&cid, "three files", &paths, None, vec![])
        .await
        .unwrap();
    until_entry(&engine, &id, OutboxState::Sent).await;
    let sent = with_attachments(&api, &alice, &cid).await;
    let ids: Vec<String> = sent[0]["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3);
    engine.shutdown().await;

    let bob_dir = TempDir::new("att-lru-bob");
    let bobs = start_engine(&server.http(), &bob, open_cache(&bob_dir));
    until_state(&bobs, "bob live", |s| *s == EngineState::Live).await;
    bobs.set_download_limit(250_000).unwrap();
    let a = bobs.download(&ids[0], Variant::File).await.unwrap();
    let b = bobs.download(&ids[1], Variant::File).await.unwrap();
    // Using the first again makes the second the least recently used.
    bobs.download(&ids[0], Variant::File).await.unwrap();
    let c = bobs.download(&ids[2], Variant::File).await.unwrap();
    assert!(a.path.exists() && c.path.exists());
    assert!(!b.path.exists(), "the least recently used went");
    assert_eq!(bobs.cache().downloads_size().unwrap(), 200_000);
    // Downloaded again on demand, byte-equal.
    let b = bobs.download(&ids[1], Variant::File).await.unwrap();
    assert_eq!(std::fs::read(&b.path).unwrap(), noise(100_000, 11));
    // Lowering the limit evicts at once, keeping none over it.
    bobs.set_download_limit(100_000).unwrap();
    assert_eq!(bobs.cache().downloads_size().unwrap(), 100_000);
    // Not a participant: the server's 404 sentence, nothing cached.
    let carol = api.register("carol").await;
    let carol_dir = TempDir::new("att-lru-carol");
    let carols = start_engine(&server.http(), &carol, open_cache(&carol_dir));
    until_state(&carols, "carol live", |s| *s == EngineState::Live).await;
    match carols.download(&ids[0], Variant::File).await {
        Err(ClientError::Refused { status: 404, .. }) => {}
        other => panic!("expected 404, got {other:?}"),
    }
    assert_eq!(carols.cache().downloads_size().unwrap(), 0);
    carols.shutdown().await;
    bobs.shutdown().await;
    server.stop().await;
}

#[tokio::test]
async fn many_messages_with_files_upload_a_few_at_a_time_and_all_go_once() {
    let dir = TempDir::new("att-jobs");
    let server = Server::start(dir.path(), None, |_| {}).await;
    let api = server.api();
    let (alice, bob, cid) = api.alice_and_bob().await;
    let cache_dir = TempDir::new("att-jobs-alice");
    const CHUNK: usize = 16 * 1024;
    const JOBS: usize = 2;
    let (gate_tx, mut gate) = mpsc::channel(16);
    let engine = start_engine_with(&server.http(), &alice, open_cache(&cache_dir), |c| {
        c.upload_chunk = CHUNK;
        c.upload_jobs = JOBS;
        c.upload_gate = Some(gate_tx);
    });
    until_state(&engine, "live", |s| *s == EngineState::Live).await;
    let files = TempDir::new("att-jobs-files");
    let mut ids = Vec::new();
    for i in 0..5u64 {
        let path = write_file(
            files.path(),
            &format!("f{i}.bin"),
            &noise(2 * CHUNK, 10 + i),
        );
        ids.push(
            engine
                .send_files(&cid, &format!("file {i}"), &[path], None, vec![])
                .await
                .unwrap(),
        );
    }
    // Each file is two PATCHes. Every step waits for the go-ahead, so what has started and
    // not ended is known when a new upload asks for its first PATCH.
    let (mut started, mut ended) = (Vec::new(), 0);
    for _ in 0..10 {
        let step = next_step(&mut gate).await;
        if step.offset == 0 {
            assert!(
                started.len() - ended < JOBS,
                "upload {} started while {} others were running",
                step.upload_id,
                started.len() - ended
            );
            started.push(step.upload_id.clone());
        } else {
            ended += 1; // Its last PATCH: the job ends once it is answered.
        }
        step.go.send(()).unwrap();
    }
    assert_eq!(started.len(), 5, "{started:?}");
    for id in &ids {
        until_entry(&engine, id, OutboxState::Sent).await;
    }
    let history = expect_ok(
        api.get(
            &format!("/api/conversations/{cid}/messages?limit=50"),
            &bob.token,
        )
        .await,
    );
    let with_files = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["attachments"].as_array().is_some_and(|a| a.len() == 1))
        .count();
    assert_eq!(with_files, 5, "each message once, with its file");
    engine.shutdown().await;
}
