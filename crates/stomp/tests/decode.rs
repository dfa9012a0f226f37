//! The decoder, feature by feature and error by error. Every input is decoded whole, split
//! in two at every byte and one byte at a time (`common::decode_every_way`), and all cuts
//! must agree with the exact expected outcome.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

mod common;

use common::{decode_every_way, decoder, feed, trip_point, Outcome};
use tidings_stomp::{Command, DecodeError, Decoder, Frame, Item, Limits, Version};

fn frame(command: Command, headers: &[(&str, &str)], body: &[u8]) -> Item {
    let mut frame = Frame::new(command);
    for (name, value) in headers {
        frame.push_header(*name, *value);
    }
    frame.body = body.to_vec().into();
    Item::Frame(frame)
}

fn v(version: Version, input: &[u8]) -> Outcome {
    decode_every_way(Limits::default(), version, input)
}

fn v12(input: &[u8]) -> Outcome {
    v(Version::V1_2, input)
}

fn limits(frame: usize, headers: usize, line: usize, body: usize) -> Limits {
    Limits {
        max_frame_bytes: frame,
        max_headers: headers,
        max_header_line: line,
        max_body_bytes: body,
    }
}

fn with_frame_limit(max_frame_bytes: usize) -> Limits {
    Limits {
        max_frame_bytes,
        ..Limits::default()
    }
}

fn repeat(prefix: &[u8], byte: u8, count: usize, suffix: &[u8]) -> Vec<u8> {
    let mut out = prefix.to_vec();
    out.resize(prefix.len() + count, byte);
    out.extend_from_slice(suffix);
    out
}

// ---- commands ----

#[test]
fn every_client_and_server_command_decodes() {
    for command in Command::ALL {
        let input = format!("{command}\nreceipt:r-1\n\n\0");
        assert_eq!(
            v12(input.as_bytes()),
            Outcome::clean(vec![frame(command, &[("receipt", "r-1")], b"")]),
            "{command}",
        );
    }
}

#[test]
fn every_command_decodes_in_every_version() {
    for version in [Version::V1_0, Version::V1_1, Version::V1_2] {
        for command in Command::ALL {
            let input = format!("{command}\n\n\0");
            assert_eq!(
                v(version, input.as_bytes()),
                Outcome::clean(vec![frame(command, &[], b"")]),
                "{command} in {version}",
            );
        }
    }
}

#[test]
fn commands_are_case_sensitive() {
    assert_eq!(
        v12(b"send\n\n\0"),
        Outcome::error(vec![], DecodeError::UnknownCommand("send".into())),
    );
}

#[test]
fn an_unknown_command_is_an_error() {
    assert_eq!(
        v12(b"PUBLISH\ndestination:/a\n\n\0"),
        Outcome::error(vec![], DecodeError::UnknownCommand("PUBLISH".into())),
    );
}

#[test]
fn a_command_line_with_trailing_space_is_unknown() {
    assert_eq!(
        v12(b"SEND \n\n\0"),
        Outcome::error(vec![], DecodeError::UnknownCommand("SEND ".into())),
    );
}

// ---- headers ----

#[test]
fn headers_keep_their_order() {
    assert_eq!(
        v12(b"MESSAGE\nsubscription:0\nmessage-id:7\ndestination:/queue/a\n\n\0"),
        Outcome::clean(vec![frame(
            Command::Message,
            &[
                ("subscription", "0"),
                ("message-id", "7"),
                ("destination", "/queue/a")
            ],
            b""
        )]),
    );
}

#[test]
fn repeated_headers_are_kept_in_order_and_the_first_wins() {
    let outcome = v12(b"MESSAGE\nfoo:first\nbar:x\nfoo:second\n\n\0");
    let expected = frame(
        Command::Message,
        &[("foo", "first"), ("bar", "x"), ("foo", "second")],
        b"",
    );
    assert_eq!(outcome, Outcome::clean(vec![expected]));
    let Some(Item::Frame(decoded)) = outcome.items.first() else {
        panic!("expected a frame, got {outcome:?}");
    };
    assert_eq!(decoded.header("foo"), Some("first"));
}

#[test]
fn the_first_content_length_decides_where_the_body_ends() {
    assert_eq!(
        v12(b"SEND\ncontent-length:3\ncontent-length:1\n\na\0c\0"),
        Outcome::clean(vec![frame(
            Command::Send,
            &[("content-length", "3"), ("content-length", "1")],
            b"a\0c"
        )]),
    );
}

#[test]
fn a_header_value_may_hold_a_raw_colon() {
    assert_eq!(
        v12(b"SEND\ndestination:/topic/a:b\n\n\0"),
        Outcome::clean(vec![frame(
            Command::Send,
            &[("destination", "/topic/a:b")],
            b""
        )]),
    );
}

#[test]
fn header_names_and_values_may_be_empty() {
    assert_eq!(
        v12(b"SEND\nempty:\n:no-name\n:\n\n\0"),
        Outcome::clean(vec![frame(
            Command::Send,
            &[("empty", ""), ("", "no-name"), ("", "")],
            b""
        )]),
    );
}

#[test]
fn header_whitespace_is_kept() {
    assert_eq!(
        v12(b"SEND\n key : value \n\n\0"),
        Outcome::clean(vec![frame(Command::Send, &[(" key ", " value ")], b"")]),
    );
}

#[test]
fn header_values_may_be_any_utf8() {
    assert_eq!(
        v12("SEND\nsubject:héllo wörld ✓ 🦀\n\n\0".as_bytes()),
        Outcome::clean(vec![frame(
            Command::Send,
            &[("subject", "héllo wörld ✓ 🦀")],
            b""
        )]),
    );
}

#[test]
fn a_header_line_without_a_colon_is_malformed() {
    assert_eq!(
        v12(b"SEND\ndestination:/a\nno colon here\n\n\0"),
        Outcome::error(vec![], DecodeError::MalformedHeader("no colon here".into())),
    );
}

#[test]
fn a_header_value_that_is_not_utf8_is_an_error() {
    assert_eq!(
        v12(b"SEND\nkey:\xff\xfe\n\n\0"),
        Outcome::error(vec![], DecodeError::NotUtf8),
    );
}

#[test]
fn a_header_name_that_is_not_utf8_is_an_error() {
    assert_eq!(
        v(Version::V1_0, b"SEND\n\xc3:value\n\n\0"),
        Outcome::error(vec![], DecodeError::NotUtf8),
    );
}

#[test]
fn unescaped_frames_must_be_utf8_too() {
    assert_eq!(
        v12(b"CONNECT\nlogin:\x80\n\n\0"),
        Outcome::error(vec![], DecodeError::NotUtf8),
    );
}

// ---- escaping ----

#[test]
fn stomp_1_2_unescapes_cr_lf_colon_and_backslash() {
    assert_eq!(
        v12(b"MESSAGE\na\\cb\\\\:1\\r2\\n3\\c4\\\\5\n\n\0"),
        Outcome::clean(vec![frame(
            Command::Message,
            &[("a:b\\", "1\r2\n3:4\\5")],
            b""
        )]),
    );
}

#[test]
fn stomp_1_2_keeps_an_escaped_cr_at_the_end_of_a_crlf_line() {
    assert_eq!(
        v12(b"SEND\nkey:value\\r\r\n\r\n\0"),
        Outcome::clean(vec![frame(Command::Send, &[("key", "value\r")], b"")]),
    );
}

#[test]
fn stomp_1_1_unescapes_lf_colon_and_backslash() {
    assert_eq!(
        v(Version::V1_1, b"MESSAGE\na\\cb:1\\n2\\c3\\\\4\n\n\0"),
        Outcome::clean(vec![frame(Command::Message, &[("a:b", "1\n2:3\\4")], b"")]),
    );
}

#[test]
fn stomp_1_1_rejects_the_cr_escape() {
    assert_eq!(
        v(Version::V1_1, b"SEND\nkey:a\\rb\n\n\0"),
        Outcome::error(
            vec![],
            DecodeError::BadEscape("\\r is not a STOMP 1.1 escape".into())
        ),
    );
}

#[test]
fn stomp_1_0_takes_backslashes_literally() {
    assert_eq!(
        v(Version::V1_0, b"SEND\na\\cb:x\\ny\\tz\\\n\n\0"),
        Outcome::clean(vec![frame(Command::Send, &[("a\\cb", "x\\ny\\tz\\")], b"")]),
    );
}

#[test]
fn an_unknown_escape_in_a_value_is_an_error() {
    assert_eq!(
        v12(b"SEND\nkey:a\\tb\n\n\0"),
        Outcome::error(
            vec![],
            DecodeError::BadEscape("\\t is not a STOMP 1.2 escape".into())
        ),
    );
}

#[test]
fn an_unknown_escape_in_a_name_is_an_error() {
    assert_eq!(
        v(Version::V1_1, b"SEND\nk\\x:v\n\n\0"),
        Outcome::error(
            vec![],
            DecodeError::BadEscape("\\x is not a STOMP 1.1 escape".into())
        ),
    );
}

#[test]
fn a_lone_backslash_at_the_end_of_a_value_is_an_error() {
    assert_eq!(
        v12(b"SEND\nkey:value\\\n\n\0"),
        Outcome::error(
            vec![],
            DecodeError::BadEscape("a header ends with a lone backslash".into())
        ),
    );
}

#[test]
fn a_lone_backslash_at_the_end_of_a_name_is_an_error() {
    // The name ends at the first colon, so `\` before it is dangling, not `\c`.
    assert_eq!(
        v12(b"SEND\nkey\\:value\n\n\0"),
        Outcome::error(
            vec![],
            DecodeError::BadEscape("a header ends with a lone backslash".into())
        ),
    );
}

#[test]
fn connect_stomp_and_connected_headers_are_never_unescaped() {
    for version in [Version::V1_0, Version::V1_1, Version::V1_2] {
        for command in [Command::Connect, Command::Stomp, Command::Connected] {
            let input = format!("{command}\nlogin:a\\cb\npasscode:p\\t\\\\\\\n\n\0");
            assert_eq!(
                v(version, input.as_bytes()),
                Outcome::clean(vec![frame(
                    command,
                    &[("login", "a\\cb"), ("passcode", "p\\t\\\\\\")],
                    b""
                )]),
                "{command} in {version}",
            );
        }
    }
}

#[test]
fn set_version_changes_the_escaping_of_later_frames() {
    let mut decoder = Decoder::new(Limits::default());
    assert_eq!(decoder.version(), Version::V1_2);
    decoder.extend(b"CONNECT\naccept-version:1.1\n\n\0SEND\nkey:a\\rb\n\n\0");
    assert_eq!(
        decoder.decode(),
        Ok(Some(frame(
            Command::Connect,
            &[("accept-version", "1.1")],
            b""
        )))
    );
    decoder.set_version(Version::V1_1);
    assert_eq!(decoder.version(), Version::V1_1);
    assert_eq!(
        decoder.decode(),
        Err(DecodeError::BadEscape(
            "\\r is not a STOMP 1.1 escape".into()
        ))
    );
}

// ---- bodies ----

#[test]
fn a_nul_terminated_body_ends_at_the_first_nul() {
    assert_eq!(
        v12(b"SEND\ndestination:/a\n\nhello\nworld\r\n\0"),
        Outcome::clean(vec![frame(
            Command::Send,
            &[("destination", "/a")],
            b"hello\nworld\r\n"
        )]),
    );
}

#[test]
fn a_content_length_body_may_contain_nul() {
    assert_eq!(
        v12(b"SEND\ncontent-length:6\n\n\0a\0b\0\n\0"),
        Outcome::clean(vec![frame(
            Command::Send,
            &[("content-length", "6")],
            b"\0a\0b\0\n"
        )]),
    );
}

#[test]
fn a_zero_content_length_is_an_empty_body() {
    assert_eq!(
        v12(b"MESSAGE\ncontent-length:0\n\n\0"),
        Outcome::clean(vec![frame(
            Command::Message,
            &[("content-length", "0")],
            b""
        )]),
    );
}

#[test]
fn a_body_may_hold_any_byte() {
    let body: Vec<u8> = (0..=255).collect();
    let mut input = format!("MESSAGE\ncontent-length:{}\n\n", body.len()).into_bytes();
    input.extend_from_slice(&body);
    input.push(0);
    assert_eq!(
        v12(&input),
        Outcome::clean(vec![frame(
            Command::Message,
            &[("content-length", "256")],
            &body
        )]),
    );
}

#[test]
fn bodies_are_allowed_on_send_message_and_error() {
    for command in [Command::Send, Command::Message, Command::Error] {
        let input = format!("{command}\n\nbody\0");
        assert_eq!(
            v12(input.as_bytes()),
            Outcome::clean(vec![frame(command, &[], b"body")]),
            "{command}",
        );
    }
}

#[test]
fn a_body_on_any_other_command_is_an_error() {
    for command in Command::ALL.into_iter().filter(|c| !c.allows_body()) {
        let input = format!("{command}\n\nbody\0");
        assert_eq!(
            v12(input.as_bytes()),
            Outcome::error(vec![], DecodeError::UnexpectedBody(command)),
            "{command}",
        );
    }
}

#[test]
fn a_content_length_body_on_a_subscribe_is_an_error() {
    assert_eq!(
        v12(b"SUBSCRIBE\nid:0\ncontent-length:2\n\nab\0"),
        Outcome::error(vec![], DecodeError::UnexpectedBody(Command::Subscribe)),
    );
}

#[test]
fn an_empty_content_length_body_is_fine_on_any_command() {
    assert_eq!(
        v12(b"ACK\nid:1\ncontent-length:0\n\n\0"),
        Outcome::clean(vec![frame(
            Command::Ack,
            &[("id", "1"), ("content-length", "0")],
            b""
        )]),
    );
}

#[test]
fn a_content_length_that_is_not_a_number_is_an_error() {
    for value in ["abc", "-1", "", "1.5", "0x10", "99999999999999999999999999"] {
        let input = format!("SEND\ncontent-length:{value}\n\n\0");
        assert_eq!(
            v12(input.as_bytes()),
            Outcome::error(vec![], DecodeError::BadContentLength(value.into())),
            "{value:?}",
        );
    }
}

#[test]
fn a_body_longer_than_its_content_length_is_missing_its_nul() {
    assert_eq!(
        v12(b"SEND\ncontent-length:2\n\nabc\0"),
        Outcome::error(vec![], DecodeError::MissingNul),
    );
}

#[test]
fn a_body_shorter_than_its_content_length_waits_for_more() {
    // `ab\0` is only three of the four body bytes; the NUL is a body byte.
    assert_eq!(
        v12(b"SEND\ncontent-length:4\n\nab\0"),
        Outcome::incomplete(vec![], 26),
    );
}

// ---- EOLs, line endings, framing ----

#[test]
fn eols_between_frames_are_heart_beats() {
    assert_eq!(
        v12(b"\n\r\nSEND\n\n\0\n\nRECEIPT\nreceipt-id:1\n\n\0\r\n"),
        Outcome::clean(vec![
            Item::HeartBeat,
            Item::HeartBeat,
            frame(Command::Send, &[], b""),
            Item::HeartBeat,
            Item::HeartBeat,
            frame(Command::Receipt, &[("receipt-id", "1")], b""),
            Item::HeartBeat,
        ]),
    );
}

#[test]
fn a_lone_cr_waits_for_its_lf() {
    assert_eq!(v12(b"\n\r"), Outcome::incomplete(vec![Item::HeartBeat], 1));
}

#[test]
fn a_cr_between_frames_that_is_not_crlf_is_an_error() {
    assert_eq!(
        v12(b"SEND\n\n\0\rSEND\n\n\0"),
        Outcome::error(
            vec![frame(Command::Send, &[], b"")],
            DecodeError::StrayCarriageReturn
        ),
    );
}

#[test]
fn crlf_line_endings_are_accepted() {
    assert_eq!(
        v12(b"SEND\r\ndestination:/a\r\nreceipt:1\r\n\r\nbody\r\n\0"),
        Outcome::clean(vec![frame(
            Command::Send,
            &[("destination", "/a"), ("receipt", "1")],
            b"body\r\n"
        )]),
    );
}

#[test]
fn lf_and_crlf_line_endings_may_mix() {
    assert_eq!(
        v12(b"SEND\r\na:1\nb:2\r\n\n\0"),
        Outcome::clean(vec![frame(Command::Send, &[("a", "1"), ("b", "2")], b"")]),
    );
}

#[test]
fn several_frames_in_one_chunk_all_decode() {
    assert_eq!(
        v12(b"SEND\ndestination:/a\n\none\0SEND\ncontent-length:3\n\nt\0o\0MESSAGE\n\nthree\0"),
        Outcome::clean(vec![
            frame(Command::Send, &[("destination", "/a")], b"one"),
            frame(Command::Send, &[("content-length", "3")], b"t\0o"),
            frame(Command::Message, &[], b"three"),
        ]),
    );
}

#[test]
fn an_unfinished_frame_waits_and_keeps_its_bytes() {
    assert_eq!(
        v12(b"SEND\n\nfirst\0SEND\ndestinat"),
        Outcome::incomplete(vec![frame(Command::Send, &[], b"first")], 13),
    );
}

#[test]
fn a_frame_missing_only_its_nul_waits() {
    assert_eq!(v12(b"SEND\n\nbody"), Outcome::incomplete(vec![], 10));
}

#[test]
fn empty_input_is_clean() {
    assert_eq!(v12(b""), Outcome::clean(vec![]));
}

#[test]
fn a_frame_split_across_three_chunks_decodes() {
    let outcome = feed(
        Limits::default(),
        Version::V1_2,
        [&b"MESS"[..], b"AGE\nmessage-id:1\n", b"\nhi\0"],
    );
    assert_eq!(
        outcome,
        Outcome::clean(vec![frame(Command::Message, &[("message-id", "1")], b"hi")]),
    );
}

// ---- limits: each error, and its exact boundary ----

#[test]
fn the_default_limits_are_documented_values() {
    assert_eq!(
        Limits::default(),
        limits(64 * 1024, 64, 8 * 1024, 64 * 1024)
    );
    let limits = limits(1, 2, 3, 4);
    assert_eq!(Decoder::new(limits).limits(), &limits);
}

#[test]
fn a_frame_of_exactly_the_frame_limit_decodes() {
    let input = b"SEND\n\nabc\0";
    assert_eq!(
        decode_every_way(with_frame_limit(input.len()), Version::V1_2, input),
        Outcome::clean(vec![frame(Command::Send, &[], b"abc")]),
    );
}

#[test]
fn a_nul_terminated_frame_one_byte_over_the_frame_limit_is_too_large() {
    let input = b"SEND\n\nabc\0";
    let limit = input.len() - 1;
    assert_eq!(
        decode_every_way(with_frame_limit(limit), Version::V1_2, input),
        Outcome::error(vec![], DecodeError::FrameTooLarge { limit }),
    );
}

#[test]
fn a_content_length_frame_one_byte_over_the_frame_limit_is_too_large() {
    let input = b"SEND\ncontent-length:3\n\nabc\0";
    let fits = with_frame_limit(input.len());
    assert_eq!(
        decode_every_way(fits, Version::V1_2, input),
        Outcome::clean(vec![frame(
            Command::Send,
            &[("content-length", "3")],
            b"abc"
        )]),
    );
    let limit = input.len() - 1;
    assert_eq!(
        decode_every_way(with_frame_limit(limit), Version::V1_2, input),
        Outcome::error(vec![], DecodeError::FrameTooLarge { limit }),
    );
}

#[test]
fn a_head_over_the_frame_limit_is_too_large() {
    let input = b"SEND\ndestination:/queue/a\nreceipt:1\n\n\0";
    assert_eq!(
        decode_every_way(with_frame_limit(20), Version::V1_2, input),
        Outcome::error(vec![], DecodeError::FrameTooLarge { limit: 20 }),
    );
}

#[test]
fn the_frame_limit_applies_to_each_frame_not_the_stream() {
    let input = b"SEND\n\nabc\0\nSEND\n\nabc\0SEND\n\nabc\0";
    assert_eq!(
        decode_every_way(with_frame_limit(10), Version::V1_2, input),
        Outcome::clean(vec![
            frame(Command::Send, &[], b"abc"),
            Item::HeartBeat,
            frame(Command::Send, &[], b"abc"),
            frame(Command::Send, &[], b"abc"),
        ]),
    );
}

#[test]
fn a_body_of_exactly_the_body_limit_decodes() {
    let limits = limits(1024, 8, 64, 3);
    for input in [&b"SEND\n\nabc\0"[..], b"SEND\ncontent-length:3\n\nabc\0"] {
        assert_eq!(
            decode_every_way(limits, Version::V1_2, input).end,
            common::End::Clean,
            "{:?}",
            input.escape_ascii().to_string(),
        );
    }
}

#[test]
fn a_nul_terminated_body_over_the_body_limit_is_too_large() {
    assert_eq!(
        decode_every_way(limits(1024, 8, 64, 2), Version::V1_2, b"SEND\n\nabc\0"),
        Outcome::error(vec![], DecodeError::BodyTooLarge { limit: 2 }),
    );
}

#[test]
fn a_content_length_over_the_body_limit_is_too_large() {
    assert_eq!(
        decode_every_way(
            limits(1024, 8, 64, 2),
            Version::V1_2,
            b"SEND\ncontent-length:3\n\nabc\0"
        ),
        Outcome::error(vec![], DecodeError::BodyTooLarge { limit: 2 }),
    );
}

#[test]
fn exactly_the_header_limit_decodes_and_one_more_is_too_many() {
    let input = b"SEND\na:1\nb:2\nc:3\n\n\0";
    assert_eq!(
        decode_every_way(limits(1024, 3, 64, 64), Version::V1_2, input),
        Outcome::clean(vec![frame(
            Command::Send,
            &[("a", "1"), ("b", "2"), ("c", "3")],
            b""
        )]),
    );
    assert_eq!(
        decode_every_way(limits(1024, 2, 64, 64), Version::V1_2, input),
        Outcome::error(vec![], DecodeError::TooManyHeaders { limit: 2 }),
    );
}

#[test]
fn a_zero_header_limit_allows_only_frames_without_headers() {
    let limits = limits(1024, 0, 64, 64);
    assert_eq!(
        decode_every_way(limits, Version::V1_2, b"DISCONNECT\n\n\0"),
        Outcome::clean(vec![frame(Command::Disconnect, &[], b"")]),
    );
    assert_eq!(
        decode_every_way(limits, Version::V1_2, b"DISCONNECT\nreceipt:1\n\n\0"),
        Outcome::error(vec![], DecodeError::TooManyHeaders { limit: 0 }),
    );
}

#[test]
fn a_header_line_of_exactly_the_line_limit_decodes_with_lf_or_crlf() {
    // `key:value` is 9 bytes; the EOL, CR included, does not count.
    let limits = limits(1024, 8, 9, 64);
    for input in [
        &b"SEND\nkey:value\n\n\0"[..],
        b"SEND\r\nkey:value\r\n\r\n\0",
    ] {
        assert_eq!(
            decode_every_way(limits, Version::V1_2, input),
            Outcome::clean(vec![frame(Command::Send, &[("key", "value")], b"")]),
            "{:?}",
            input.escape_ascii().to_string(),
        );
    }
}

#[test]
fn a_header_line_one_byte_over_the_line_limit_is_too_long() {
    let limits = limits(1024, 8, 8, 64);
    for input in [
        &b"SEND\nkey:value\n\n\0"[..],
        b"SEND\r\nkey:value\r\n\r\n\0",
    ] {
        assert_eq!(
            decode_every_way(limits, Version::V1_2, input),
            Outcome::error(vec![], DecodeError::HeaderLineTooLong { limit: 8 }),
            "{:?}",
            input.escape_ascii().to_string(),
        );
    }
}

#[test]
fn the_command_line_counts_against_the_line_limit() {
    assert_eq!(
        decode_every_way(limits(1024, 8, 9, 64), Version::V1_2, b"DISCONNECT\n\n\0"),
        Outcome::error(vec![], DecodeError::HeaderLineTooLong { limit: 9 }),
    );
}

// ---- limits trip as soon as they can, before the data is complete ----

#[test]
fn a_header_line_over_the_limit_is_rejected_before_its_eol_arrives() {
    let input = repeat(b"SEND\nkey:", b'v', 100, b"\n\n\0");
    // Past 8 bytes the line could still be 8 plus the CR of a CRLF; the 10th byte with no
    // LF settles it. The line starts at byte 5.
    assert_eq!(
        trip_point(limits(1024, 8, 8, 64), Version::V1_2, &input),
        Some((5 + 10, DecodeError::HeaderLineTooLong { limit: 8 })),
    );
}

#[test]
fn a_command_line_over_the_limit_is_rejected_before_its_eol_arrives() {
    let input = repeat(b"", b'X', 100, b"\n\n\0");
    assert_eq!(
        trip_point(limits(1024, 8, 8, 64), Version::V1_2, &input),
        Some((10, DecodeError::HeaderLineTooLong { limit: 8 })),
    );
}

#[test]
fn too_many_headers_is_rejected_at_the_eol_of_the_first_extra_header() {
    let input = b"SEND\na:1\nb:2\nc:3\nd:4\n\n\0";
    assert_eq!(
        trip_point(limits(1024, 2, 64, 64), Version::V1_2, input),
        Some((
            b"SEND\na:1\nb:2\nc:3\n".len(),
            DecodeError::TooManyHeaders { limit: 2 }
        )),
    );
}

#[test]
fn a_content_length_over_the_body_limit_is_rejected_before_any_body_byte() {
    let head = b"SEND\ncontent-length:11\n\n";
    let input = repeat(head, b'x', 11, b"\0");
    assert_eq!(
        trip_point(limits(1024, 8, 64, 10), Version::V1_2, &input),
        Some((head.len(), DecodeError::BodyTooLarge { limit: 10 })),
    );
}

#[test]
fn a_content_length_over_the_frame_limit_is_rejected_before_any_body_byte() {
    let head = b"SEND\ncontent-length:10\n\n";
    let input = repeat(head, b'x', 10, b"\0");
    let limit = head.len() + 10;
    assert_eq!(
        trip_point(with_frame_limit(limit), Version::V1_2, &input),
        Some((head.len(), DecodeError::FrameTooLarge { limit })),
    );
}

#[test]
fn a_huge_content_length_is_rejected_without_waiting_for_the_body() {
    let mut decoder = Decoder::new(Limits::default());
    decoder.extend(b"SEND\ncontent-length:18446744073709551615\n\n");
    assert_eq!(
        decoder.decode(),
        Err(DecodeError::BodyTooLarge { limit: 64 * 1024 })
    );
}

#[test]
fn a_body_without_nul_trips_the_frame_limit_once_buffered_bytes_pass_it() {
    let input = repeat(b"SEND\n\n", b'x', 100, b"");
    assert_eq!(
        trip_point(with_frame_limit(32), Version::V1_2, &input),
        Some((33, DecodeError::FrameTooLarge { limit: 32 })),
    );
}

#[test]
fn a_body_without_nul_trips_the_body_limit_once_the_body_passes_it() {
    let input = repeat(b"SEND\n\n", b'x', 100, b"");
    assert_eq!(
        trip_point(limits(1024, 8, 64, 10), Version::V1_2, &input),
        Some((6 + 11, DecodeError::BodyTooLarge { limit: 10 })),
    );
}

#[test]
fn a_head_without_a_blank_line_trips_the_frame_limit_once_buffered_bytes_pass_it() {
    let mut input = b"SEND\n".to_vec();
    for _ in 0..20 {
        input.extend_from_slice(b"k:v\n");
    }
    assert_eq!(
        trip_point(limits(40, 100, 64, 64), Version::V1_2, &input),
        Some((41, DecodeError::FrameTooLarge { limit: 40 })),
    );
}

#[test]
fn a_waiting_decoder_never_holds_more_than_the_frame_limit() {
    // Ten good frames, each with a heart-beat, then a body that never ends.
    let limits = with_frame_limit(64);
    let input = [
        b"SEND\n\nabc\0\n".repeat(10),
        repeat(b"SEND\n\n", b'x', 1000, b""),
    ]
    .concat();
    for chunk_len in [1, 7, 64, 65, 500] {
        let mut decoder = decoder(limits, Version::V1_2);
        let mut items = 0;
        let mut failed = None;
        'feed: for chunk in input.chunks(chunk_len) {
            decoder.extend(chunk);
            assert!(decoder.buffered() <= limits.max_frame_bytes + chunk.len());
            loop {
                match decoder.decode() {
                    Ok(Some(_)) => items += 1,
                    Ok(None) => break,
                    Err(error) => {
                        failed = Some(error);
                        break 'feed;
                    }
                }
            }
            assert!(
                decoder.buffered() <= limits.max_frame_bytes,
                "chunks of {chunk_len}: holding {}",
                decoder.buffered()
            );
        }
        assert_eq!(items, 20, "chunks of {chunk_len}");
        assert_eq!(
            failed,
            Some(DecodeError::FrameTooLarge { limit: 64 }),
            "chunks of {chunk_len}"
        );
    }
}

// ---- which limit trips does not depend on how the input was cut ----

#[test]
fn a_long_line_that_crosses_the_frame_limit_first_is_frame_too_large() {
    // One byte at a time, the frame limit (8) breaks at byte 9, before the line limit (10)
    // can at byte 12; whole, the decoder sees the line's LF at once and must agree.
    let input = repeat(b"SEND", b'X', 16, b"\n\n\0");
    assert_eq!(
        decode_every_way(limits(8, 8, 10, 64), Version::V1_2, &input),
        Outcome::error(vec![], DecodeError::FrameTooLarge { limit: 8 }),
    );
}

#[test]
fn a_nul_terminated_body_that_crosses_the_frame_limit_first_is_frame_too_large() {
    // Frame and body limits are equal, as in the defaults, so a growing body always breaks
    // the frame limit first, whether the NUL has arrived yet or not.
    let input = repeat(b"SEND\n\n", b'x', 20, b"\0");
    assert_eq!(
        decode_every_way(limits(16, 8, 64, 16), Version::V1_2, &input),
        Outcome::error(vec![], DecodeError::FrameTooLarge { limit: 16 }),
    );
}

#[test]
fn a_body_that_crosses_the_body_limit_first_is_body_too_large() {
    let input = repeat(b"SEND\n\n", b'x', 20, b"\0");
    assert_eq!(
        decode_every_way(limits(20, 8, 64, 10), Version::V1_2, &input),
        Outcome::error(vec![], DecodeError::BodyTooLarge { limit: 10 }),
    );
}

#[test]
fn a_line_that_crosses_the_line_limit_first_is_header_line_too_long() {
    let input = repeat(b"SEND\nk:", b'v', 30, b"\n\n\0");
    assert_eq!(
        decode_every_way(limits(30, 8, 10, 64), Version::V1_2, &input),
        Outcome::error(vec![], DecodeError::HeaderLineTooLong { limit: 10 }),
    );
}

// ---- the error text goes to the peer ----

#[test]
fn errors_describe_themselves_for_the_peer() {
    let cases = [
        (
            DecodeError::FrameTooLarge { limit: 16 },
            "frame too large: the limit is 16 bytes",
        ),
        (
            DecodeError::BodyTooLarge { limit: 8 },
            "body too large: the limit is 8 bytes",
        ),
        (
            DecodeError::TooManyHeaders { limit: 2 },
            "too many headers: the limit is 2",
        ),
        (
            DecodeError::HeaderLineTooLong { limit: 4 },
            "header line too long: the limit is 4 bytes",
        ),
        (
            DecodeError::UnknownCommand("FOO".into()),
            "unknown command \"FOO\"",
        ),
        (
            DecodeError::MalformedHeader("x".into()),
            "malformed header line \"x\": it has no colon",
        ),
        (
            DecodeError::BadEscape("\\t is not a STOMP 1.2 escape".into()),
            "bad header escape: \\t is not a STOMP 1.2 escape",
        ),
        (DecodeError::NotUtf8, "header is not valid UTF-8"),
        (
            DecodeError::BadContentLength("x".into()),
            "invalid content-length \"x\"",
        ),
        (
            DecodeError::MissingNul,
            "the body is not followed by a NUL byte where content-length says it ends",
        ),
        (
            DecodeError::UnexpectedBody(Command::Ack),
            "a ACK frame must not have a body",
        ),
        (
            DecodeError::StrayCarriageReturn,
            "stray carriage return between frames",
        ),
    ];
    for (error, text) in cases {
        assert_eq!(error.to_string(), text);
    }
}
