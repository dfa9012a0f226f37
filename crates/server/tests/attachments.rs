//! Attachments end to end on a real server: tus uploads (whole, resumed after a cut,
//! retried by clientId), messages carrying them, downloads byte-equal with their headers,
//! images (dimensions, thumbnail, EXIF gone), who may read them, and blobs removed after
//! the message is deleted.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use tidings_testkit::{Api, Meta, Server, TestUser, WAIT};

/// Bytes that are no known file type (a counter pattern).
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8 ^ 0x5a).collect()
}

/// Every blob file under `<data>/blobs`.
fn blobs(data: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(dirs) = std::fs::read_dir(data.join("blobs")) {
        for d in dirs.flatten() {
            for f in std::fs::read_dir(d.path()).unwrap().flatten() {
                out.push(f.path());
            }
        }
    }
    out.sort();
    out
}

async fn pair(api: &Api) -> (TestUser, TestUser, String) {
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.direct(&alice, "bob").await;
    (alice, bob, cid)
}

async fn send_with(api: &Api, who: &TestUser, cid: &str, body: Value) -> (u16, Value) {
    api.post(
        &format!("/api/conversations/{cid}/messages"),
        &who.token,
        body,
    )
    .await
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn jpeg_with_exif(w: u32, h: u32, secret: &str) -> Vec<u8> {
    use img_parts::ImageEXIF;
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 60]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    let mut j = img_parts::jpeg::Jpeg::from_bytes(out.into_inner().into()).unwrap();
    // Not a real TIFF structure: what matters is that these bytes do not come back.
    j.set_exif(Some(format!("MM\0*GPS {secret}").into_bytes().into()));
    j.encoder().bytes().to_vec()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn a_file_goes_up_in_pieces_travels_with_a_message_and_comes_down_byte_equal() {
    let server = Server::chat().await;
    let api = server.api();
    let (alice, bob, cid) = pair(&api).await;
    let data = pattern(300_000);
    let meta = Meta {
        filename: Some("report 2026.bin"),
        filetype: Some("application/octet-stream"),
        conversation: Some(&cid),
        client_id: None,
    };
    let created = api.tus_create(&alice, data.len() as u64, &meta).await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.location.as_deref(),
        Some(&*format!("/api/uploads/{id}"))
    );
    assert_eq!(created.offset, Some(0));
    for (start, end) in [(0, 100_000), (100_000, 200_000), (200_000, 300_000)] {
        let a = api
            .tus_patch(&alice, &id, start as u64, data[start..end].to_vec())
            .await;
        assert_eq!((a.status, a.offset), (204, Some(end as u64)), "{a:?}");
    }
    let head = api.tus_head(&alice, &id).await;
    assert_eq!((head.status, head.offset), (200, Some(300_000)));

    // Before a message uses it, only the uploader can read it.
    assert_eq!(api.download(&bob, &id).await.status, 404);
    assert_eq!(api.download(&alice, &id).await.bytes, data);

    let (status, m) = send_with(
        &api,
        &alice,
        &cid,
        json!({"clientId": "with-file", "attachments": [id]}),
    )
    .await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(m["content"], "");
    assert_eq!(
        m["attachments"],
        json!([{"id": id, "name": "report 2026.bin", "size": 300_000,
                "contentType": "application/octet-stream", "hasThumbnail": false}])
    );
    // Bob sees it in history and downloads the same bytes, as a download.
    let history = api.all_messages(&bob, &cid).await;
    assert_eq!(history.last().unwrap()["attachments"][0]["id"], json!(id));
    let d = api.download(&bob, &id).await;
    assert_eq!(d.status, 200);
    assert_eq!(d.bytes, data);
    assert_eq!(d.header("content-type"), Some("application/octet-stream"));
    assert_eq!(d.header("content-length"), Some("300000"));
    assert_eq!(
        d.header("content-disposition"),
        Some("attachment; filename=\"report 2026.bin\"; filename*=UTF-8''report%202026.bin")
    );
    assert_eq!(d.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        d.header("content-security-policy"),
        Some("sandbox; default-src 'none'")
    );
    let etag = d.header("etag").unwrap().to_owned();
    let again = api
        .download_with(
            &bob,
            &format!("/api/attachments/{id}"),
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(again.status, 304);
    let part = api
        .download_with(
            &bob,
            &format!("/api/attachments/{id}"),
            &[("range", "bytes=1000-1999")],
        )
        .await;
    assert_eq!(part.status, 206);
    assert_eq!(part.bytes, data[1000..2000]);
    assert_eq!(part.header("content-range"), Some("bytes 1000-1999/300000"));
    let past = api
        .download_with(
            &bob,
            &format!("/api/attachments/{id}"),
            &[("range", "bytes=300000-")],
        )
        .await;
    assert_eq!(past.status, 416);
    // One blob, named by its SHA-256.
    let files = blobs(server.state.config.data_dir.as_path());
    assert_eq!(files.len(), 1, "{files:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_cut_patch_keeps_what_arrived_and_the_upload_resumes_from_there() {
    let server = Server::chat().await;
    let api = server.api();
    let (alice, bob, cid) = pair(&api).await;
    let data = pattern(200_000);
    let meta = Meta {
        filename: Some("big.bin"),
        conversation: Some(&cid),
        ..Default::default()
    };
    let id = api.tus_create(&alice, 200_000, &meta).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A PATCH announcing the rest of the file sends 64 KiB, then its connection closes.
    drop(tidings_testkit::open_patch(server.addr, &alice, &id, 0, 200_000, &data[..65_536]).await);
    // The server keeps what arrived before the cut (HEAD waits for a PATCH in progress;
    // this one may not have reached the server when the client gave up, hence the bound).
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let head = api.tus_head(&alice, &id).await;
        assert_eq!(head.status, 200);
        if head.offset == Some(65_536) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{head:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // A PATCH at another offset is a conflict and writes nothing.
    let wrong = api.tus_patch(&alice, &id, 0, data.clone()).await;
    assert_eq!(wrong.status, 409, "{wrong:?}");
    assert_eq!(wrong.body["error"], "conflict");
    assert_eq!(api.tus_head(&alice, &id).await.offset, Some(65_536));
    // A body past the length is refused.
    let long = api.tus_patch(&alice, &id, 65_536, vec![0u8; 200_000]).await;
    assert_eq!(long.status, 400, "{long:?}");
    assert_eq!(api.tus_head(&alice, &id).await.offset, Some(65_536));
    // Nothing is readable or usable until it is whole.
    let (status, _) = send_with(
        &api,
        &alice,
        &cid,
        json!({"clientId": "early", "attachments": [id]}),
    )
    .await;
    assert_eq!(status, 400);
    let rest = api
        .tus_patch(&alice, &id, 65_536, data[65_536..].to_vec())
        .await;
    assert_eq!((rest.status, rest.offset), (204, Some(200_000)));
    let (status, _) = send_with(
        &api,
        &alice,
        &cid,
        json!({"clientId": "late", "attachments": [id]}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(api.download(&bob, &id).await.bytes, data);
    server.stop().await;
}

#[tokio::test]
async fn retries_by_client_id_store_one_upload_one_blob_and_one_message() {
    let server = Server::chat().await;
    let api = server.api();
    let (alice, bob, cid) = pair(&api).await;
    let data = pattern(10_000);
    let meta = Meta {
        filename: Some("once.bin"),
        conversation: Some(&cid),
        client_id: Some("upload-1"),
        ..Default::default()
    };
    let a = api.tus_create(&alice, 10_000, &meta).await;
    let id = a.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.tus_patch(&alice, &id, 0, data[..4000].to_vec())
            .await
            .status,
        204
    );
    // The answer to the POST was lost: the retry finds the same upload and its offset.
    let b = api.tus_create(&alice, 10_000, &meta).await;
    assert_eq!((b.status, b.offset), (201, Some(4000)));
    assert_eq!(b.body["id"], json!(id));
    assert_eq!(
        api.tus_patch(&alice, &id, 4000, data[4000..].to_vec())
            .await
            .status,
        204
    );
    let c = api.tus_create(&alice, 10_000, &meta).await;
    assert_eq!(
        (c.body["id"].as_str(), c.offset),
        (Some(&*id), Some(10_000))
    );
    // Another length or conversation under the same clientId is a conflict.
    let other = api.tus_create(&alice, 9_999, &meta).await;
    assert_eq!(other.status, 409, "{other:?}");
    // The message too: sent twice, stored once.
    let body = json!({"clientId": "msg-1", "content": "here", "attachments": [id]});
    let (s1, m1) = send_with(&api, &alice, &cid, body.clone()).await;
    let (s2, m2) = send_with(&api, &alice, &cid, body).await;
    assert_eq!((s1, s2), (201, 200));
    assert_eq!(m1, m2);
    assert_eq!(api.all_messages(&bob, &cid).await.len(), 1);
    assert_eq!(blobs(&server.state.config.data_dir).len(), 1);
    // The same bytes uploaded again are another attachment but the same blob.
    let again = api
        .upload(&alice, &cid, "twice.bin", None, data.clone())
        .await;
    assert_ne!(again, id);
    assert_eq!(blobs(&server.state.config.data_dir).len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn outsiders_and_other_conversations_get_nothing() {
    let server = Server::chat().await;
    let api = server.api();
    let (alice, bob, cid) = pair(&api).await;
    let carol = api.register("carol").await;
    let other = api.direct(&alice, "carol").await;
    let id = api
        .upload(
            &alice,
            &cid,
            "secret.txt",
            Some("text/plain"),
            b"top secret".to_vec(),
        )
        .await;
    let (status, _) = send_with(
        &api,
        &alice,
        &cid,
        json!({"clientId": "s", "content": "see", "attachments": [id]}),
    )
    .await;
    assert_eq!(status, 201);
    // Carol is in no conversation that carries it: 404 like an unknown id, never 403.
    let d = api.download(&carol, &id).await;
    assert_eq!((d.status, d.bytes.is_empty()), (404, false));
    let unknown = api
        .download(&carol, "a_0123456789abcdef0123456789abcdef")
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        serde_json::from_slice::<Value>(&d.bytes).unwrap()["error"],
        serde_json::from_slice::<Value>(&unknown.bytes).unwrap()["error"]
    );
    assert_eq!(api.tus_head(&carol, &id).await.status, 404);
    assert_eq!(api.tus_delete(&carol, &id).await.status, 404);
    // Carol cannot upload into a conversation she is not in.
    let meta = Meta {
        filename: Some("x"),
        conversation: Some(&cid),
        ..Default::default()
    };
    assert_eq!(api.tus_create(&carol, 5, &meta).await.status, 403);
    // An attachment is usable once, by its uploader, in its conversation.
    let fresh = api
        .upload(&alice, &cid, "a.txt", None, b"aaaa".to_vec())
        .await;
    for (who, conv, ids) in [
        (&bob, &cid, json!([fresh])),
        (&alice, &other, json!([fresh])),
        (&alice, &cid, json!([id])),
        (&alice, &cid, json!([fresh, fresh])),
    ] {
        let (status, body) = send_with(
            &api,
            who,
            conv,
            json!({"clientId": format!("x-{}", who.name), "attachments": ids}),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "invalid");
    }
    // Nothing was stored by those refusals.
    assert_eq!(api.all_messages(&bob, &cid).await.len(), 1);
    // Bob still reads it after his token was rotated: access follows the account.
    let (s, refreshed) = api
        .call(
            "POST",
            "/api/auth/refresh",
            None,
            Some(json!({"refreshToken": bob.refresh})),
        )
        .await;
    assert_eq!(s, 200);
    let bob2 = TestUser {
        token: refreshed["accessToken"].as_str().unwrap().to_owned(),
        ..bob.clone()
    };
    assert_eq!(api.download(&bob2, &id).await.bytes, b"top secret");
    server.stop().await;
}

#[tokio::test]
async fn images_get_dimensions_a_thumbnail_and_lose_their_exif() {
    let server = Server::chat().await;
    let api = server.api();
    let (alice, bob, cid) = pair(&api).await;
    let jpeg = jpeg_with_exif(800, 600, "SECRET-LOCATION-48.85N");
    assert!(contains(&jpeg, b"SECRET-LOCATION"));
    let j = api
        .upload(&alice, &cid, "beach.jpg", Some("image/jpeg"), jpeg.clone())
        .await;
    let p = api
        .upload(&alice, &cid, "tiny.png", Some("image/png"), png(40, 30))
        .await;
    let (status, m) = send_with(
        &api,
        &alice,
        &cid,
        json!({"clientId": "pics", "content": "look", "attachments": [j, p]}),
    )
    .await;
    assert_eq!(status, 201, "{m}");
    let a = &m["attachments"];
    assert_eq!(
        (a[0]["width"].as_u64(), a[0]["height"].as_u64()),
        (Some(800), Some(600))
    );
    assert_eq!(a[0]["contentType"], "image/jpeg");
    assert_eq!(a[0]["hasThumbnail"], true);
    assert_eq!(
        (a[1]["width"].as_u64(), a[1]["height"].as_u64()),
        (Some(40), Some(30))
    );
    let full = api.download(&bob, &j).await;
    assert!(!contains(&full.bytes, b"SECRET-LOCATION"), "EXIF survived");
    assert_eq!(a[0]["size"].as_u64(), Some(full.bytes.len() as u64));
    assert!(full.bytes.len() < jpeg.len());
    // Still the same picture.
    let decoded = image::load_from_memory(&full.bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (800, 600));
    assert!(full
        .header("content-disposition")
        .unwrap()
        .starts_with("inline;"));
    let thumb = api
        .download_with(&bob, &format!("/api/attachments/{j}/thumbnail"), &[])
        .await;
    assert_eq!(thumb.status, 200);
    assert_eq!(thumb.header("content-type"), Some("image/jpeg"));
    let t = image::load_from_memory(&thumb.bytes).unwrap();
    assert_eq!((t.width(), t.height()), (320, 240));
    // A small image's thumbnail is not enlarged.
    let small = api
        .download_with(&bob, &format!("/api/attachments/{p}/thumbnail"), &[])
        .await;
    let t = image::load_from_memory(&small.bytes).unwrap();
    assert_eq!((t.width(), t.height()), (40, 30));
    server.stop().await;
}

#[tokio::test]
async fn svg_and_html_are_never_served_inline() {
    let server = Server::chat().await;
    let api = server.api();
    let (alice, bob, cid) = pair(&api).await;
    let svg = api
        .upload(
            &alice,
            &cid,
            "x.svg",
            Some("image/svg+xml"),
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec(),
        )
        .await;
    let html = api
        .upload(
            &alice,
            &cid,
            "x.html",
            Some("text/html"),
            b"<html><script>alert(1)</script></html>".to_vec(),
        )
        .await;
    let (status, _) = send_with(
        &api,
        &alice,
        &cid,
        json!({"clientId": "evil", "attachments": [svg, html]}),
    )
    .await;
    assert_eq!(status, 201);
    for id in [&svg, &html] {
        let d = api.download(&bob, id).await;
        assert!(
            d.header("content-disposition")
                .unwrap()
                .starts_with("attachment;"),
            "{:?}",
            d.headers
        );
        assert_eq!(d.header("x-content-type-options"), Some("nosniff"));
        assert!(d
            .header("content-security-policy")
            .unwrap()
            .contains("sandbox"));
    }
    // No thumbnail for them.
    let t = api
        .download_with(&bob, &format!("/api/attachments/{svg}/thumbnail"), &[])
        .await;
    assert_eq!(t.status, 404);
    server.stop().await;
}

#[tokio::test]
async fn deleting_the_message_removes_its_attachments_and_unused_blobs() {
    let server = Server::chat().await;
    let api = server.api();
    let (alice, bob, cid) = pair(&api).await;
    let data_dir = server.state.config.data_dir.clone();
    let keep = api
        .upload(&alice, &cid, "keep.bin", None, pattern(5000))
        .await;
    let gone = api
        .upload(&alice, &cid, "gone.png", Some("image/png"), png(500, 400))
        .await;
    let (_, kept) = send_with(
        &api,
        &alice,
        &cid,
        json!({"clientId": "k", "attachments": [keep]}),
    )
    .await;
    let (_, m) = send_with(
        &api,
        &alice,
        &cid,
        json!({"clientId": "g", "content": "oops", "attachments": [gone]}),
    )
    .await;
    // Blob and thumbnail of one, blob of the other.
    assert_eq!(blobs(&data_dir).len(), 3);
    let mid = m["id"].as_str().unwrap();
    let (status, tomb) = api.delete_message(&alice, &cid, mid).await;
    assert_eq!(status, 200);
    assert!(tomb.get("attachments").is_none(), "{tomb}");
    assert_eq!(api.download(&bob, &gone).await.status, 404);
    let deadline = std::time::Instant::now() + WAIT;
    while blobs(&data_dir).len() != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "blobs not collected: {:?}",
            blobs(&data_dir)
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(api.download(&bob, &keep).await.bytes, pattern(5000));
    assert_eq!(kept["attachments"][0]["id"], json!(keep));
    server.stop().await;
}
