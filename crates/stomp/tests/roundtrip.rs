//! Property tests: every frame a version can carry decodes back to itself, however the
//! stream is cut and whatever it is packed with; arbitrary bytes never panic the decoder,
//! never make it hold more than the frame limit, and give the same outcome however cut.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

mod common;

use common::{feed, Outcome};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use tidings_stomp::{encode, encode_to_bytes, Command, Frame, Item, Limits, Version};

/// What a header may hold for a command in a version: escaped frames carry anything the
/// version can escape; 1.0 frames and `CONNECT`/`STOMP`/`CONNECTED` carry no EOL
/// characters, and no colon in a name.
#[derive(Debug, Clone, Copy)]
struct Charset {
    colon_in_name: bool,
    lf: bool,
    cr: bool,
}

impl Charset {
    fn of(command: Command, version: Version) -> Charset {
        match (command.escapes_headers(), version) {
            (false, _) | (true, Version::V1_0) => Charset {
                colon_in_name: false,
                lf: false,
                cr: false,
            },
            (true, Version::V1_1) => Charset {
                colon_in_name: true,
                lf: true,
                cr: false,
            },
            (true, Version::V1_2) => Charset {
                colon_in_name: true,
                lf: true,
                cr: true,
            },
        }
    }

    fn allows(self, c: char, in_name: bool) -> bool {
        match c {
            ':' => !in_name || self.colon_in_name,
            '\n' => self.lf,
            '\r' => self.cr,
            _ => true,
        }
    }
}

/// Any char, with the ones STOMP treats specially made common.
fn header_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>(),
        2 => select(vec![':', '\n', '\r', '\\', '\0', ' ', 'c', 'n', 'r']),
    ]
}

fn header_text(charset: Charset, in_name: bool, max_len: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(header_char(), 0..max_len).prop_map(move |chars| {
        chars
            .into_iter()
            .map(|c| if charset.allows(c, in_name) { c } else { '_' })
            .collect()
    })
}

fn header(charset: Charset) -> impl Strategy<Value = (String, String)> {
    (
        header_text(charset, true, 8),
        header_text(charset, false, 16),
    )
        .prop_map(|(name, value)| {
            // A random `content-length` would frame the body differently from what is sent.
            let name = if name == "content-length" {
                name + "_"
            } else {
                name
            };
            (name, value)
        })
}

#[derive(Debug, Clone)]
enum Body {
    None,
    /// Set with `Frame::with_body`, so it has a `content-length` and may hold NUL.
    Sized(Vec<u8>),
    /// No `content-length`: it ends at the first NUL, so it holds none.
    Terminated(Vec<u8>),
}

fn body(command: Command) -> BoxedStrategy<Body> {
    if command.allows_body() {
        prop_oneof![
            Just(Body::None),
            prop::collection::vec(any::<u8>(), 0..64).prop_map(Body::Sized),
            prop::collection::vec(1..=u8::MAX, 1..64).prop_map(Body::Terminated),
        ]
        .boxed()
    } else {
        prop_oneof![Just(Body::None), Just(Body::Sized(Vec::new()))].boxed()
    }
}

fn frame(version: Version) -> impl Strategy<Value = Frame> {
    select(Command::ALL.to_vec())
        .prop_flat_map(move |command| {
            let charset = Charset::of(command, version);
            (
                Just(command),
                prop::collection::vec(header(charset), 0..6),
                body(command),
            )
        })
        .prop_map(|(command, headers, body)| {
            let mut frame = Frame::new(command);
            frame.headers = headers;
            match body {
                Body::None => frame,
                Body::Sized(bytes) => frame.with_body(bytes),
                Body::Terminated(bytes) => {
                    frame.body = bytes.into();
                    frame
                }
            }
        })
}

fn version() -> impl Strategy<Value = Version> {
    select(vec![Version::V1_0, Version::V1_1, Version::V1_2])
}

fn versioned_frame() -> impl Strategy<Value = (Version, Frame)> {
    version().prop_flat_map(|version| (Just(version), frame(version)))
}

/// Cuts `input` at the given points (in any order, repeats allowed).
fn cut<'a>(input: &'a [u8], points: &[Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = points.iter().map(|p| p.index(input.len() + 1)).collect();
    at.push(0);
    at.push(input.len());
    at.sort_unstable();
    at.windows(2).map(|w| &input[w[0]..w[1]]).collect()
}

/// Bytes that look like STOMP often enough to reach every state of the decoder.
fn stompish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        select(vec![
            &b"SEND"[..],
            b"MESSAGE",
            b"CONNECT",
            b"SUBSCRIBE",
            b"ERROR",
            b"\n",
            b"\r\n",
            b"\r",
            b"\n\n",
            b":",
            b"\\",
            b"\\c",
            b"\\r",
            b"content-length:",
            b"content-length:3\n",
            b"0",
            b"7",
            b"\0",
            b"\xff",
            b"abc",
        ])
        .prop_map(<[u8]>::to_vec),
    ];
    prop::collection::vec(token, 0..48).prop_map(|tokens| tokens.concat())
}

fn small_limits() -> impl Strategy<Value = Limits> {
    (1..96usize, 0..6usize, 0..48usize, 0..96usize).prop_map(|(frame, headers, line, body)| {
        Limits {
            max_frame_bytes: frame,
            max_headers: headers,
            max_header_line: line,
            max_body_bytes: body,
        }
    })
}

proptest! {
    #[test]
    fn every_frame_decodes_to_itself((version, frame) in versioned_frame()) {
        let wire = encode_to_bytes(&frame, version);
        prop_assert_eq!(
            feed(Limits::default(), version, [&wire[..]]),
            Outcome::clean(vec![Item::Frame(frame)])
        );
    }

    #[test]
    fn every_frame_split_anywhere_decodes_to_itself(
        (version, frame) in versioned_frame(),
        split in any::<Index>(),
    ) {
        let wire = encode_to_bytes(&frame, version);
        let (head, tail) = wire.split_at(split.index(wire.len() + 1));
        prop_assert_eq!(
            feed(Limits::default(), version, [head, tail]),
            Outcome::clean(vec![Item::Frame(frame)])
        );
    }

    #[test]
    fn packed_frames_and_heart_beats_cut_anywhere_decode_in_order(
        (version, frames) in version().prop_flat_map(|v| {
            (Just(v), prop::collection::vec(frame(v), 1..5))
        }),
        eols in prop::collection::vec(prop::collection::vec(any::<bool>(), 0..3), 5),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for (frame, eols) in frames.into_iter().zip(&eols) {
            for &crlf in eols {
                wire.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
                expected.push(Item::HeartBeat);
            }
            encode(&frame, version, &mut wire);
            expected.push(Item::Frame(frame));
        }
        prop_assert_eq!(
            feed(Limits::default(), version, cut(&wire, &cuts)),
            Outcome::clean(expected)
        );
    }

    #[test]
    fn random_bytes_never_panic_overfill_or_depend_on_the_cut(
        limits in small_limits(),
        version in version(),
        input in prop::collection::vec(any::<u8>(), 0..256),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        // `feed` panics if the decoder waits holding more than the frame limit.
        let whole = feed(limits, version, [&input[..]]);
        prop_assert_eq!(feed(limits, version, cut(&input, &cuts)), whole.clone());
        prop_assert_eq!(feed(limits, version, input.chunks(1)), whole);
    }

    #[test]
    fn stomp_like_bytes_never_panic_overfill_or_depend_on_the_cut(
        limits in small_limits(),
        version in version(),
        input in stompish_bytes(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let whole = feed(limits, version, [&input[..]]);
        prop_assert_eq!(feed(limits, version, cut(&input, &cuts)), whole.clone());
        prop_assert_eq!(feed(limits, version, input.chunks(1)), whole);
    }
}
