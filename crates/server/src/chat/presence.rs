//! Who is online: a user is online while at least one of the user's STOMP sessions is
//! connected (several tabs and devices count once).

use std::collections::HashMap;
use std::sync::Mutex;

/// Session counts per user. A plain mutex: each operation is one hash-map update.
#[derive(Debug, Default)]
pub struct PresenceMap {
    sessions: Mutex<HashMap<String, usize>>,
}

impl PresenceMap {
    /// Counts a new session; `true` if the user just came online.
    pub fn connect(&self, user: &str) -> bool {
        let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(user.to_owned()).or_insert(0);
        *n += 1;
        *n == 1
    }

    /// Counts a closed session; `true` if it was the user's last.
    pub fn disconnect(&self, user: &str) -> bool {
        let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(user) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                map.remove(user);
                true
            }
            None => false,
        }
    }

    pub fn online(&self, user: &str) -> bool {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_while_any_session_is_open() {
        let p = PresenceMap::default();
        assert!(p.connect("alice"));
        assert!(!p.connect("alice"));
        assert!(p.online("alice"));
        assert!(!p.disconnect("alice"));
        assert!(p.online("alice"));
        assert!(p.disconnect("alice"));
        assert!(!p.online("alice"));
        assert!(!p.disconnect("alice"), "an unknown session changes nothing");
    }
}
