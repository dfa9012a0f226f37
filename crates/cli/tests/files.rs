//! `tidings send --file` and `tidings download` end to end: the real binary against a real
//! server on 127.0.0.1, files byte-equal on the other side (also from the download cache
//! with the server stopped), and each bad input with its sentence, its exit code, and
//! nothing stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tidings_testkit::*;

mod common;
use common::{Home, Run};

/// Runs `tidings` in the folder `cwd`; stdout as bytes too.
async fn run_in(home: &Home, cwd: &Path, args: &[&str]) -> (Run, Vec<u8>) {
    let mut c = home.command(args);
    c.current_dir(cwd);
    let out = tokio::time::timeout(Duration::from_secs(60), c.output())
        .await
        .expect("tidings did not finish")
        .unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    (run, out.stdout)
}

async fn server_with(dir: &TempDir, max: Option<u64>) -> Server {
    Server::start(dir.path(), None, |c| {
        if let Some(max) = max {
            c.limits.max_attachment_bytes = max;
        }
    })
    .await
}

#[tokio::test]
async fn send_with_files_then_download_byte_equal_also_offline() {
    let dir = TempDir::new("cli-files");
    let server = server_with(&dir, None).await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.group(&alice, &[&bob]).await;
    let alices = Home::new();
    alices.login(&server.http(), "alice").await;
    let bobs = Home::new();
    bobs.login(&server.http(), "bob").await;
    let files = TempDir::new("cli-files-src");
    let big = noise(200_000, 1);
    let a = write_file(files.path(), "a.bin", &big);
    let note = write_file(files.path(), "note.txt", b"hello from a file\n");

    let r = alices
        .run(&[
            "send",
            &cid,
            "two",
            "files",
            "--file",
            a.to_str().unwrap(),
            "--file",
            note.to_str().unwrap(),
        ])
        .await;
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("sent (clientId "), "{}", r.stdout);
    assert!(
        !r.stderr.contains("uploading"),
        "no progress line off a terminal: {}",
        r.stderr
    );
    // Text is optional with a file; --json answers the outbox entry with its files.
    let r = alices
        .run(&["--json", "send", &cid, "--file", note.to_str().unwrap()])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let entry: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(entry["state"], "sent");
    assert_eq!(entry["attachments"][0]["name"], "note.txt");
    assert!(entry["attachments"][0]["uploadId"]
        .as_str()
        .unwrap()
        .starts_with("a_"));
    let stored = api.all_messages(&bob, &cid).await;
    assert_eq!(stored.len(), 2, "each once: {stored:?}");

    // Bob's history shows each attachment's name, size, type and id.
    let r = bobs.run(&["history", &cid]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let first = &stored[0]["attachments"];
    let a_id = first[0]["id"].as_str().unwrap();
    let note_id = first[1]["id"].as_str().unwrap();
    assert!(
        r.stdout.contains(&format!(
            "📎 a.bin · 195 KB · application/octet-stream · {a_id}"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains(&format!("📎 note.txt · 18 bytes · text/plain · {note_id}")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("alice: two files"), "{}", r.stdout);

    let out = TempDir::new("cli-files-out");
    let got = out.path().join("got.bin");
    let r = bobs
        .run(&["download", a_id, "--out", got.to_str().unwrap()])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with("saved a.bin (195 KB) to "),
        "{}",
        r.stdout
    );
    assert_eq!(std::fs::read(&got).unwrap(), big);
    // Without --out: by its name in the current folder, and never over a file there.
    let (r, _) = run_in(&bobs, out.path(), &["download", note_id]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read(out.path().join("note.txt")).unwrap(),
        b"hello from a file\n"
    );
    let (r, _) = run_in(&bobs, out.path(), &["download", note_id]).await;
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("note.txt exists here already"),
        "{}",
        r.stderr
    );
    // To standard output.
    let (r, bytes) = run_in(&bobs, out.path(), &["download", a_id, "--out", "-"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(bytes, big);

    // The server stops: what was downloaded comes from the cache.
    server.stop().await;
    let again = out.path().join("again.bin");
    let r = bobs
        .run(&[
            "--timeout",
            "5",
            "download",
            a_id,
            "--out",
            again.to_str().unwrap(),
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::read(&again).unwrap(), big);
}

#[tokio::test]
async fn each_bad_input_exits_non_zero_with_a_sentence_and_stores_nothing() {
    let dir = TempDir::new("cli-files-bad");
    let server = server_with(&dir, Some(1000)).await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    api.register("carol").await;
    let cid = api.group(&alice, &[&bob]).await;
    let alices = Home::new();
    alices.login(&server.http(), "alice").await;
    let files = TempDir::new("cli-files-bad-src");
    let big = write_file(files.path(), "big.bin", &noise(1001, 2));
    let empty = write_file(files.path(), "empty.txt", b"");
    let small = write_file(files.path(), "small.txt", b"small\n");
    let missing = files.path().join("missing.pdf");

    let r = alices
        .run(&["send", &cid, "--file", missing.to_str().unwrap()])
        .await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("no file at ") && r.stderr.contains("missing.pdf"),
        "{}",
        r.stderr
    );
    let r = alices
        .run(&["send", &cid, "--file", big.to_str().unwrap()])
        .await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("big.bin is 1001 bytes; the largest file this server takes is 1000 bytes"),
        "{}",
        r.stderr
    );
    let r = alices
        .run(&["send", &cid, "--file", empty.to_str().unwrap()])
        .await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("empty.txt is empty"), "{}", r.stderr);
    let r = alices.run(&["send", &cid]).await;
    assert_eq!(r.code, 2, "neither text nor file: {}", r.stderr);
    // Not a participant: the server's sentence.
    let r = alices
        .run(&["send", "c_nowhere", "--file", small.to_str().unwrap()])
        .await;
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr.contains("the server refused the message"),
        "{}",
        r.stderr
    );
    assert!(
        api.all_messages(&alice, &cid).await.is_empty(),
        "nothing stored"
    );

    // Downloads: a real attachment, refused to an outsider with the server's 404 sentence.
    let r = alices
        .run(&["--json", "send", &cid, "--file", small.to_str().unwrap()])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let entry: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    let id = entry["attachments"][0]["uploadId"]
        .as_str()
        .unwrap()
        .to_owned();
    let carols = Home::new();
    carols.login(&server.http(), "carol").await;
    let out = TempDir::new("cli-files-bad-out");
    let dest = out.path().join("x");
    let r = carols
        .run(&["download", &id, "--out", dest.to_str().unwrap()])
        .await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("no attachment or upload {id}")),
        "{}",
        r.stderr
    );
    assert!(!dest.exists());
    let r = carols
        .run(&[
            "download",
            "a_0123456789abcdef0123456789abcdef",
            "--out",
            dest.to_str().unwrap(),
        ])
        .await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(!dest.exists());
    server.stop().await;
}
