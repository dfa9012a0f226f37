//! The other nodes as this node knows them: who has a session on each, the last presence
//! change heard from each (to notice a missed one), and when each was last heard from (to
//! declare it dead). Pure bookkeeping with time passed in; the bus feeds it and turns what
//! it returns into local presence events.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Peer {
    users: HashSet<String>,
    /// The last presence change applied; `None` until its state is known.
    seq: Option<u64>,
    seen: Instant,
}

/// A change of a user's presence on the other nodes taken together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub user: String,
    pub online: bool,
}

#[derive(Debug, Default)]
pub struct Peers {
    nodes: HashMap<String, Peer>,
    /// Over all other nodes: how many have a session of each user.
    counts: HashMap<String, usize>,
}

impl Peers {
    /// Whether `user` has a session on another node.
    pub fn online(&self, user: &str) -> bool {
        self.counts.contains_key(user)
    }

    pub fn nodes(&self) -> Vec<String> {
        let mut v: Vec<String> = self.nodes.keys().cloned().collect();
        v.sort();
        v
    }

    fn peer(&mut self, node: &str, now: Instant) -> &mut Peer {
        let p = self.nodes.entry(node.to_owned()).or_insert_with(|| Peer {
            users: HashSet::new(),
            seq: None,
            seen: now,
        });
        p.seen = now;
        p
    }

    /// Heard from `node`, whose latest presence change is `seq`: `true` when this node has
    /// not seen that change (or does not know the node), so it should ask for its state.
    pub fn heartbeat(&mut self, node: &str, seq: u64, now: Instant) -> bool {
        self.peer(node, now).seq != Some(seq)
    }

    /// A user's first session on `node` opened or its last closed. Returns the change on
    /// the other nodes taken together, if any, and whether a change was missed before it
    /// (then the node's state should be asked for).
    pub fn presence(
        &mut self,
        node: &str,
        user: &str,
        online: bool,
        seq: u64,
        now: Instant,
    ) -> (Option<Change>, bool) {
        let p = self.peer(node, now);
        let missed = p.seq.is_none_or(|s| s + 1 != seq);
        p.seq = Some(seq);
        let changed = if online {
            p.users.insert(user.to_owned())
        } else {
            p.users.remove(user)
        };
        if !changed {
            return (None, missed);
        }
        (self.count(user, online), missed)
    }

    fn count(&mut self, user: &str, online: bool) -> Option<Change> {
        let change = |online| {
            Some(Change {
                user: user.to_owned(),
                online,
            })
        };
        if online {
            let n = self.counts.entry(user.to_owned()).or_default();
            *n += 1;
            if *n == 1 {
                return change(true);
            }
        } else if let Some(n) = self.counts.get_mut(user) {
            *n -= 1;
            if *n == 0 {
                self.counts.remove(user);
                return change(false);
            }
        }
        None
    }

    /// `node`'s whole state as of its change `seq`.
    pub fn state(&mut self, node: &str, seq: u64, users: Vec<String>, now: Instant) -> Vec<Change> {
        let p = self.peer(node, now);
        p.seq = Some(seq);
        let new: HashSet<String> = users.into_iter().collect();
        let gone: Vec<String> = p.users.difference(&new).cloned().collect();
        let came: Vec<String> = new.difference(&p.users).cloned().collect();
        p.users = new;
        let mut changes = Vec::new();
        for u in gone {
            changes.extend(self.count(&u, false));
        }
        for u in came {
            changes.extend(self.count(&u, true));
        }
        changes
    }

    /// Forgets `node` (it said goodbye or stopped being heard).
    pub fn remove(&mut self, node: &str) -> Vec<Change> {
        let Some(p) = self.nodes.remove(node) else {
            return Vec::new();
        };
        p.users
            .iter()
            .filter_map(|u| self.count(u, false))
            .collect()
    }

    /// Forgets the nodes not heard from for `timeout`: their names and the changes.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> (Vec<String>, Vec<Change>) {
        let dead: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.seen) >= timeout)
            .map(|(n, _)| n.clone())
            .collect();
        let changes = dead.iter().flat_map(|n| self.remove(n)).collect();
        (dead, changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(u: &str) -> Change {
        Change {
            user: u.into(),
            online: true,
        }
    }
    fn off(u: &str) -> Change {
        Change {
            user: u.into(),
            online: false,
        }
    }

    #[test]
    fn a_user_is_online_elsewhere_while_any_other_node_has_a_session() {
        let mut p = Peers::default();
        let t = Instant::now();
        assert!(p.heartbeat("a", 0, t), "an unknown node: ask for its state");
        assert_eq!(p.state("a", 0, vec![], t), vec![]);
        assert!(!p.heartbeat("a", 0, t));
        assert_eq!(
            p.presence("a", "alice", true, 1, t),
            (Some(on("alice")), false)
        );
        assert_eq!(p.presence("b", "alice", true, 7, t), (None, true));
        assert!(p.online("alice"));
        assert_eq!(p.presence("a", "alice", false, 2, t), (None, false));
        assert!(p.online("alice"));
        assert_eq!(
            p.presence("b", "alice", false, 8, t),
            (Some(off("alice")), false)
        );
        assert!(!p.online("alice"));
        assert!(p.heartbeat("a", 5, t), "a missed change is noticed");
    }

    #[test]
    fn a_state_replaces_what_was_known_and_a_dead_node_takes_its_users_along() {
        let mut p = Peers::default();
        let t = Instant::now();
        p.state("a", 3, vec!["alice".into(), "bob".into()], t);
        p.state("b", 1, vec!["bob".into()], t + Duration::from_secs(4));
        let mut changes = p.state("a", 4, vec!["carol".into(), "bob".into()], t);
        changes.sort_by(|x, y| x.user.cmp(&y.user));
        assert_eq!(changes, vec![off("alice"), on("carol")]);
        let (dead, changes) = p.expire(t + Duration::from_secs(5), Duration::from_secs(5));
        assert_eq!(dead, vec!["a".to_owned()]);
        assert_eq!(changes, vec![off("carol")], "bob is still on b");
        assert_eq!(p.nodes(), vec!["b".to_owned()]);
        assert_eq!(p.remove("b"), vec![off("bob")]);
        assert!(p.remove("b").is_empty());
    }
}
