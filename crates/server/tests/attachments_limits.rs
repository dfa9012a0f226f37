//! Attachment limits and bad input, each with its answer, and nothing half-stored: size,
//! quota, open uploads, pixels, attachments per message, empty files, bad names, types
//! that lie, the tus version; and the sweep that removes what a crash left behind. The
//! upload metrics count it all.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use tidings_testkit::{Api, Meta, Server, TempDir, TestUser};

async fn pair(api: &Api) -> (TestUser, String) {
    let alice = api.register("alice").await;
    api.register("bob").await;
    let cid = api.direct(&alice, "bob").await;
    (alice, cid)
}

fn meta<'a>(name: &'a str, cid: &'a str) -> Meta<'a> {
    Meta {
        filename: Some(name),
        conversation: Some(cid),
        ..Default::default()
    }
}

/// A PNG whose header says `w` × `h` (CRCs right), with a few bytes of compressed data:
/// what a decompression bomb looks like until it is decoded.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&ihdr);
    out.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    let idat = b"IDAT\x78\x9c\x03\x00\x00\x00\x00\x01";
    out.extend_from_slice(&8u32.to_be_bytes());
    out.extend_from_slice(idat);
    out.extend_from_slice(&crc32(idat).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82]);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[tokio::test]
async fn size_quota_and_open_uploads_are_limited_with_a_sentence_and_freed_by_deleting() {
    let server = Server::chat_with(|c| {
        c.limits.max_attachment_bytes = 1000;
        c.limits.attachment_quota_bytes = 2500;
        c.limits.max_open_uploads = 2;
    })
    .await;
    let api = server.api();
    let (alice, cid) = pair(&api).await;
    let big = api.tus_create(&alice, 1001, &meta("big", &cid)).await;
    assert_eq!(big.status, 413, "{big:?}");
    assert_eq!(big.body["error"], "too_large");
    assert_eq!(
        big.body["message"],
        "the file is 1001 bytes; the largest attachment is 1000 bytes"
    );
    // Two open uploads at most.
    let a = api.tus_create(&alice, 1000, &meta("a", &cid)).await;
    let b = api.tus_create(&alice, 1000, &meta("b", &cid)).await;
    assert_eq!((a.status, b.status), (201, 201));
    let c = api.tus_create(&alice, 10, &meta("c", &cid)).await;
    assert_eq!(c.status, 429, "{c:?}");
    assert_eq!(c.body["error"], "too_many_uploads");
    // Cancelling one frees its place and its bytes.
    let b_id = b.body["id"].as_str().unwrap();
    assert_eq!(api.tus_delete(&alice, b_id).await.status, 204);
    assert_eq!(api.tus_head(&alice, b_id).await.status, 404);
    // 1000 (open) + 1000 fits the quota of 2500; then 1000 more does not.
    let a_id = a.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.tus_patch(&alice, &a_id, 0, vec![7u8; 1000])
            .await
            .status,
        204
    );
    let second = api
        .upload(&alice, &cid, "second", None, vec![8u8; 1000])
        .await;
    let over = api.tus_create(&alice, 1000, &meta("over", &cid)).await;
    assert_eq!(over.status, 413, "{over:?}");
    assert_eq!(over.body["error"], "quota_exceeded");
    assert!(
        over.body["message"]
            .as_str()
            .unwrap()
            .contains("2000 bytes are in use (500 left)"),
        "{}",
        over.body
    );
    // Deleting the message that carries one frees its bytes.
    let (_, m) = api
        .post(
            &format!("/api/conversations/{cid}/messages"),
            &alice.token,
            json!({"clientId": "m", "attachments": [a_id]}),
        )
        .await;
    api.delete_message(&alice, &cid, m["id"].as_str().unwrap())
        .await;
    assert_eq!(
        api.tus_create(&alice, 1000, &meta("now", &cid))
            .await
            .status,
        201
    );
    let _ = second;
    // /metrics counts what went up, what finished and each refusal by its code.
    let metrics = server.metrics().await;
    for (name, value) in [
        ("tidings_upload_bytes_total", 2000.0),
        ("tidings_uploads_finished_total", 2.0),
        ("tidings_uploads_refused_total{kind=\"too_large\"}", 1.0),
        (
            "tidings_uploads_refused_total{kind=\"too_many_uploads\"}",
            1.0,
        ),
        (
            "tidings_uploads_refused_total{kind=\"quota_exceeded\"}",
            1.0,
        ),
        ("tidings_uploads_refused_total{kind=\"not_found\"}", 1.0),
    ] {
        assert_eq!(metric(&metrics, name), Some(value), "{name} in\n{metrics}");
    }
    server.stop().await;
}

/// The value of one sample (`name{labels}`) in a Prometheus text exposition.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn bad_uploads_are_refused_and_leave_nothing() {
    let server = Server::chat().await;
    let api = server.api();
    let (alice, cid) = pair(&api).await;
    // 30 MB against the default limit of 25 MiB: refused before a byte is sent.
    let big = api
        .tus_create(&alice, 30_000_000, &meta("big.mov", &cid))
        .await;
    assert_eq!(big.status, 413);
    assert_eq!(
        big.body["message"],
        "the file is 30000000 bytes; the largest attachment is 26214400 bytes (25 MiB)"
    );
    // Empty files, bad names, no conversation, a bad declared type.
    let empty = api.tus_create(&alice, 0, &meta("e", &cid)).await;
    assert_eq!(
        (empty.status, empty.body["error"].as_str()),
        (400, Some("invalid"))
    );
    assert_eq!(
        empty.body["message"],
        "an attachment cannot be empty (Upload-Length: 0)"
    );
    for name in [
        "../etc/passwd",
        "a/b",
        "a\\b",
        "bell\u{7}.txt",
        "..",
        "  ",
        "x\u{202E}gpj.exe",
    ] {
        let r = api.tus_create(&alice, 5, &meta(name, &cid)).await;
        assert_eq!(r.status, 400, "{name:?}: {r:?}");
    }
    let no_conv = api
        .tus_create(
            &alice,
            5,
            &Meta {
                filename: Some("x"),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(no_conv.status, 400);
    let bad_type = api
        .tus_create(
            &alice,
            5,
            &Meta {
                filetype: Some("not a type"),
                ..meta("x", &cid)
            },
        )
        .await;
    assert_eq!(bad_type.status, 400);
    // Without the tus version: 412 with Tus-Version.
    let r = api
        .http
        .post(format!("{}/api/uploads", api.base))
        .bearer_auth(&alice.token)
        .header("upload-length", "5")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 412);
    assert_eq!(r.headers()["tus-version"], "1.0.0");
    // A wrong content type on PATCH: 415.
    let ok = api.tus_create(&alice, 5, &meta("x", &cid)).await;
    let id = ok.body["id"].as_str().unwrap();
    let r = api
        .http
        .patch(format!("{}/api/uploads/{id}", api.base))
        .bearer_auth(&alice.token)
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", "0")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    // A type that lies: declared PNG, content HTML. Refused at the end, the upload gone.
    let html = b"<html><script>alert(1)</script></html>".to_vec();
    let lie = api
        .tus_create(
            &alice,
            html.len() as u64,
            &Meta {
                filetype: Some("image/png"),
                ..meta("cat.png", &cid)
            },
        )
        .await;
    let lie_id = lie.body["id"].as_str().unwrap().to_owned();
    let r = api.tus_patch(&alice, &lie_id, 0, html).await;
    assert_eq!(r.status, 415, "{r:?}");
    assert_eq!(r.body["error"], "type_mismatch");
    assert_eq!(
        r.body["message"],
        "the file is declared image/png but its content is text/html"
    );
    assert_eq!(api.tus_head(&alice, &lie_id).await.status, 404);
    assert_eq!(api.download(&alice, &lie_id).await.status, 404);
    // An image that claims to be 100000 × 100000 pixels: refused from its header.
    let bomb = png_claiming(100_000, 100_000);
    let b = api
        .tus_create(
            &alice,
            bomb.len() as u64,
            &Meta {
                filetype: Some("image/png"),
                ..meta("bomb.png", &cid)
            },
        )
        .await;
    let bomb_id = b.body["id"].as_str().unwrap().to_owned();
    let r = api.tus_patch(&alice, &bomb_id, 0, bomb).await;
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(r.body["error"], "image_too_large", "{r:?}");
    assert_eq!(
        r.body["message"],
        "the image is 100000 × 100000 pixels (10000 megapixels); the largest this server takes is 50000000 pixels"
    );
    assert_eq!(api.tus_head(&alice, &bomb_id).await.status, 404);
    // Nothing of those is in the blob store or the uploads directory but the one open upload.
    let data = &server.state.config.data_dir;
    let blobs = std::fs::read_dir(data.join("blobs")).unwrap().count();
    assert_eq!(blobs, 0);
    let uploads: Vec<_> = std::fs::read_dir(data.join("uploads"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(uploads, vec![id.to_owned()]);
    server.stop().await;
}

#[tokio::test]
async fn a_message_carries_at_most_the_configured_attachments_and_text_is_needed_without() {
    let server = Server::chat_with(|c| c.limits.max_attachments_per_message = 2).await;
    let api = server.api();
    let (alice, cid) = pair(&api).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            api.upload(&alice, &cid, &format!("f{i}"), None, vec![i; 10])
                .await,
        );
    }
    let path = format!("/api/conversations/{cid}/messages");
    let (status, body) = api
        .post(
            &path,
            &alice.token,
            json!({"clientId": "three", "attachments": ids}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["message"],
        "attachments names 3 files; a message may carry at most 2"
    );
    let (status, _) = api
        .post(&path, &alice.token, json!({"clientId": "none"}))
        .await;
    assert_eq!(status, 400);
    let (status, body) = api
        .post(
            &path,
            &alice.token,
            json!({"clientId": "two", "attachments": ids[..2]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn messages_with_attachments_go_out_over_stomp_too() {
    let server = Server::chat().await;
    let api = server.api();
    let (alice, cid) = pair(&api).await;
    let id = api.upload(&alice, &cid, "s.bin", None, vec![1; 100]).await;
    let mut c = tidings_testkit::Client::signed_in(&server, &alice).await;
    c.subscribe("/user/queue/messages", "m", "auto").await;
    c.send_json(
        &format!("/app/conversations/{cid}/send"),
        json!({"clientId": "stomp-1", "attachments": [id]}),
    )
    .await;
    let f = c.next_message().await;
    let m: Value = serde_json::from_str(tidings_testkit::body(&f)).unwrap();
    assert_eq!(m["payload"]["attachments"][0]["id"], json!(id));
    server.stop().await;
}

#[tokio::test]
async fn the_start_up_sweep_removes_files_no_upload_owns_and_keeps_open_ones() {
    let dir = TempDir::new("att-sweep");
    let server = Server::start(dir.path(), None, |_| {}).await;
    let api = server.api();
    let (alice, cid) = pair(&api).await;
    let open = api.tus_create(&alice, 100, &meta("open", &cid)).await;
    let open_id = open.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.tus_patch(&alice, &open_id, 0, vec![1; 40]).await.status,
        204
    );
    server.stop().await;
    // What a crash leaves: a file of no upload, a half-written finishing file.
    let uploads = dir.path().join("uploads");
    std::fs::write(
        uploads.join("a_ffffffffffffffffffffffffffffffff"),
        b"orphan",
    )
    .unwrap();
    std::fs::write(uploads.join(format!("{open_id}.final")), b"half").unwrap();
    let server = Server::start(dir.path(), None, |_| {}).await;
    // The sweep runs as the server starts serving.
    let deadline = std::time::Instant::now() + tidings_testkit::WAIT;
    loop {
        let left: Vec<_> = std::fs::read_dir(&uploads)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        if left == vec![open_id.clone()] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{left:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let api = server.api();
    let alice = TestUser {
        token: server.token("alice"),
        ..alice
    };
    assert_eq!(api.tus_head(&alice, &open_id).await.offset, Some(40));
    server.stop().await;
}
