//! Frame to bytes. Writes exactly the headers it is given (use [`Frame::with_body`] to set
//! `content-length`), escaped for the version unless the command is `CONNECT`, `STOMP` or
//! `CONNECTED`.

use crate::escape::escape_into;
use crate::{Frame, Version};
use bytes::Bytes;

/// Appends the wire form of `frame` (ending in NUL) to `out`.
pub fn encode(frame: &Frame, version: Version, out: &mut Vec<u8>) {
    let escape = frame.command.escapes_headers();
    out.reserve(frame.command.as_str().len() + 64 * frame.headers.len() + frame.body.len() + 2);
    out.extend_from_slice(frame.command.as_str().as_bytes());
    out.push(b'\n');
    for (name, value) in &frame.headers {
        write_header(name, value, escape.then_some(version), out);
    }
    write_body(&frame.body, out);
}

/// The wire form of `frame` as one buffer.
pub fn encode_to_bytes(frame: &Frame, version: Version) -> Bytes {
    let mut out = Vec::new();
    encode(frame, version, &mut out);
    Bytes::from(out)
}

/// Appends one `name:value` header line, escaped for `escape` (`None`: written as is).
pub(crate) fn write_header(name: &str, value: &str, escape: Option<Version>, out: &mut Vec<u8>) {
    match escape {
        Some(version) => {
            escape_into(name, version, out);
            out.push(b':');
            escape_into(value, version, out);
        }
        None => {
            out.extend_from_slice(name.as_bytes());
            out.push(b':');
            out.extend_from_slice(value.as_bytes());
        }
    }
    out.push(b'\n');
}

/// Appends the blank line that ends the head, the body and the NUL that ends the frame.
pub(crate) fn write_body(body: &[u8], out: &mut Vec<u8>) {
    out.push(b'\n');
    out.extend_from_slice(body);
    out.push(0);
}
