//! Runs the corpus in `tests/corpus/`: real-world frames that must decode, and broken
//! streams that must fail with a given error. The file format is in
//! `tests/corpus/README.md`.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

mod common;

use common::{decode_every_way, End, Outcome};
use std::fs;
use std::path::{Path, PathBuf};
use tidings_stomp::{Item, Limits, Version};

/// One `.stomp` file and what it must decode to.
#[derive(Debug)]
struct Case {
    name: String,
    version: Version,
    limits: Limits,
    input: Vec<u8>,
    expected: Vec<String>,
}

fn corpus_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(kind)
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every case in `good/` or `bad/`, sorted by name.
fn load(kind: &str) -> Vec<Case> {
    let dir = corpus_dir(kind);
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|entry| {
            let entry = entry.unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
            entry.file_name().to_string_lossy().into_owned()
        })
        .collect();
    names.sort();
    for name in &names {
        let paired = match (name.strip_suffix(".stomp"), name.strip_suffix(".expected")) {
            (Some(stem), _) => dir.join(format!("{stem}.expected")).is_file(),
            (_, Some(stem)) => dir.join(format!("{stem}.stomp")).is_file(),
            _ => false,
        };
        assert!(
            paired,
            "{kind}/{name}: every file is a .stomp with its .expected"
        );
    }
    names
        .iter()
        .filter_map(|name| name.strip_suffix(".stomp"))
        .map(|stem| {
            let text = String::from_utf8(read(&dir.join(format!("{stem}.expected"))))
                .unwrap_or_else(|e| panic!("{kind}/{stem}.expected is not UTF-8: {e}"));
            let (limits, expected) = parse_expected(&text, &format!("{kind}/{stem}"));
            Case {
                name: format!("{kind}/{stem}"),
                version: version_of(stem),
                limits,
                input: read(&dir.join(format!("{stem}.stomp"))),
                expected,
            }
        })
        .collect()
}

fn version_of(stem: &str) -> Version {
    match stem.split_once('-').map(|(v, _)| v) {
        Some("v10") => Version::V1_0,
        Some("v11") => Version::V1_1,
        Some("v12") => Version::V1_2,
        _ => panic!("{stem}: the name must start with v10-, v11- or v12-"),
    }
}

/// The limits line, if any, and the item lines without comments or blank lines.
fn parse_expected(text: &str, name: &str) -> (Limits, Vec<String>) {
    let mut limits = Limits::default();
    let mut lines = Vec::new();
    for line in text.lines().map(str::trim_end) {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(settings) = line.strip_prefix("limits ") {
            assert!(lines.is_empty(), "{name}: `limits` must come first");
            for setting in settings.split_whitespace() {
                let (key, value) = setting
                    .split_once('=')
                    .unwrap_or_else(|| panic!("{name}: {setting:?} is not key=value"));
                let value: usize = value
                    .parse()
                    .unwrap_or_else(|e| panic!("{name}: {setting:?}: {e}"));
                match key {
                    "max_frame_bytes" => limits.max_frame_bytes = value,
                    "max_headers" => limits.max_headers = value,
                    "max_header_line" => limits.max_header_line = value,
                    "max_body_bytes" => limits.max_body_bytes = value,
                    _ => panic!("{name}: unknown limit {key:?}"),
                }
            }
            continue;
        }
        lines.push(line.to_owned());
    }
    (limits, lines)
}

/// The outcome in the `.expected` format.
fn render(outcome: &Outcome) -> Vec<String> {
    let mut lines = Vec::new();
    for item in &outcome.items {
        match item {
            Item::HeartBeat => lines.push("heartbeat".to_owned()),
            Item::Frame(frame) => {
                lines.push(format!("frame {}", frame.command));
                for (name, value) in &frame.headers {
                    lines.push(format!("  {name:?}: {value:?}"));
                }
                if !frame.body.is_empty() {
                    lines.push(match std::str::from_utf8(&frame.body) {
                        Ok(text) => format!("  body {text:?}"),
                        Err(_) => format!("  body b\"{}\"", frame.body.escape_ascii()),
                    });
                }
            }
        }
    }
    match &outcome.end {
        End::Clean => {}
        End::Incomplete { buffered } => lines.push(format!("incomplete {buffered} bytes")),
        End::Error(error) => lines.push(format!("error {error:?}")),
    }
    lines
}

/// Decodes every case every way; returns a report of each mismatch.
fn mismatches(cases: &[Case]) -> Vec<String> {
    cases
        .iter()
        .filter_map(|case| {
            let outcome = decode_every_way(case.limits, case.version, &case.input);
            let actual = render(&outcome);
            (actual != case.expected).then(|| {
                format!(
                    "{}:\n--- expected\n{}\n--- actual\n{}",
                    case.name,
                    case.expected.join("\n"),
                    actual.join("\n")
                )
            })
        })
        .collect()
}

#[test]
fn every_good_file_decodes_to_its_expected_frames() {
    let cases = load("good");
    assert!(cases.len() >= 15, "only {} good cases", cases.len());
    for case in &cases {
        assert!(
            case.expected.iter().any(|line| line.starts_with("frame ")),
            "{}: a good case expects at least one frame",
            case.name
        );
        assert!(
            !case
                .expected
                .iter()
                .any(|line| line.starts_with("error ") || line.starts_with("incomplete ")),
            "{}: a good case must decode completely",
            case.name
        );
    }
    let mismatches = mismatches(&cases);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}

#[test]
fn every_bad_file_fails_with_its_expected_error() {
    let cases = load("bad");
    assert!(cases.len() >= 15, "only {} bad cases", cases.len());
    for case in &cases {
        assert!(
            case.expected
                .last()
                .is_some_and(|line| line.starts_with("error ")),
            "{}: a bad case ends with its error",
            case.name
        );
    }
    let mismatches = mismatches(&cases);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}
