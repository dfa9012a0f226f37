//! STOMP destinations of the Tidings contract (Spring's conventions).

/// Every new message (and read receipt of the user's own) in the user's conversations.
pub const USER_MESSAGES: &str = "/user/queue/messages";
/// The user's notifications.
pub const USER_NOTIFICATIONS: &str = "/user/queue/notifications";
/// Errors about the user's own `SEND`s.
pub const USER_ERRORS: &str = "/user/queue/errors";
/// Online/offline changes.
pub const PRESENCE: &str = "/topic/presence";
/// System-wide announcements.
pub const ANNOUNCEMENTS: &str = "/topic/announcements";

/// Messages, typing and read receipts of one conversation (participants only).
pub fn conversation_topic(cid: &str) -> String {
    format!("/topic/conversations/{cid}")
}

/// `SEND` here to post a message.
pub fn send(cid: &str) -> String {
    format!("/app/conversations/{cid}/send")
}

/// `SEND` here to say you are typing.
pub fn typing(cid: &str) -> String {
    format!("/app/conversations/{cid}/typing")
}

/// `SEND` here to move your read marker.
pub fn read(cid: &str) -> String {
    format!("/app/conversations/{cid}/read")
}

/// Where the server publishes for one user: `/user/{name}/queue/x` for `/user/queue/x`.
pub fn for_user(user: &str, user_destination: &str) -> String {
    let rest = user_destination
        .strip_prefix("/user/")
        .unwrap_or(user_destination);
    format!("/user/{user}/{rest}")
}

/// An application destination, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppDestination<'a> {
    Send(&'a str),
    Typing(&'a str),
    Read(&'a str),
}

impl<'a> AppDestination<'a> {
    pub fn parse(destination: &'a str) -> Option<AppDestination<'a>> {
        let rest = destination.strip_prefix("/app/conversations/")?;
        let (cid, action) = rest.split_once('/')?;
        if cid.is_empty() || cid.contains('/') {
            return None;
        }
        match action {
            "send" => Some(AppDestination::Send(cid)),
            "typing" => Some(AppDestination::Typing(cid)),
            "read" => Some(AppDestination::Read(cid)),
            _ => None,
        }
    }
}

/// The conversation id of `/topic/conversations/{cid}`.
pub fn parse_conversation_topic(destination: &str) -> Option<&str> {
    let cid = destination.strip_prefix("/topic/conversations/")?;
    (!cid.is_empty() && !cid.contains('/')).then_some(cid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_destinations_parse() {
        assert_eq!(
            AppDestination::parse("/app/conversations/c1/send"),
            Some(AppDestination::Send("c1"))
        );
        assert_eq!(
            AppDestination::parse(&read("c_9")),
            Some(AppDestination::Read("c_9"))
        );
        assert_eq!(AppDestination::parse("/app/conversations//send"), None);
        assert_eq!(AppDestination::parse("/app/conversations/c1/x/send"), None);
        assert_eq!(AppDestination::parse("/app/other"), None);
        assert_eq!(for_user("bob", USER_MESSAGES), "/user/bob/queue/messages");
        assert_eq!(
            parse_conversation_topic("/topic/conversations/c1"),
            Some("c1")
        );
        assert_eq!(parse_conversation_topic("/topic/conversations/c1/x"), None);
    }
}
