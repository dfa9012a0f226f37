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

/// `SEND` here to replace the content of your message `mid`.
pub fn edit(cid: &str, mid: &str) -> String {
    format!("/app/conversations/{cid}/messages/{mid}/edit")
}

/// `SEND` here (any body) to delete your message `mid`.
pub fn delete(cid: &str, mid: &str) -> String {
    format!("/app/conversations/{cid}/messages/{mid}/delete")
}

/// `SEND` here to put your reaction on message `mid`, or take it off.
pub fn react(cid: &str, mid: &str) -> String {
    format!("/app/conversations/{cid}/messages/{mid}/react")
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
    /// `(cid, mid)`
    Edit(&'a str, &'a str),
    /// `(cid, mid)`
    Delete(&'a str, &'a str),
    /// `(cid, mid)`
    React(&'a str, &'a str),
}

impl<'a> AppDestination<'a> {
    pub fn parse(destination: &'a str) -> Option<AppDestination<'a>> {
        let rest = destination.strip_prefix("/app/conversations/")?;
        let (cid, action) = rest.split_once('/')?;
        if cid.is_empty() {
            return None;
        }
        if let Some(on_message) = action.strip_prefix("messages/") {
            let (mid, verb) = on_message.split_once('/')?;
            if mid.is_empty() {
                return None;
            }
            return match verb {
                "edit" => Some(AppDestination::Edit(cid, mid)),
                "delete" => Some(AppDestination::Delete(cid, mid)),
                "react" => Some(AppDestination::React(cid, mid)),
                _ => None,
            };
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
        assert_eq!(
            AppDestination::parse(&edit("c1", "m_2")),
            Some(AppDestination::Edit("c1", "m_2"))
        );
        assert_eq!(
            AppDestination::parse(&delete("c1", "m_2")),
            Some(AppDestination::Delete("c1", "m_2"))
        );
        assert_eq!(
            AppDestination::parse(&react("c1", "m_2")),
            Some(AppDestination::React("c1", "m_2"))
        );
        assert_eq!(
            AppDestination::parse("/app/conversations/c1/messages//edit"),
            None
        );
        assert_eq!(
            AppDestination::parse("/app/conversations/c1/messages/m/x/edit"),
            None
        );
        assert_eq!(
            AppDestination::parse("/app/conversations/c1/messages/m/pin"),
            None
        );
        assert_eq!(for_user("bob", USER_MESSAGES), "/user/bob/queue/messages");
        assert_eq!(
            parse_conversation_topic("/topic/conversations/c1"),
            Some("c1")
        );
        assert_eq!(parse_conversation_topic("/topic/conversations/c1/x"), None);
    }
}
