//! Header value escaping per version: none in 1.0; `\n \c \\` in 1.1; `\r \n \c \\` in 1.2.

use crate::Version;

/// Why a header could not be unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadEscape(pub(crate) String);

/// Unescapes `raw` for `version`. An escape the version does not define is an error, as
/// the spec requires ("undefined escape sequences MUST be treated as a fatal error").
pub(crate) fn unescape(raw: &[u8], version: Version) -> Result<Vec<u8>, BadEscape> {
    if version == Version::V1_0 || !raw.contains(&b'\\') {
        return Ok(raw.to_vec());
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter();
    while let Some(&b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b'c') => out.push(b':'),
            Some(b'\\') => out.push(b'\\'),
            Some(b'r') if version == Version::V1_2 => out.push(b'\r'),
            Some(&other) => {
                return Err(BadEscape(format!(
                    "\\{} is not a STOMP {version} escape",
                    char::from(other).escape_default()
                )))
            }
            None => return Err(BadEscape("a header ends with a lone backslash".into())),
        }
    }
    Ok(out)
}

/// Appends `value` escaped for `version` to `out`.
pub(crate) fn escape_into(value: &str, version: Version, out: &mut Vec<u8>) {
    // Most values (destinations, ids, lengths) need no escape: one copy instead of a push
    // per byte, which fan-out pays for every header of every delivery.
    let plain = !value
        .bytes()
        .any(|b| matches!(b, b'\n' | b':' | b'\\' | b'\r'));
    if version == Version::V1_0 || plain {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    for &b in value.as_bytes() {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b':' => out.extend_from_slice(b"\\c"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\r' if version == Version::V1_2 => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_special_character_in_1_2() {
        let value = "a:b\\c\nd\re";
        let mut out = Vec::new();
        escape_into(value, Version::V1_2, &mut out);
        assert_eq!(out, b"a\\cb\\\\c\\nd\\re");
        assert_eq!(unescape(&out, Version::V1_2), Ok(value.as_bytes().to_vec()));
    }

    #[test]
    fn carriage_return_escape_is_not_stomp_1_1() {
        assert!(unescape(b"a\\rb", Version::V1_1).is_err());
        assert_eq!(unescape(b"a\\nb", Version::V1_1), Ok(b"a\nb".to_vec()));
    }

    #[test]
    fn stomp_1_0_takes_backslashes_literally() {
        assert_eq!(unescape(b"a\\tb", Version::V1_0), Ok(b"a\\tb".to_vec()));
    }

    #[test]
    fn unknown_and_dangling_escapes_are_errors() {
        assert!(unescape(b"a\\tb", Version::V1_2).is_err());
        assert!(unescape(b"ab\\", Version::V1_2).is_err());
    }
}
