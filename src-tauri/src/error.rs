//! The IPC's error: what a command that fails gives the UI, `{code, message}`, with the code
//! from a closed set ([`IpcCode`], a union of strings in the generated TypeScript), and the
//! one mapping from the engine's errors to it.

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
        IpcError::new(code, e.to_string())
    }
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
        assert_eq!(json["message"], "cannot write /x: denied");
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
}
