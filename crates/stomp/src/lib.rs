//! A sans-IO STOMP 1.0/1.1/1.2 codec: bytes in, frames out, and frames back to bytes.
//!
//! It knows nothing of sockets or runtimes. [`Decoder`] buffers what the transport hands
//! it and yields [`Item`]s (frames and heart-beat EOLs); [`encode`] writes a [`Frame`] for a
//! negotiated [`Version`]; [`MessageHead`] and [`MessageTail`] build the `MESSAGE` frame so
//! that a message's common part is encoded once for all its deliveries. Every limit in
//! [`Limits`] is checked before the bytes it guards are allocated, so a peer cannot make the
//! decoder hold more than about one frame's limit.
//!
//! Header order is kept; when a header repeats, the first occurrence wins
//! ([`Frame::header`]), as STOMP 1.2 requires.

mod decode;
mod encode;
mod escape;
mod frame;
mod message;
mod negotiate;

pub use decode::{DecodeError, Decoder, Item, Limits};
pub use encode::{encode, encode_to_bytes};
pub use frame::{Command, Frame, Version};
pub use message::{MessageHead, MessageTail};
pub use negotiate::{negotiate_version, HeartBeat};
