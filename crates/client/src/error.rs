//! Errors of the engine and its parts, sorted by what the caller can do about them.

use crate::cache::CacheError;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached (network down, server stopped): try again later.
    #[error("cannot reach the server at {0}: {1}")]
    Unreachable(String, String),
    /// The credentials are not (or no longer) accepted: sign in again.
    #[error("not signed in: {0}")]
    Unauthorized(String),
    /// The server refused the request as it stands (validation, permission, not found).
    #[error("{message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// The server failed (5xx) or answered something this client cannot read.
    #[error("the server failed: {0}")]
    Server(String),
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// A configuration or profile problem, with the sentence to show.
    #[error("{0}")]
    Config(String),
    /// A local file (the credentials, a profile, a CA file) could not be read or written,
    /// with the sentence to show.
    #[error("{0}")]
    Io(String),
}

pub type ClientResult<T> = Result<T, ClientError>;
