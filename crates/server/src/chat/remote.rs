//! What the chat domain does with events from other nodes ([`crate::cluster::Inbound`]):
//! publish them to this node's subscribers, drop revoked subscriptions, feed SSE streams,
//! refuse signed-out tokens, derive presence events, and end sessions and streams after
//! the bus lost events.

use super::Chat;
use crate::cluster::Inbound;
use bytes::Bytes;
use tidings_proto::Notification;

impl Inbound for Chat {
    fn publish(
        &self,
        destination: &str,
        headers: Vec<(String, String)>,
        body: Bytes,
        droppable: bool,
    ) {
        if let Err(e) = self
            .broker
            .publish_local(destination, headers, body, droppable)
        {
            tracing::warn!(%destination, error = %e, "could not deliver an event from another node");
        }
    }

    fn drop_subscriptions(&self, user: &str, destination: &str) {
        self.broker.drop_local(user, destination);
    }

    fn notification(&self, n: Notification) {
        self.feed.publish(&n);
    }

    fn revoke(&self, sid: &str, until: u64) {
        self.accounts.revoke_from_peer(sid, until);
    }

    fn presence(&self, user: &str, online: bool) {
        // With a session here, the user was and stays online as far as this node's
        // subscribers know.
        if !self.presence.online(user) {
            self.publish_presence(user, online);
        }
    }

    fn gap(&self) {
        let sessions = self.broker.end_sessions(
            "events were lost between server nodes",
            "This server lost its connection to the other nodes for a while, so messages sent meanwhile may not have reached this connection. Reconnect and catch up from the history.",
        );
        self.feed.end_streams();
        tracing::warn!(
            sessions,
            "ended this node's sessions and notification streams after a bus outage"
        );
    }
}
