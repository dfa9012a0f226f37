//! Feeding one input to a fresh [`Decoder`] in different cuts: whole, split in two at every
//! byte, and one byte at a time. A codec must not care how the transport cut its input, so
//! every cut has to give the same items and end the same way.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use tidings_stomp::{DecodeError, Decoder, Item, Limits, Version};

/// How a stream of chunks ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Every byte went into an item.
    Clean,
    /// The decoder waits for more input and holds `buffered` bytes.
    Incomplete { buffered: usize },
    /// The decoder gave up.
    Error(DecodeError),
}

/// The items a stream decoded to and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub items: Vec<Item>,
    pub end: End,
}

impl Outcome {
    pub fn clean(items: Vec<Item>) -> Outcome {
        Outcome {
            items,
            end: End::Clean,
        }
    }

    pub fn incomplete(items: Vec<Item>, buffered: usize) -> Outcome {
        Outcome {
            items,
            end: End::Incomplete { buffered },
        }
    }

    pub fn error(items: Vec<Item>, error: DecodeError) -> Outcome {
        Outcome {
            items,
            end: End::Error(error),
        }
    }
}

/// A decoder for `version` with `limits`.
pub fn decoder(limits: Limits, version: Version) -> Decoder {
    let mut decoder = Decoder::new(limits);
    decoder.set_version(version);
    decoder
}

/// Feeds `chunks` in order and drains the decoder after each one, as a transport loop
/// does. Stops at the first error.
///
/// # Panics
///
/// If the decoder ever waits for input while holding more than the frame limit.
pub fn feed<'a>(
    limits: Limits,
    version: Version,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Outcome {
    let mut decoder = decoder(limits, version);
    let mut items = Vec::new();
    for chunk in chunks {
        decoder.extend(chunk);
        loop {
            match decoder.decode() {
                Ok(Some(item)) => items.push(item),
                Ok(None) => {
                    assert!(
                        decoder.buffered() <= limits.max_frame_bytes,
                        "the decoder waits holding {} bytes, over the {}-byte frame limit",
                        decoder.buffered(),
                        limits.max_frame_bytes,
                    );
                    break;
                }
                Err(error) => return Outcome::error(items, error),
            }
        }
    }
    match decoder.buffered() {
        0 => Outcome::clean(items),
        buffered => Outcome::incomplete(items, buffered),
    }
}

/// Decodes `input` whole, split in two at every byte position, and one byte at a time;
/// asserts that every cut gives the same outcome, and returns it.
pub fn decode_every_way(limits: Limits, version: Version, input: &[u8]) -> Outcome {
    let whole = feed(limits, version, [input]);
    for at in 0..=input.len() {
        let (head, tail) = input.split_at(at);
        assert_eq!(
            feed(limits, version, [head, tail]),
            whole,
            "split at byte {at} of {:?}",
            input.escape_ascii().to_string(),
        );
    }
    assert_eq!(
        feed(limits, version, input.chunks(1)),
        whole,
        "one byte at a time: {:?}",
        input.escape_ascii().to_string(),
    );
    whole
}

/// Feeds `input` one byte at a time and returns how many bytes had arrived when the
/// decoder failed, with the error; `None` if it never failed.
pub fn trip_point(limits: Limits, version: Version, input: &[u8]) -> Option<(usize, DecodeError)> {
    let mut decoder = decoder(limits, version);
    for (i, byte) in input.iter().enumerate() {
        decoder.extend(std::slice::from_ref(byte));
        loop {
            match decoder.decode() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(error) => return Some((i + 1, error)),
            }
        }
    }
    None
}
