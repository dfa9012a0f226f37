//! Bytes to frames, incrementally.
//!
//! The decoder keeps the scan position of the frame being read, so input that arrives one
//! byte at a time is scanned once, not once per byte. "Not enough bytes yet" is
//! `Ok(None)`. Every limit is checked as soon as the bytes that could break it are seen:
//! a header line or header count as the head is scanned, `content-length` against the
//! body and frame limits before the body is waited for. When several limits break, the
//! error is the one whose limit the earliest byte broke, so the outcome never depends on
//! how the transport cut the input. The body is handed out as its own copy, never as a
//! slice of the input buffer: a slice would keep the whole buffer (up to the largest input
//! ever held, heart-beats included) alive for as long as the message is kept, and the buffer
//! could not be reused.

use crate::escape::unescape;
use crate::{Command, Frame, Version};
use bytes::{Buf, Bytes, BytesMut};

/// Input buffer capacity kept between frames; more is given back once the buffer is empty.
const KEEP_CAPACITY: usize = 16 * 1024;

/// Hard limits on what one frame may hold. A frame that breaks one is an error and the
/// decoder should not be used again (the stream is out of step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The whole frame: command, headers, body and NUL.
    pub max_frame_bytes: usize,
    /// Header lines per frame.
    pub max_headers: usize,
    /// One header line (or the command line), without its EOL.
    pub max_header_line: usize,
    /// The body.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: 64 * 1024,
            max_headers: 64,
            max_header_line: 8 * 1024,
            max_body_bytes: 64 * 1024,
        }
    }
}

/// What the decoder yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An EOL between frames: a heart-beat.
    HeartBeat,
    Frame(Frame),
}

/// Why the input is not a valid STOMP stream. The `Display` text is meant for the peer
/// (it goes into an `ERROR` frame's `message`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame too large: the limit is {limit} bytes")]
    FrameTooLarge { limit: usize },
    #[error("body too large: the limit is {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("too many headers: the limit is {limit}")]
    TooManyHeaders { limit: usize },
    #[error("header line too long: the limit is {limit} bytes")]
    HeaderLineTooLong { limit: usize },
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    #[error("malformed header line {0:?}: it has no colon")]
    MalformedHeader(String),
    #[error("bad header escape: {0}")]
    BadEscape(String),
    #[error("header is not valid UTF-8")]
    NotUtf8,
    #[error("invalid content-length {0:?}")]
    BadContentLength(String),
    #[error("the body is not followed by a NUL byte where content-length says it ends")]
    MissingNul,
    #[error("a {0} frame must not have a body")]
    UnexpectedBody(Command),
    #[error("stray carriage return between frames")]
    StrayCarriageReturn,
}

/// The head of the frame being read, once its blank line has been seen.
#[derive(Debug)]
struct Head {
    frame: Frame,
    body_start: usize,
    content_length: Option<usize>,
    /// How far the body has been searched for its NUL (no `content-length`).
    nul_scan: usize,
}

/// An incremental STOMP decoder.
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    version: Version,
    buf: BytesMut,
    /// How far the head of the current frame has been scanned for EOLs.
    scan: usize,
    /// Where the line being scanned starts.
    line_start: usize,
    /// Header lines seen so far in the current frame.
    header_lines: usize,
    head: Option<Head>,
}

impl Decoder {
    /// A decoder for STOMP 1.2 header escaping; see [`Decoder::set_version`].
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            version: Version::V1_2,
            buf: BytesMut::new(),
            scan: 0,
            line_start: 0,
            header_lines: 0,
            head: None,
        }
    }

    /// Sets the escaping rules once the version is negotiated. `CONNECT`, `STOMP` and
    /// `CONNECTED` frames are never escaped, so the first frame decodes either way.
    pub fn set_version(&mut self, version: Version) {
        self.version = version;
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Bytes held that are not yet part of a returned item.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Adds bytes from the transport. Call [`Decoder::decode`] until it returns `Ok(None)`
    /// after each call; the decoder then holds less than one frame's limit.
    pub fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Gives the input buffer's memory back if it holds nothing (no partial frame): for a
    /// connection about to wait for a peer that may stay silent for long. The next bytes
    /// allocate again, just what they need.
    pub fn release(&mut self) {
        if self.buf.is_empty() {
            self.buf = BytesMut::new();
        }
    }

    /// The next complete item, `Ok(None)` if more bytes are needed.
    pub fn decode(&mut self) -> Result<Option<Item>, DecodeError> {
        if self.head.is_none() {
            if self.scan == 0 {
                match self.buf.first() {
                    None => return Ok(None),
                    Some(b'\n') => {
                        self.buf.advance(1);
                        self.release_if_idle();
                        return Ok(Some(Item::HeartBeat));
                    }
                    Some(b'\r') => match self.buf.get(1) {
                        None => return Ok(None),
                        Some(b'\n') => {
                            self.buf.advance(2);
                            self.release_if_idle();
                            return Ok(Some(Item::HeartBeat));
                        }
                        Some(_) => return Err(DecodeError::StrayCarriageReturn),
                    },
                    Some(_) => {}
                }
            }
            if !self.scan_head()? {
                return Ok(None);
            }
        }
        self.take_body()
    }

    /// A large frame or a burst of heart-beats grew the buffer; once it is empty, an idle
    /// connection gives the memory back.
    fn release_if_idle(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > KEEP_CAPACITY {
            self.buf = BytesMut::new();
        }
    }

    /// Scans for the blank line that ends the head. `Ok(true)`: `self.head` is set.
    fn scan_head(&mut self) -> Result<bool, DecodeError> {
        let limits = self.limits;
        loop {
            let lf = self.buf[self.scan..].iter().position(|&b| b == b'\n');
            let open_end = lf.map_or(self.buf.len(), |i| self.scan + i);
            // The line is open up to `open_end`: a line may reach the limit plus the CR of
            // a CRLF before its LF, and the frame may reach its limit.
            first_broken(
                open_end,
                [
                    (
                        self.line_start
                            .saturating_add(limits.max_header_line)
                            .saturating_add(2),
                        DecodeError::HeaderLineTooLong {
                            limit: limits.max_header_line,
                        },
                    ),
                    (
                        limits.max_frame_bytes.saturating_add(1),
                        DecodeError::FrameTooLarge {
                            limit: limits.max_frame_bytes,
                        },
                    ),
                ],
            )?;
            let Some(i) = lf else {
                self.scan = open_end;
                return Ok(false);
            };
            let eol = self.scan + i;
            let line = strip_cr(&self.buf[self.line_start..eol]);
            if line.len() > limits.max_header_line {
                return Err(DecodeError::HeaderLineTooLong {
                    limit: limits.max_header_line,
                });
            }
            if eol + 1 > limits.max_frame_bytes {
                return Err(DecodeError::FrameTooLarge {
                    limit: limits.max_frame_bytes,
                });
            }
            let is_command_line = self.line_start == 0;
            let blank = line.is_empty();
            self.scan = eol + 1;
            self.line_start = self.scan;
            if blank && !is_command_line {
                break;
            }
            if !is_command_line {
                self.header_lines += 1;
                if self.header_lines > limits.max_headers {
                    return Err(DecodeError::TooManyHeaders {
                        limit: limits.max_headers,
                    });
                }
            }
        }
        // The head is complete and every line in it is within the limits.
        let head_len = self.scan;
        let frame = parse_head(&self.buf[..head_len], self.version)?;
        let content_length = match frame.header("content-length") {
            None => None,
            Some(v) => {
                let n: usize = v
                    .trim()
                    .parse()
                    .map_err(|_| DecodeError::BadContentLength(v.to_owned()))?;
                if n > limits.max_body_bytes {
                    return Err(DecodeError::BodyTooLarge {
                        limit: limits.max_body_bytes,
                    });
                }
                if head_len + n + 1 > limits.max_frame_bytes {
                    return Err(DecodeError::FrameTooLarge {
                        limit: limits.max_frame_bytes,
                    });
                }
                Some(n)
            }
        };
        self.head = Some(Head {
            frame,
            body_start: head_len,
            content_length,
            nul_scan: head_len,
        });
        Ok(true)
    }

    /// Waits for the body and its NUL, then hands out the frame.
    fn take_body(&mut self) -> Result<Option<Item>, DecodeError> {
        let limits = self.limits;
        let Some(head) = self.head.as_mut() else {
            return Ok(None);
        };
        let body_end = match head.content_length {
            Some(n) => {
                let end = head.body_start + n;
                if self.buf.len() <= end {
                    return Ok(None);
                }
                if self.buf[end] != 0 {
                    return Err(DecodeError::MissingNul);
                }
                end
            }
            None => {
                let nul = self.buf[head.nul_scan..].iter().position(|&b| b == 0);
                let open_end = nul.map_or(self.buf.len(), |i| head.nul_scan + i);
                // The body is open up to `open_end`; the body and the frame limits may
                // break before its NUL arrives.
                first_broken(
                    open_end,
                    [
                        (
                            head.body_start
                                .saturating_add(limits.max_body_bytes)
                                .saturating_add(1),
                            DecodeError::BodyTooLarge {
                                limit: limits.max_body_bytes,
                            },
                        ),
                        (
                            limits.max_frame_bytes.saturating_add(1),
                            DecodeError::FrameTooLarge {
                                limit: limits.max_frame_bytes,
                            },
                        ),
                    ],
                )?;
                let Some(i) = nul else {
                    head.nul_scan = open_end;
                    return Ok(None);
                };
                let body_end = head.nul_scan + i;
                if body_end + 1 > limits.max_frame_bytes {
                    return Err(DecodeError::FrameTooLarge {
                        limit: limits.max_frame_bytes,
                    });
                }
                body_end
            }
        };
        let Some(head) = self.head.take() else {
            return Ok(None);
        };
        let mut frame = head.frame;
        if body_end > head.body_start && !frame.command.allows_body() {
            return Err(DecodeError::UnexpectedBody(frame.command));
        }
        frame.body = Bytes::copy_from_slice(&self.buf[head.body_start..body_end]);
        self.buf.advance(body_end + 1);
        self.release_if_idle();
        self.scan = 0;
        self.line_start = 0;
        self.header_lines = 0;
        Ok(Some(Item::Frame(frame)))
    }
}

/// Given limits as "the input is too long once it holds this many bytes" and how many bytes
/// the input holds, the error of the limit that broke first (the first listed on a tie).
///
/// Checking this, rather than whichever limit a scan notices first, makes the error the
/// one a byte-at-a-time feed would see, however the transport cut the input.
fn first_broken<const N: usize>(
    held: usize,
    breaks_at: [(usize, DecodeError); N],
) -> Result<(), DecodeError> {
    let mut first: Option<(usize, DecodeError)> = None;
    for (at, error) in breaks_at {
        if at <= held && first.as_ref().is_none_or(|(earliest, _)| at < *earliest) {
            first = Some((at, error));
        }
    }
    first.map_or(Ok(()), |(_, error)| Err(error))
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Parses a complete head (command line, header lines, blank line).
fn parse_head(head: &[u8], version: Version) -> Result<Frame, DecodeError> {
    let mut lines = head.split(|&b| b == b'\n').map(strip_cr);
    let command_line = lines.next().unwrap_or_default();
    let command = Command::parse(command_line).ok_or_else(|| {
        DecodeError::UnknownCommand(String::from_utf8_lossy(command_line).into_owned())
    })?;
    let escaped = command.escapes_headers();
    let mut frame = Frame::new(command);
    for line in lines.take_while(|l| !l.is_empty()) {
        let colon = line.iter().position(|&b| b == b':').ok_or_else(|| {
            DecodeError::MalformedHeader(String::from_utf8_lossy(line).into_owned())
        })?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let (name, value) = if escaped {
            (
                unescape(name, version).map_err(|e| DecodeError::BadEscape(e.0))?,
                unescape(value, version).map_err(|e| DecodeError::BadEscape(e.0))?,
            )
        } else {
            (name.to_vec(), value.to_vec())
        };
        let name = String::from_utf8(name).map_err(|_| DecodeError::NotUtf8)?;
        let value = String::from_utf8(value).map_err(|_| DecodeError::NotUtf8)?;
        frame.headers.push((name, value));
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_does_not_keep_the_input_buffer_and_an_idle_decoder_gives_it_back() {
        let mut d = Decoder::new(Limits::default());
        // 130 KB of heart-beats in one piece grow the buffer, then a 1-byte body.
        d.extend(&vec![b'\n'; 130 * 1024]);
        d.extend(b"SEND\ndestination:/queue/a\n\nx\0");
        let mut beats = 0;
        let frame = loop {
            match d.decode() {
                Ok(Some(Item::HeartBeat)) => beats += 1,
                Ok(Some(Item::Frame(f))) => break f,
                other => panic!("unexpected {other:?}"),
            }
        };
        assert_eq!(beats, 130 * 1024);
        assert_eq!(&frame.body[..], b"x");
        assert!(d.buf.capacity() <= KEEP_CAPACITY, "{}", d.buf.capacity());
    }

    #[test]
    fn release_gives_back_an_empty_buffer_and_keeps_a_partial_frame() {
        let mut d = Decoder::new(Limits::default());
        d.extend(b"SEND\ndestination:/q\n\nhi\0SEND\ndest");
        assert!(matches!(d.decode(), Ok(Some(Item::Frame(_)))));
        assert!(matches!(d.decode(), Ok(None)));
        d.release();
        assert!(d.buf.capacity() > 0, "a partial frame stays");
        d.extend(b"ination:/q\n\nyo\0");
        let Ok(Some(Item::Frame(f))) = d.decode() else {
            panic!("the frame split across the release");
        };
        assert_eq!(&f.body[..], b"yo");
        assert!(matches!(d.decode(), Ok(None)));
        d.release();
        assert_eq!(d.buf.capacity(), 0);
    }
}
