//! The IPC's error: what a command that fails gives the UI, `{code, message}`, with the code
//! from a closed set ([`IpcCode`], a union of strings in the generated TypeScript), and the
//! one mapping from the engine's errors to it. The message is for people: what happened and
//! what to do, in a sentence, never the transport's internals (those go to the log).

use serde::Serialize;
use tidings_client::cache::CacheError;
use tidings_client::ClientError;

/// What the UI can do about a failed command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum IpcCode {
    /// Not signed in, or the credentials were refused: sign in (again).
    NotSignedIn,
    /// The server could not be reached: try again later.
    Unreachable,
    /// The server refused the request as it stands.
    Refused,
    /// The request or a setting is not valid as given.
    Invalid,
    /// A local file (settings, credentials, cache directory) could not be read or written.
    Io,
    /// The server or the cache failed.
    Failed,
    /// Checking, downloading or installing an update failed.
    Update,
}

/// An error as the UI receives it.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct IpcError {
    pub code: IpcCode,
    pub message: String,
}

impl IpcError {
    pub fn new(code: IpcCode, message: impl Into<String>) -> IpcError {
        IpcError {
            code,
            message: message.into(),
        }
    }
}

impl From<ClientError> for IpcError {
    fn from(e: ClientError) -> IpcError {
        let code = match &e {
            ClientError::Unauthorized(_) => IpcCode::NotSignedIn,
            ClientError::Unreachable(..) => IpcCode::Unreachable,
            ClientError::Refused { .. } => IpcCode::Refused,
            ClientError::Config(_) => IpcCode::Invalid,
            ClientError::Io(_) | ClientError::Cache(CacheError::Io(_)) => IpcCode::Io,
            ClientError::Server(_) | ClientError::Cache(_) => IpcCode::Failed,
        };
        tracing::debug!(error = %e, "command failed");
        IpcError::new(code, words(&e))
    }
}

/// The sentence a person reads for an engine error: what happened, and what to do.
pub fn words(e: &ClientError) -> String {
    match e {
        ClientError::Unreachable(base, detail) => unreachable_words(base, detail),
        ClientError::Unauthorized(reason) => {
            if reason.contains("wrong username or password") {
                "Wrong username or password. Check them and try again, or create an account.".into()
            } else {
                format!("You are signed out ({reason}). Sign in again.")
            }
        }
        ClientError::Refused { status: 429, .. } => {
            "Too many attempts in a short time. Wait a moment, then try again.".into()
        }
        ClientError::Refused { message, .. } => sentence(message),
        ClientError::Server(_) => {
            "The server had a problem and could not do this. Try again in a moment.".into()
        }
        ClientError::Cache(CacheError::Io(io)) => format!(
            "Tidings cannot use its data folder ({io}). Check that the disk has space and the \
             folder can be written, then restart Tidings."
        ),
        ClientError::Cache(_) => "Tidings could not read or write its local copy of your \
             messages. Restart Tidings; if it happens again, sign out and in again."
            .into(),
        ClientError::Config(m) | ClientError::Io(m) => sentence(m),
    }
}

/// "Can't reach chat.example.com: the connection was refused. Check the address, or try again."
fn unreachable_words(base: &str, detail: &str) -> String {
    let host = host_of(base);
    let d = detail.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| d.contains(w));
    if d.starts_with("offline") {
        "You are offline. Messages you write wait and go when the connection is back; try this \
         again then."
            .into()
    } else if has(&["connection refused", "os error 111"]) {
        format!("Can't reach {host}: the connection was refused. Check the address, or try again.")
    } else if has(&[
        "dns error",
        "failed to lookup",
        "name or service not known",
        "no address associated",
        "nodename nor servname",
    ]) {
        format!("Can't find a server called {host}. Check the address.")
    } else if has(&["certificate", "tls", "handshake"]) {
        format!(
            "Can't connect securely to {host}: its certificate is not trusted. Check the address, \
             or ask the server's administrator."
        )
    } else if has(&["timed out", "timeout", "deadline"]) {
        format!(
            "Can't reach {host}: it did not answer in time. Check your connection, or try again."
        )
    } else if has(&["network is unreachable", "os error 101", "no route to host"]) {
        format!("Can't reach {host}: there is no network. Check your connection, or try again.")
    } else if has(&[
        "connection reset",
        "broken pipe",
        "connection closed",
        "eof",
    ]) {
        format!("Lost the connection to {host}. Try again.")
    } else {
        format!("Can't reach {host}. Check the address and your connection, or try again.")
    }
}

/// `chat.example.com` from `https://chat.example.com:8443/x` (the port kept when not the default).
fn host_of(base: &str) -> &str {
    let rest = base.split_once("://").map_or(base, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

/// A message as a sentence: a capital first letter and a full stop.
fn sentence(m: &str) -> String {
    let m = m.trim();
    let mut chars = m.chars();
    let mut out: String = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => return "Something went wrong. Try again.".into(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// A request refused as not valid, with the reason.
pub fn invalid(message: impl Into<String>) -> IpcError {
    IpcError::new(IpcCode::Invalid, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_strings_and_io_failures_have_their_own() {
        let io = IpcError::from(ClientError::Io("cannot write /x: denied".into()));
        let json = serde_json::to_value(&io).unwrap();
        assert_eq!(json["code"], "io");
        assert_eq!(json["message"], "Cannot write /x: denied.");
        let cache_dir = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let e = IpcError::from(ClientError::Cache(CacheError::Io(cache_dir)));
        assert_eq!(e.code, IpcCode::Io);
        let e = IpcError::from(ClientError::Unauthorized("x".into()));
        assert_eq!(serde_json::to_value(e.code).unwrap(), "not_signed_in");
        assert_eq!(
            IpcError::from(ClientError::Config("bad".into())).code,
            IpcCode::Invalid
        );
    }

    fn unreachable(detail: &str) -> String {
        words(&ClientError::Unreachable(
            "https://chat.example.com".into(),
            detail.into(),
        ))
    }

    #[test]
    fn unreachable_servers_are_explained_without_internals() {
        let refused = unreachable(
            "error sending request for url (https://chat.example.com/api/auth/login): client \
             error (Connect): tcp connect error: Connection refused (os error 111)",
        );
        assert_eq!(
            refused,
            "Can't reach chat.example.com: the connection was refused. Check the address, or try again."
        );
        assert!(unreachable("client error (Connect): dns error: failed to lookup address information: Name or service not known")
            .starts_with("Can't find a server called chat.example.com."));
        assert!(unreachable("operation timed out").contains("did not answer in time"));
        assert!(unreachable("invalid peer certificate: UnknownIssuer")
            .contains("certificate is not trusted"));
        assert!(unreachable("Network is unreachable (os error 101)").contains("no network"));
        assert!(
            unreachable("offline (no network); only messages wait").starts_with("You are offline.")
        );
        let other = unreachable("something new");
        assert_eq!(
            other,
            "Can't reach chat.example.com. Check the address and your connection, or try again."
        );
        for m in [refused, other] {
            assert!(
                !m.contains("os error") && !m.contains("client error"),
                "{m}"
            );
        }
        assert_eq!(host_of("http://127.0.0.1:8080/x"), "127.0.0.1:8080");
        assert_eq!(host_of("chat.example.com"), "chat.example.com");
    }

    #[test]
    fn every_case_says_what_to_do() {
        let cases = [
            ClientError::Unauthorized("wrong username or password".into()),
            ClientError::Unauthorized("the session was refused".into()),
            ClientError::Refused {
                status: 429,
                code: "rate_limited".into(),
                message: "slow down".into(),
            },
            ClientError::Refused {
                status: 409,
                code: "conflict".into(),
                message: "the username alice is taken".into(),
            },
            ClientError::Server("unreadable answer to /api/x: EOF at line 1".into()),
            ClientError::Cache(CacheError::Io(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space",
            ))),
            ClientError::Config("the server address starts with http:// or https://".into()),
        ];
        let said: Vec<String> = cases.iter().map(words).collect();
        assert_eq!(
            said[0],
            "Wrong username or password. Check them and try again, or create an account."
        );
        assert!(said[1].contains("Sign in again"));
        assert!(said[2].contains("Wait a moment"));
        assert_eq!(said[3], "The username alice is taken.");
        assert!(!said[4].contains("/api/x"), "no internals: {}", said[4]);
        assert!(said[5].contains("no space") && said[5].contains("restart Tidings"));
        assert_eq!(
            said[6],
            "The server address starts with http:// or https://."
        );
        for s in &said {
            assert!(s.starts_with(char::is_uppercase) && s.ends_with('.'), "{s}");
        }
        assert_eq!(sentence("  "), "Something went wrong. Try again.");
    }
}
