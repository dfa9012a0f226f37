//! STOMP over TCP (and TLS): the optional listener that Spring's broker relay and native
//! STOMP clients (stomp.py, stompjs over a socket) connect to. The same sessions as the
//! WebSocket endpoint (`session`), fed from a byte stream: NUL-terminated frames, EOLs
//! between them as heart-beats. What it adds is the relay's system login (`system`), its
//! own connection caps and TLS (`listener`), and the `[stomp_tcp]` table (`config`).

pub mod config;
mod listener;
pub mod system;

pub(crate) use listener::run;
pub use listener::StompListener;
