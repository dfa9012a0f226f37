//! Scenario 8 (6 and 7 are the app's, in tests/bench): file throughput (issue 16). A file
//! of `size` bytes goes up to the server binary with tus in `chunk`-byte PATCHes (each
//! `fsync`ed before it is answered; the last one also hashes the whole file and moves it
//! into the blob store), travels with a message, and comes down to the other participant;
//! MB/s each way. Beside them the ceiling: the same file copied on the same disk
//! (`std::fs::copy`, then `fsync`), in MB/s. MB is 10⁶ bytes. Each run uploads different
//! bytes (identical ones would be stored once).

use crate::report::Report;
use crate::targets::Tidings;
use base64::Engine as _;
use rand::{RngCore, SeedableRng};
use std::path::Path;
use std::time::Instant;
use tidings_proto::api::SendMessage;
use tidings_proto::ContentType;

#[derive(Debug, Clone)]
pub struct FilesOpts {
    pub size: usize,
    pub chunk: usize,
    pub runs: usize,
}

/// The conversation of `sender` and `reader`, seeded before the server starts.
pub async fn seed(dir: &Path, secret: &str) -> anyhow::Result<String> {
    crate::chat::seed_direct(dir, secret, "sender", "reader").await
}

/// `size` pseudo-random bytes (no known file type: stored as they are, never decoded).
fn content(size: usize, run: usize) -> bytes::Bytes {
    let mut rng = rand::rngs::StdRng::seed_from_u64(run as u64 + 1);
    let mut b = vec![0u8; size];
    rng.fill_bytes(&mut b);
    b.into()
}

fn mb_per_s(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs.max(1e-9)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The ceiling: the file copied beside itself and synced, as an upload's bytes end up.
fn copy_once(src: &Path, dst: &Path) -> anyhow::Result<f64> {
    let _ = std::fs::remove_file(dst);
    let start = Instant::now();
    let n = std::fs::copy(src, dst)?;
    std::fs::File::open(dst)?.sync_all()?;
    let s = start.elapsed().as_secs_f64();
    std::fs::remove_file(dst)?;
    Ok(mb_per_s(n as usize, s))
}

/// One tus upload in chunks; the attachment id and the seconds from creation to the
/// answer of the PATCH that finished it.
async fn upload(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    cid: &str,
    data: &bytes::Bytes,
    chunk: usize,
) -> anyhow::Result<(String, f64)> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let start = Instant::now();
    let created = http
        .post(format!("{base}/api/uploads"))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", data.len().to_string())
        .header(
            "Upload-Metadata",
            format!("filename {},conversation {}", b64("bench.bin"), b64(cid)),
        )
        .send()
        .await?;
    anyhow::ensure!(
        created.status() == 201,
        "creating the upload: {} {}",
        created.status(),
        created.text().await.unwrap_or_default()
    );
    let id = created.json::<serde_json::Value>().await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut offset = 0;
    while offset < data.len() {
        let end = (offset + chunk).min(data.len());
        let r = http
            .patch(format!("{base}/api/uploads/{id}"))
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .body(data.slice(offset..end))
            .send()
            .await?;
        anyhow::ensure!(
            r.status() == 204,
            "PATCH at {offset}: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
        offset = end;
    }
    Ok((id, start.elapsed().as_secs_f64()))
}

/// Downloads the attachment, checking every byte; the seconds it took.
async fn download(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
    data: &[u8],
) -> anyhow::Result<f64> {
    let start = Instant::now();
    let mut r = http
        .get(format!("{base}/api/attachments/{id}"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?;
    let mut at = 0usize;
    while let Some(piece) = r.chunk().await? {
        anyhow::ensure!(
            data.get(at..at + piece.len()) == Some(&piece[..]),
            "the download differs from the upload at byte {at}"
        );
        at += piece.len();
    }
    let s = start.elapsed().as_secs_f64();
    anyhow::ensure!(at == data.len(), "downloaded {at} bytes of {}", data.len());
    Ok(s)
}

pub async fn run(
    server: &Tidings,
    cid: &str,
    dir: &Path,
    opts: &FilesOpts,
    report: &mut Report,
) -> anyhow::Result<()> {
    let base = format!("http://{}", server.proc.addr);
    let sender = server.token("sender")?;
    let reader = server.token("reader")?;
    let http = reqwest::Client::new();
    let label = if opts.size >= 1_000_000 {
        format!("{} MB file", opts.size / 1_000_000)
    } else {
        format!("{} kB file", opts.size / 1000)
    };
    let (mut ups, mut downs, mut copies) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..opts.runs {
        let data = content(opts.size, run);
        let (id, up_s) = upload(&http, &base, &sender, cid, &data, opts.chunk).await?;
        let sent = http
            .post(format!("{base}/api/conversations/{cid}/messages"))
            .bearer_auth(&sender)
            .json(&SendMessage {
                client_id: format!("file-{run}"),
                content: String::new(),
                content_type: ContentType::Text,
                attachments: vec![id.clone()],
                ..Default::default()
            })
            .send()
            .await?;
        anyhow::ensure!(
            sent.status() == 201,
            "sending the file: {} {}",
            sent.status(),
            sent.text().await.unwrap_or_default()
        );
        let down_s = download(&http, &base, &reader, &id, &data).await?;
        // The ceiling on the same disk as the server's data directory, with the same bytes.
        let src = dir.join("copy-source.bin");
        std::fs::write(&src, &data)?;
        std::fs::File::open(&src)?.sync_all()?;
        let copy = copy_once(&src, &dir.join("copy-target.bin"))?;
        std::fs::remove_file(&src)?;
        println!(
            "    run {run}: upload {:.0} MB/s, download {:.0} MB/s, file copy {copy:.0} MB/s",
            mb_per_s(opts.size, up_s),
            mb_per_s(opts.size, down_s)
        );
        ups.push(mb_per_s(opts.size, up_s));
        downs.push(mb_per_s(opts.size, down_s));
        copies.push(copy);
    }
    let runs = opts.runs;
    let chunk_mib = opts.chunk as f64 / (1024.0 * 1024.0);
    let (up, down, copy) = (median(ups), median(downs), median(copies));
    report.figure(
        "tidings",
        &format!("upload (tus, {chunk_mib} MiB chunks), {label} (median of {runs})"),
        up,
        "MB/s",
        None,
    );
    report.figure(
        "tidings",
        &format!("download, {label} (median of {runs})"),
        down,
        "MB/s",
        None,
    );
    report.figure(
        "disk",
        &format!("file copy + fsync, same disk, {label} (median of {runs})"),
        copy,
        "MB/s",
        None,
    );
    report.figure(
        "tidings",
        "upload ÷ file copy",
        up / copy * 100.0,
        "%",
        None,
    );
    Ok(())
}
