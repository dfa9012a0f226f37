//! The encoder's exact wire output: layout, escaping per version, and the commands that are
//! never escaped.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

use tidings_stomp::{encode, encode_to_bytes, Command, Frame, Version};

fn special_header(command: Command) -> Frame {
    Frame::new(command).with_header("a:b\\", "1\r2\n3")
}

#[test]
fn a_frame_is_command_headers_blank_line_body_and_nul() {
    let frame = Frame::new(Command::Send)
        .with_header("destination", "/queue/a")
        .with_header("receipt", "r-1")
        .with_body(&b"hello"[..]);
    assert_eq!(
        &encode_to_bytes(&frame, Version::V1_2)[..],
        b"SEND\ndestination:/queue/a\nreceipt:r-1\ncontent-length:5\n\nhello\0"
    );
}

#[test]
fn a_frame_without_headers_or_body_is_command_two_lfs_and_nul() {
    assert_eq!(
        &encode_to_bytes(&Frame::new(Command::Disconnect), Version::V1_2)[..],
        b"DISCONNECT\n\n\0"
    );
}

#[test]
fn a_body_without_content_length_is_written_as_is() {
    let mut frame = Frame::new(Command::Message);
    frame.body = "hi\n".into();
    assert_eq!(
        &encode_to_bytes(&frame, Version::V1_2)[..],
        b"MESSAGE\n\nhi\n\0"
    );
}

#[test]
fn repeated_headers_are_written_in_order() {
    let frame = Frame::new(Command::Message)
        .with_header("foo", "1")
        .with_header("foo", "2");
    assert_eq!(
        &encode_to_bytes(&frame, Version::V1_2)[..],
        b"MESSAGE\nfoo:1\nfoo:2\n\n\0"
    );
}

#[test]
fn stomp_1_2_escapes_cr_lf_colon_and_backslash() {
    assert_eq!(
        &encode_to_bytes(&special_header(Command::Send), Version::V1_2)[..],
        b"SEND\na\\cb\\\\:1\\r2\\n3\n\n\0"
    );
}

#[test]
fn stomp_1_1_escapes_lf_colon_and_backslash_but_not_cr() {
    assert_eq!(
        &encode_to_bytes(&special_header(Command::Send), Version::V1_1)[..],
        b"SEND\na\\cb\\\\:1\r2\\n3\n\n\0"
    );
}

#[test]
fn stomp_1_0_escapes_nothing() {
    assert_eq!(
        &encode_to_bytes(&special_header(Command::Send), Version::V1_0)[..],
        b"SEND\na:b\\:1\r2\n3\n\n\0"
    );
}

#[test]
fn connect_stomp_and_connected_are_never_escaped() {
    for command in [Command::Connect, Command::Stomp, Command::Connected] {
        let frame = Frame::new(command).with_header("passcode", "a:b\\c");
        let expected = format!("{command}\npasscode:a:b\\c\n\n\0");
        for version in [Version::V1_0, Version::V1_1, Version::V1_2] {
            assert_eq!(
                &encode_to_bytes(&frame, version)[..],
                expected.as_bytes(),
                "{command} in {version}"
            );
        }
    }
}

#[test]
fn encode_appends_to_what_the_buffer_holds() {
    let frame = Frame::new(Command::Receipt).with_header("receipt-id", "7");
    let mut out = b"\n".to_vec();
    encode(&frame, Version::V1_2, &mut out);
    encode(&frame, Version::V1_2, &mut out);
    let one = encode_to_bytes(&frame, Version::V1_2);
    assert_eq!(out, [&b"\n"[..], &one, &one].concat());
}

#[test]
fn a_sized_body_may_hold_nul() {
    let frame = Frame::new(Command::Send).with_body(&b"a\0b"[..]);
    assert_eq!(
        &encode_to_bytes(&frame, Version::V1_2)[..],
        b"SEND\ncontent-length:3\n\na\0b\0"
    );
}
