//! Requests in flight per user: a count per user of REST requests being answered, capped
//! (`limits.max_requests_in_flight_per_user`). The request rate (`rate`) bounds how much a
//! user may ask for over time; this bounds how much may be held in memory at once (a page
//! of the change log can be megabytes while it is built and sent), however many
//! connections the user opens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The counts, shared by every request.
#[derive(Debug)]
pub struct InFlight {
    max: usize,
    // A plain mutex: the critical sections are a hash lookup and an increment.
    counts: Mutex<HashMap<String, usize>>,
}

/// One request in flight; dropping it ends it.
#[derive(Debug)]
pub struct Permit {
    owner: Arc<InFlight>,
    user: String,
}

impl InFlight {
    pub fn new(max: usize) -> InFlight {
        InFlight {
            max: max.max(1),
            counts: Mutex::new(HashMap::new()),
        }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// A place for one more request of `user`, or `None` when the user has `max` in flight.
    pub fn try_acquire(self: &Arc<Self>, user: &str) -> Option<Permit> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(user.to_owned()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Permit {
            owner: self.clone(),
            user: user.to_owned(),
        })
    }

    /// Requests of `user` in flight now.
    pub fn count(&self, user: &str) -> usize {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(user).copied().unwrap_or(0)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self.owner.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                // Users with nothing in flight take no memory.
                counts.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_gets_max_places_and_each_returns_when_dropped() {
        let f = Arc::new(InFlight::new(2));
        let a = f.try_acquire("alice").unwrap();
        let b = f.try_acquire("alice").unwrap();
        assert!(f.try_acquire("alice").is_none(), "at the cap");
        let c = f.try_acquire("bob");
        assert!(c.is_some(), "others have their own places");
        drop(a);
        assert_eq!(f.count("alice"), 1);
        let again = f.try_acquire("alice");
        assert!(again.is_some());
        drop((b, again, c));
        assert_eq!(f.count("alice") + f.count("bob"), 0);
        assert!(
            f.counts.lock().unwrap().is_empty(),
            "nothing kept for idle users"
        );
    }
}
