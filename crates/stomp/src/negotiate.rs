//! Version and heart-beat negotiation, as STOMP 1.2 "Protocol Negotiation" and
//! "Heart-beating" describe them.

use crate::Version;
use std::time::Duration;

/// Picks the highest version both sides speak from an `accept-version` header. A missing
/// header means the client speaks 1.0 only. `None`: no version in common.
pub fn negotiate_version(accept_version: Option<&str>, supported: &[Version]) -> Option<Version> {
    let Some(list) = accept_version else {
        return supported.contains(&Version::V1_0).then_some(Version::V1_0);
    };
    list.split(',')
        .filter_map(Version::parse)
        .filter(|v| supported.contains(v))
        .max()
}

/// A `heart-beat` header: `cx` is how often the sender can send, `cy` how often it wants
/// to receive, both in milliseconds, 0 meaning never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeartBeat {
    pub send_ms: u64,
    pub receive_ms: u64,
}

impl HeartBeat {
    /// Parses `"cx,cy"`. A missing header is `0,0`; a malformed one is `None`.
    pub fn parse(header: Option<&str>) -> Option<HeartBeat> {
        let Some(h) = header else {
            return Some(HeartBeat::default());
        };
        let (a, b) = h.split_once(',')?;
        Some(HeartBeat {
            send_ms: a.trim().parse().ok()?,
            receive_ms: b.trim().parse().ok()?,
        })
    }

    pub fn to_header(self) -> String {
        format!("{},{}", self.send_ms, self.receive_ms)
    }

    /// Given the peer's header and ours, returns (how often we must send, how often we
    /// expect to hear from the peer). `None` in either place: no beats that way.
    pub fn agree(ours: HeartBeat, theirs: HeartBeat) -> (Option<Duration>, Option<Duration>) {
        let outgoing = (ours.send_ms != 0 && theirs.receive_ms != 0)
            .then(|| Duration::from_millis(ours.send_ms.max(theirs.receive_ms)));
        let incoming = (ours.receive_ms != 0 && theirs.send_ms != 0)
            .then(|| Duration::from_millis(ours.receive_ms.max(theirs.send_ms)));
        (outgoing, incoming)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

    #[test]
    fn picks_the_highest_common_version() {
        assert_eq!(
            negotiate_version(Some("1.0,1.1,1.2"), &ALL),
            Some(Version::V1_2)
        );
        assert_eq!(negotiate_version(Some("1.1"), &ALL), Some(Version::V1_1));
        assert_eq!(negotiate_version(None, &ALL), Some(Version::V1_0));
        assert_eq!(negotiate_version(Some("2.0"), &ALL), None);
        assert_eq!(negotiate_version(Some("1.2"), &[Version::V1_1]), None);
    }

    #[test]
    fn heart_beats_take_the_slower_of_both_wishes() {
        let ours = HeartBeat {
            send_ms: 10_000,
            receive_ms: 10_000,
        };
        let theirs = HeartBeat {
            send_ms: 4_000,
            receive_ms: 20_000,
        };
        assert_eq!(HeartBeat::parse(Some("4000,20000")), Some(theirs));
        let (out, inc) = HeartBeat::agree(ours, theirs);
        assert_eq!(out, Some(Duration::from_millis(20_000)));
        assert_eq!(inc, Some(Duration::from_millis(10_000)));
        assert_eq!(HeartBeat::parse(None), Some(HeartBeat::default()));
        let (out, inc) = HeartBeat::agree(ours, HeartBeat::default());
        assert_eq!((out, inc), (None, None));
        assert_eq!(HeartBeat::parse(Some("x,1")), None);
    }
}
