//! Attachments through the shell's commands under the mock runtime against a real server:
//! files checked as they are chosen (with the engine's sentences), pasted bytes bounded by the
//! server's limit and written where the engine takes them, a message with files sent through
//! the outbox (pasted copies removed), its bytes from the download cache, cancel, and the
//! download cache limit.

use super::{call, shell, until, Shell};
use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody, InvokeResponseBody};
use tauri::test::{get_ipc_response, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::Manager;
use tidings_testkit::*;

/// Calls a command with a raw body and headers (as `paste_file`), or one that answers raw bytes.
fn call_raw(
    s: &Shell,
    cmd: &str,
    body: InvokeBody,
    headers: &[(&'static str, &str)],
) -> Result<InvokeResponseBody, Value> {
    let mut h = tauri::http::HeaderMap::new();
    for (k, v) in headers {
        h.insert(*k, v.parse().unwrap());
    }
    get_ipc_response(
        &s.window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body,
            headers: h,
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
}

/// A 1 × 1 PNG without metadata (the server keeps it byte for byte).
const PNG: [u8; 70] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x64, 0x60, 0xf8, 0x5f,
    0x0f, 0x00, 0x02, 0x87, 0x01, 0x80, 0xeb, 0x47, 0xba, 0x92, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

fn bytes_of(s: &Shell, id: &str, thumbnail: bool) -> Vec<u8> {
    match call_raw(
        s,
        "attachment_bytes",
        InvokeBody::Json(json!({"id": id, "thumbnail": thumbnail})),
        &[],
    )
    .unwrap()
    {
        InvokeResponseBody::Raw(b) => b,
        InvokeResponseBody::Json(j) => panic!("attachment_bytes answered JSON: {j}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_checked_pasted_sent_downloaded_and_the_cache_limit_kept() {
    let data = TempDir::new("shell-files");
    let server = Server::start(data.path(), None, |c| c.limits.max_attachment_bytes = 1000).await;
    let api = server.api();
    api.register("alice").await;
    api.register("bob").await;
    let s = shell();
    call(&s, "sign_in", json!({"server": server.http(), "username": "alice", "password": "alice-password", "register": false})).unwrap();
    until(&s, "engine_state", json!({}), "live", |v| {
        v["state"] == "live"
    })
    .await;
    let direct = call(
        &s,
        "create_conversation",
        json!({"title": null, "participants": ["bob"], "group": false}),
    )
    .unwrap();
    let cid = direct["id"].as_str().unwrap().to_owned();

    // Chosen files, each checked: one good, the others refused in the engine's words.
    let dir = data.path().join("files");
    std::fs::create_dir_all(dir.join("a folder")).unwrap();
    std::fs::write(dir.join("notes.txt"), b"twelve bytes").unwrap();
    std::fs::write(dir.join("empty.txt"), b"").unwrap();
    std::fs::write(dir.join("photo.raw"), vec![7u8; 2000]).unwrap();
    let p = |n: &str| dir.join(n).to_string_lossy().into_owned();
    let paths = [
        p("notes.txt"),
        p("empty.txt"),
        p("photo.raw"),
        p("a folder"),
        p("missing.txt"),
    ];
    let files = call(&s, "local_files", json!({"paths": paths})).unwrap();
    assert_eq!(files[0]["name"], "notes.txt");
    assert_eq!(files[0]["size"], 12);
    assert_eq!(files[0]["refused"], Value::Null);
    assert_eq!(files[0]["pasted"], false);
    let refused = |i: usize| files[i]["refused"].as_str().unwrap_or_default().to_owned();
    assert!(
        refused(1).starts_with("empty.txt is empty (0 bytes)"),
        "{files}"
    );
    assert_eq!(
        refused(2),
        "photo.raw is 2 KB; the largest file this server takes is 1000 bytes.",
        "the name as written"
    );
    assert!(refused(3).contains("is a folder"), "{files}");
    assert!(refused(4).starts_with("No file at"), "{files}");
    assert_eq!(call(&s, "largest_attachment", json!({})).unwrap(), 1000);

    // Pasted bytes: bounded by the server's limit before anything is written, the name checked.
    let paste = |name: &str, bytes: Vec<u8>| {
        call_raw(
            &s,
            "paste_file",
            InvokeBody::Raw(bytes),
            &[("tidings-name", name)],
        )
        .map(|b| match b {
            InvokeResponseBody::Json(j) => serde_json::from_str::<Value>(&j).unwrap(),
            InvokeResponseBody::Raw(_) => panic!("raw answer"),
        })
    };
    let scratch = s
        .window
        .app_handle()
        .state::<tidings_app::state::AppState>()
        .data_dir
        .join("scratch");
    let err = paste("Pasted%20image%202026-12-02%2014.03.png", vec![1u8; 1001]).unwrap_err();
    assert_eq!(err["code"], "refused");
    assert_eq!(
        err["message"],
        "Pasted image 2026-12-02 14.03.png is 1001 bytes; the largest file this server takes is 1000 bytes."
    );
    for bad in ["..", "a%2Fb.png", "x%0Ay.png", ""] {
        assert_eq!(
            paste(bad, vec![1u8; 10]).unwrap_err()["code"],
            "invalid",
            "{bad}"
        );
    }
    assert_eq!(paste("empty.png", vec![]).unwrap_err()["code"], "invalid");
    assert!(
        !scratch.exists() || walk(&scratch).is_empty(),
        "nothing written for the refusals"
    );
    let pasted = paste("Pasted%20image%202026-12-02%2014.03.png", PNG.to_vec()).unwrap();
    assert_eq!(pasted["name"], "Pasted image 2026-12-02 14.03.png");
    assert_eq!(pasted["pasted"], true);
    let pasted_path = pasted["path"].as_str().unwrap().to_owned();
    assert!(pasted_path.starts_with(scratch.to_str().unwrap()));
    // A chip removed: its pasted file goes; a path that is not pasted is left alone.
    let other = paste("other.txt", b"other".to_vec()).unwrap();
    call(
        &s,
        "discard_files",
        json!({"paths": [other["path"], p("notes.txt")]}),
    )
    .unwrap();
    assert!(!std::path::Path::new(other["path"].as_str().unwrap()).exists());
    assert!(dir.join("notes.txt").exists());

    // Sent with text: pending at once with both files; the pasted copy goes (the engine has its own).
    let entry = call(&s, "send_files", json!({"conversation": cid, "text": "Two files", "paths": [p("notes.txt"), pasted_path], "replyTo": null, "mentions": []})).unwrap();
    assert_eq!(entry["attachments"].as_array().unwrap().len(), 2, "{entry}");
    assert_eq!(
        entry["attachments"][1]["name"],
        "Pasted image 2026-12-02 14.03.png"
    );
    assert!(!std::path::Path::new(&pasted_path).exists());
    let err = call(
        &s,
        "send_files",
        json!({"conversation": cid, "text": "", "paths": [p("photo.raw")]}),
    )
    .unwrap_err();
    assert_eq!(err["code"], "refused");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("photo.raw is 2 KB; the largest file this server takes is 1000 bytes"),
        "{err}"
    );
    let page = until(
        &s,
        "history",
        json!({"conversation": cid, "before": null, "limit": 50}),
        "the message stored",
        |v| {
            v["pending"].as_array().is_some_and(|p| p.is_empty())
                && v["messages"].as_array().is_some_and(|m| !m.is_empty())
        },
    )
    .await;
    let sent = &page["messages"][0];
    assert_eq!(sent["content"], "Two files");
    let id = sent["attachments"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(bytes_of(&s, &id, false), b"twelve bytes");
    let image = &sent["attachments"][1];
    assert_eq!(
        (image["width"].as_u64(), image["hasThumbnail"].as_bool()),
        (Some(1), Some(true)),
        "{image}"
    );
    let image = image["id"].as_str().unwrap();
    assert_eq!(
        bytes_of(&s, image, false),
        PNG,
        "the pasted bytes, stored as they were"
    );
    assert!(
        bytes_of(&s, image, true).starts_with(&PNG[..8]),
        "its thumbnail is a PNG"
    );
    let err = call_raw(
        &s,
        "attachment_bytes",
        InvokeBody::Json(json!({"id": "a_00000000000000000000000000000000", "thumbnail": false})),
        &[],
    )
    .unwrap_err();
    assert_eq!(err["code"], "refused", "{err}");
    assert_eq!(
        call(&s, "cancel_message", json!({"clientId": "nothing-like-it"})).unwrap(),
        false
    );
    let err = call(&s, "cancel_message", json!({"clientId": entry["clientId"]})).unwrap_err();
    assert!(
        err["message"].as_str().unwrap().contains("already sent"),
        "{err}"
    );

    // The download cache limit: 500 MiB unless changed; at least 1 MiB.
    assert_eq!(
        call(&s, "download_limit", json!({})).unwrap(),
        500 * 1024 * 1024
    );
    assert_eq!(
        call(&s, "set_download_limit", json!({"bytes": 1000})).unwrap_err()["code"],
        "invalid"
    );
    assert_eq!(
        call(&s, "set_download_limit", json!({"bytes": 10 * 1024 * 1024})).unwrap(),
        10 * 1024 * 1024
    );
    assert_eq!(
        call(&s, "download_limit", json!({})).unwrap(),
        10 * 1024 * 1024
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}
