//! What the engine does while connected: subscribing, taking frames in (what a Tidings
//! event does to the cache is in [`super::events`]), sending the outbox and read markers,
//! typing.

use super::run::{Background, Live, Runner};
use super::Target;
use crate::error::{ClientError, ClientResult};
use std::sync::Arc;
use tidings_proto::api::SendMessage;
use tidings_proto::{dest, Envelope, Event, Timestamp, MAX_CONTENT_CHARS};
use tidings_stomp::{Command as Stomp, Frame};
use tokio::sync::mpsc;

/// Subscription ids on a Tidings server.
const MESSAGES: &str = "messages";
const NOTIFICATIONS: &str = "notifications";
pub(super) const ERRORS: &str = "errors";
const PRESENCE: &str = "presence";
const ANNOUNCEMENTS: &str = "announcements";
const FOCUS: &str = "focus";

/// The checks the server makes, made before a message is queued, so that a message that
/// can never be sent is refused at once.
pub(crate) fn check_content(content: &str) -> ClientResult<()> {
    let n = content.chars().count();
    if content.trim().is_empty() || n > MAX_CONTENT_CHARS {
        return Err(ClientError::Refused {
            status: 400,
            code: "invalid".into(),
            message: format!(
                "a message is 1-{MAX_CONTENT_CHARS} characters and not only spaces ({n} given)"
            ),
        });
    }
    Ok(())
}

fn subscribe_frame(destination: &str, id: &str, ack: &str) -> Frame {
    Frame::new(Stomp::Subscribe)
        .with_header("destination", destination)
        .with_header("id", id)
        .with_header("ack", ack)
}

impl Runner {
    /// Subscribes to everything this target needs; the last `SUBSCRIBE` asks for a
    /// receipt, and catch-up starts when it comes (from then on nothing is missed live).
    pub(super) async fn subscribe(&mut self, live: &mut Live) -> ClientResult<()> {
        let sender = live
            .sender
            .clone()
            .ok_or_else(|| ClientError::Server("not connected".into()))?;
        let mut frames = Vec::new();
        match &self.config.target {
            Target::Tidings(_) => {
                frames.push(subscribe_frame(dest::USER_MESSAGES, MESSAGES, "auto"));
                frames.push(subscribe_frame(
                    dest::USER_NOTIFICATIONS,
                    NOTIFICATIONS,
                    "client-individual",
                ));
                frames.push(subscribe_frame(dest::USER_ERRORS, ERRORS, "auto"));
                frames.push(subscribe_frame(dest::PRESENCE, PRESENCE, "auto"));
                frames.push(subscribe_frame(dest::ANNOUNCEMENTS, ANNOUNCEMENTS, "auto"));
            }
            Target::Profile(p) => {
                for (i, s) in p.subscribe.iter().enumerate() {
                    frames.push(subscribe_frame(
                        &s.destination,
                        &format!("p{i}"),
                        "client-individual",
                    ));
                }
            }
        }
        let n = frames.len();
        for (i, mut f) in frames.into_iter().enumerate() {
            if i + 1 == n {
                f.push_header("receipt", "subscribed");
            }
            sender
                .send(&f)
                .await
                .map_err(|e| ClientError::Server(e.to_string()))?;
        }
        self.follow_focus(live).await
    }

    /// Follows the focused conversation's topic (typing, read receipts of others).
    pub(super) async fn follow_focus(&mut self, live: &mut Live) -> ClientResult<()> {
        if !matches!(self.config.target, Target::Tidings(_)) {
            return Ok(());
        }
        let Some(sender) = live.sender.clone() else {
            return Ok(());
        };
        if live.focused_sub.as_deref() == self.focus.as_deref() {
            return Ok(());
        }
        let send = |f: Frame| {
            let sender = sender.clone();
            async move {
                sender
                    .send(&f)
                    .await
                    .map_err(|e| ClientError::Server(e.to_string()))
            }
        };
        if live.focused_sub.take().is_some() {
            send(Frame::new(Stomp::Unsubscribe).with_header("id", FOCUS)).await?;
        }
        if let Some(cid) = &self.focus {
            // Only conversations the cache knows (and so the user is in): a refused
            // SUBSCRIBE would end the connection.
            if self
                .cache
                .conversation(cid)?
                .is_some_and(|c| !c.participants.is_empty() && !c.left)
            {
                send(subscribe_frame(
                    &dest::conversation_topic(cid),
                    FOCUS,
                    "auto",
                ))
                .await?;
                live.focused_sub = Some(cid.clone());
            }
        }
        Ok(())
    }

    pub(super) async fn send_typing(&self, live: &Live, cid: &str, typing: bool) {
        let (Some(sender), true) = (&live.sender, live.subscribed) else {
            return;
        };
        let f = Frame::new(Stomp::Send)
            .with_header("destination", dest::typing(cid))
            .with_header("content-type", "application/json")
            .with_body(serde_json::json!({ "typing": typing }).to_string());
        let _ = sender.send(&f).await;
    }

    /// Sends due outbox entries (within the window) and read markers the server lacks.
    pub(super) async fn flush(&mut self, live: &mut Live) -> ClientResult<()> {
        let Some(sender) = live.sender.clone() else {
            return Ok(());
        };
        if !matches!(self.config.target, Target::Tidings(_)) {
            return Ok(());
        }
        let in_flight: std::collections::HashSet<String> = live.sending.values().cloned().collect();
        super::attachments::sweep_sent(&self.cache);
        for entry in self.cache.due(Timestamp::now())? {
            if !entry.uploaded() {
                // Its files first; the job pokes when they are all stored.
                self.start_upload(&entry.client_id);
                continue;
            }
            if live.sending.len() >= self.config.send_window {
                break;
            }
            if in_flight.contains(&entry.client_id) {
                continue;
            }
            let body = SendMessage {
                client_id: entry.client_id.clone(),
                content: entry.content.clone(),
                content_type: entry.content_type,
                reply_to: entry.reply_to.clone(),
                mentions: entry.mentions.clone(),
                attachments: entry
                    .attachments
                    .iter()
                    .filter_map(|f| f.upload_id.clone())
                    .collect(),
            };
            let receipt = Runner::receipt_id(live, "out");
            let f = Frame::new(Stomp::Send)
                .with_header("destination", dest::send(&entry.conversation_id))
                .with_header("content-type", "application/json")
                .with_header("receipt", &receipt)
                .with_body(serde_json::to_string(&body).unwrap_or_default());
            if !self.cache.mark_sending(&entry.client_id)? {
                continue; // cancelled meanwhile
            }
            live.sending.insert(receipt, entry.client_id);
            sender
                .send(&f)
                .await
                .map_err(|e| ClientError::Server(e.to_string()))?;
        }
        for (cid, seq) in self.cache.unsynced_reads()? {
            if !live.reading.insert((cid.clone(), seq)) {
                continue;
            }
            let f = Frame::new(Stomp::Send)
                .with_header("destination", dest::read(&cid))
                .with_header("content-type", "application/json")
                .with_header("receipt", format!("read:{seq}:{cid}"))
                .with_body(serde_json::json!({ "upTo": seq }).to_string());
            sender
                .send(&f)
                .await
                .map_err(|e| ClientError::Server(e.to_string()))?;
        }
        self.touched();
        Ok(())
    }

    /// One frame from the server.
    pub(super) async fn on_frame(
        &mut self,
        f: Frame,
        live: &mut Live,
        bg: &mpsc::Sender<Background>,
    ) -> ClientResult<()> {
        match f.command {
            Stomp::Receipt => self.on_receipt(f.header("receipt-id").unwrap_or(""), live, bg),
            Stomp::Message => {
                let sub = f.header("subscription").unwrap_or("").to_owned();
                let ack = f.header("ack").map(str::to_owned);
                let stored = match &self.config.target {
                    Target::Tidings(_) => self.on_tidings_message(&sub, &f, live, bg)?,
                    Target::Profile(p) => {
                        let index: Option<usize> =
                            sub.strip_prefix('p').and_then(|i| i.parse().ok());
                        if let Some(s) = index.and_then(|i| p.subscribe.get(i)) {
                            if let Some(n) =
                                s.notification(&p.name, f.header("message-id"), &f.body)
                            {
                                self.cache.insert_foreign_notification(&n, s.source())?;
                                let _ = self
                                    .events
                                    .send(Arc::new(Envelope::new(Event::Notification(n), None)));
                            }
                        }
                        true
                    }
                };
                // A conversation left or joined again changes what the focus can follow.
                self.follow_focus(live).await?;
                // Acknowledged only once it is in the cache: the server redelivers otherwise.
                if let (Some(id), true, Some(sender)) = (ack, stored, &live.sender) {
                    let _ = sender
                        .send(&Frame::new(Stomp::Ack).with_header("id", id))
                        .await;
                }
                self.touched();
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn on_receipt(
        &mut self,
        id: &str,
        live: &mut Live,
        bg: &mpsc::Sender<Background>,
    ) -> ClientResult<()> {
        if id == "subscribed" {
            live.subscribed = true;
            self.start_catch_up(live, bg);
        } else if id == "probe" {
            live.probe_deadline = None;
        } else if let Some(client_id) = live.sending.remove(id) {
            self.cache.mark_sent(&client_id, None)?;
            live.dirty = true;
            self.touched();
        } else if let Some(rest) = id.strip_prefix("read:") {
            if let Some((seq, cid)) = rest.split_once(':') {
                if let Ok(seq) = seq.parse::<i64>() {
                    live.reading.remove(&(cid.to_owned(), seq));
                    self.cache
                        .apply_read_receipt(cid, &self.me, seq, &self.me)?;
                    self.touched();
                }
            }
        }
        Ok(())
    }

    /// `{"error", "message", "receiptId"}` on `/user/queue/errors`: what became of a send.
    pub(super) fn on_send_error(&mut self, body: &[u8], live: &mut Live) -> ClientResult<()> {
        let Ok(err) = serde_json::from_slice::<serde_json::Value>(body) else {
            return Ok(());
        };
        let receipt = err["receiptId"].as_str().unwrap_or_default();
        let kind = err["error"].as_str().unwrap_or("error");
        let message = err["message"].as_str().unwrap_or(kind);
        live.dirty = true;
        if let Some(client_id) = live.sending.remove(receipt) {
            if kind == "rate_limited" || kind == "internal" || kind == "queue_full" {
                let attempts = self
                    .cache
                    .outbox_entry(&client_id)?
                    .map_or(1, |e| e.attempts);
                let mut b = crate::backoff::Backoff::default();
                for _ in 1..attempts {
                    b.next_delay(1.0);
                }
                let delay = b.ceiling().max(std::time::Duration::from_millis(500));
                let at = Timestamp(Timestamp::now().millis() + delay.as_millis() as i64);
                self.cache.retry_at(&client_id, at, message)?;
            } else {
                tracing::info!(%client_id, kind, %message, "the server refused a message for good");
                self.cache.mark_failed(&client_id, message)?;
            }
        } else if let Some(rest) = receipt.strip_prefix("read:") {
            if let Some((seq, cid)) = rest.split_once(':') {
                if let Ok(seq) = seq.parse::<i64>() {
                    // Refused (the user left the conversation, say): sending it again
                    // would be refused again, so it counts as done.
                    tracing::info!(cid, seq, %message, "the server refused a read marker");
                    live.reading.remove(&(cid.to_owned(), seq));
                    self.cache
                        .apply_read_receipt(cid, &self.me, seq, &self.me)?;
                }
            }
        }
        Ok(())
    }
}
