//! `kill -9` during an upload, on the real binary: after the restart on the same data
//! directory the upload resumes from the last offset it recorded, the retried upload (same
//! `clientId`) completes once, and every blob in the store is whole (its bytes hash to its
//! name); nothing is left in the uploads directory.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use sha2::{Digest, Sha256};
use tidings_testkit::*;

const MIB: usize = 1024 * 1024;

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7) % 253) as u8).collect()
}

#[tokio::test]
async fn an_upload_killed_mid_body_resumes_after_restart_and_completes_once() {
    let dir = TempDir::new("att-crash");
    let server = BinServer::start(dir.path(), None);
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.direct(&alice, "bob").await;
    let data = pattern(3 * MIB);
    let meta = Meta {
        filename: Some("video.bin"),
        conversation: Some(&cid),
        client_id: Some("crash-1"),
        ..Default::default()
    };
    let created = api.tus_create(&alice, data.len() as u64, &meta).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let first = api.tus_patch(&alice, &id, 0, data[..MIB].to_vec()).await;
    assert_eq!(first.offset, Some(MIB as u64));
    // A PATCH for the rest is under way (half a MiB sent) when the server is killed.
    let in_flight = open_patch(
        server.addr,
        &alice,
        &id,
        MIB as u64,
        2 * MIB as u64,
        &data[MIB..MIB + MIB / 2],
    )
    .await;
    // The server has read some of it once the upload's file grew past the first MiB.
    let partial = dir.path().join("uploads").join(&id);
    let deadline = std::time::Instant::now() + WAIT;
    while std::fs::metadata(&partial).unwrap().len() <= MIB as u64 {
        assert!(
            std::time::Instant::now() < deadline,
            "the PATCH body never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    server.kill();
    drop(in_flight);

    let server = BinServer::start(dir.path(), None);
    let api = server.api();
    // The retry: the same clientId finds the same upload at the offset last recorded.
    let again = api.tus_create(&alice, data.len() as u64, &meta).await;
    assert_eq!(again.status, 201, "{again:?}");
    assert_eq!(again.body["id"], json!(id));
    let offset = again.offset.unwrap();
    assert_eq!(offset, MIB as u64, "only fsynced and recorded bytes count");
    let rest = api
        .tus_patch(&alice, &id, offset, data[offset as usize..].to_vec())
        .await;
    assert_eq!((rest.status, rest.offset), (204, Some(data.len() as u64)));
    let body = json!({"clientId": "crash-msg", "content": "the video", "attachments": [id]});
    let path = format!("/api/conversations/{cid}/messages");
    assert_eq!(api.post(&path, &alice.token, body.clone()).await.0, 201);
    assert_eq!(api.post(&path, &alice.token, body).await.0, 200);
    assert_eq!(api.download(&bob, &id).await.bytes, data);
    // Every blob is whole, and there is one.
    let mut blobs = Vec::new();
    for d in std::fs::read_dir(dir.path().join("blobs"))
        .unwrap()
        .flatten()
    {
        for f in std::fs::read_dir(d.path()).unwrap().flatten() {
            blobs.push(f.path());
        }
    }
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    for b in &blobs {
        let bytes = std::fs::read(b).unwrap();
        let name = b.file_name().unwrap().to_str().unwrap();
        assert_eq!(format!("{:x}", Sha256::digest(&bytes)), name);
    }
    let left = std::fs::read_dir(dir.path().join("uploads"))
        .unwrap()
        .count();
    assert_eq!(left, 0);
    server.kill();
}
