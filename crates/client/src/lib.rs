//! The Tidings desktop engine without a window: the live connection (STOMP 1.2 over
//! WebSocket), the local SQLite cache, catch-up over REST, and the outbox. The desktop shell
//! and the `tidings` command-line client both embed it.

pub mod backoff;
pub mod cache;
pub mod check;
pub mod connection;
pub mod credentials;
pub mod engine;
pub mod error;
pub mod fsname;
pub mod http;
pub mod profile;
pub mod tls;

pub use error::{ClientError, ClientResult};
