//! Files from the command line: waiting for a message with files to go out (with a
//! progress line on stderr when it is a terminal), and `download` (an attachment by its id,
//! from the engine's download cache, which also serves it offline).

use crate::context::{CmdResult, Context, Failure, NOT_SIGNED_IN};
use crate::output;
use crate::session::{account_key, start, tidings_target, Outcome};
use crate::timeline::size_for_people;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use tidings_client::cache::{OutboxState, Variant};
use tidings_client::engine::{Engine, EngineState};
use tidings_client::ClientError;

/// Waits until the outbox entry `client_id` is sent or refused, or the engine is offline,
/// or nothing moved (no progress, no change) for the command's timeout. A large upload
/// may take longer than the timeout in all: only silence ends the wait.
pub async fn wait_sent(
    ctx: &Context,
    engine: &Engine,
    client_id: &str,
) -> Result<Outcome, Failure> {
    let show = !ctx.json && std::io::stderr().is_terminal();
    let mut state = engine.state();
    let mut changed = engine.changed();
    let mut progress = engine.upload_progress();
    let mut shown = false;
    let outcome = loop {
        let entry = engine
            .cache()
            .outbox_entry(client_id)
            .map_err(ClientError::from)?;
        if entry
            .as_ref()
            .is_none_or(|e| matches!(e.state, OutboxState::Sent | OutboxState::Failed))
        {
            break Ok(Outcome::Synced);
        }
        match state.borrow_and_update().clone() {
            EngineState::SignedOut { reason } => {
                break Err(Failure::new(
                    NOT_SIGNED_IN,
                    format!("signed out: {reason}; run `tidings login` again"),
                ))
            }
            EngineState::Reconnecting { reason, .. } => break Ok(Outcome::Offline(reason)),
            EngineState::Offline => break Ok(Outcome::Offline("no network".into())),
            _ => {}
        }
        if show {
            let p = progress.borrow_and_update().get(client_id).copied();
            if let Some(p) = p.filter(|p| p.total > 0) {
                eprint!(
                    "\rtidings: uploading {}% ({} of {})   ",
                    p.sent * 100 / p.total,
                    size_for_people(p.sent),
                    size_for_people(p.total)
                );
                let _ = std::io::stderr().flush();
                shown = true;
            }
        }
        tokio::select! {
            r = state.changed() => if r.is_err() { break Ok(Outcome::Offline("the engine stopped".into())) },
            _ = changed.changed() => {}
            _ = progress.changed() => {}
            _ = tokio::time::sleep(ctx.timeout) => {
                break Ok(Outcome::Offline(format!("nothing moved for {} s", ctx.timeout.as_secs())))
            }
        }
    };
    if shown {
        eprintln!();
    }
    outcome
}

/// The plain file name to save as: the attachment's name without any folder part, or its
/// id; a thumbnail gets `.thumbnail.jpg`/`.png` after it.
fn save_name(name: Option<&str>, id: &str, variant: Variant, content_type: &str) -> String {
    let base = name
        .and_then(|n| Path::new(n).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .unwrap_or_else(|| id.to_owned());
    match variant {
        Variant::File => base,
        Variant::Thumbnail => {
            let ext = if content_type == "image/jpeg" {
                "jpg"
            } else {
                "png"
            };
            format!("{base}.thumbnail.{ext}")
        }
    }
}

/// `tidings download ID [--out PATH] [--thumbnail]`: the attachment into PATH (a file, a
/// folder to put it in by its name, or `-` for standard output); without `--out`, into the
/// current folder by its name, never over an existing file.
pub async fn download(ctx: &Context, id: &str, out: Option<PathBuf>, thumbnail: bool) -> CmdResult {
    let variant = if thumbnail {
        Variant::Thumbnail
    } else {
        Variant::File
    };
    let account = ctx.account()?;
    let engine = start(ctx, tidings_target(ctx, &account), &account_key(&account))?;
    let fetched = engine.download(id, variant).await;
    let known = engine.cache().attachment(id).ok().flatten();
    engine.shutdown().await;
    let d = fetched?;
    let name = known
        .as_ref()
        .map(|a| a.name.as_str())
        .or(d.name.as_deref());
    let file_name = save_name(name, id, variant, &d.content_type);
    let io = |what: &Path, e: std::io::Error| {
        Failure::new(1, format!("cannot write {}: {e}", what.display()))
    };
    let dest = match out {
        Some(p) if p == Path::new("-") => {
            let bytes = std::fs::read(&d.path).map_err(|e| io(&d.path, e))?;
            std::io::stdout()
                .write_all(&bytes)
                .map_err(|e| io(Path::new("standard output"), e))?;
            return Ok(0);
        }
        Some(p) if p.is_dir() => p.join(&file_name),
        Some(p) => p,
        None => {
            let p = PathBuf::from(&file_name);
            if p.exists() {
                return Err(Failure::new(
                    2,
                    format!("{file_name} exists here already: give --out PATH to save it elsewhere or over it"),
                ));
            }
            p
        }
    };
    std::fs::copy(&d.path, &dest).map_err(|e| io(&dest, e))?;
    output::line(
        ctx,
        &format!(
            "saved {file_name} ({}) to {}",
            size_for_people(d.size),
            dest.display()
        ),
        serde_json::json!({
            "attachmentId": id,
            "name": name,
            "path": dest,
            "size": d.size,
            "contentType": d.content_type,
            "thumbnail": thumbnail,
        }),
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_name_is_a_plain_file_name() {
        assert_eq!(
            save_name(Some("a.txt"), "a_1", Variant::File, "text/plain"),
            "a.txt"
        );
        assert_eq!(
            save_name(Some("../x/b.png"), "a_1", Variant::File, "image/png"),
            "b.png"
        );
        assert_eq!(save_name(Some(".."), "a_1", Variant::File, ""), "a_1");
        assert_eq!(save_name(None, "a_1", Variant::File, ""), "a_1");
        assert_eq!(
            save_name(Some("p.jpg"), "a_1", Variant::Thumbnail, "image/jpeg"),
            "p.jpg.thumbnail.jpg"
        );
        assert_eq!(size_for_people(300_000), "293 KB");
        assert_eq!(size_for_people(2 * 1024 * 1024 + 200_000), "2.2 MB");
    }
}
