//! Startup telemetry: when the process started, and how long until the UI had painted its
//! first signed-in view from the cache.
//!
//! The clock starts at the top of [`crate::run`], before Tauri, GTK or WebKit are set up (the
//! time the dynamic loader spends before `main` is not in it). The UI reports once it has
//! rendered the conversation list of a saved session (and the conversation, if one opened by
//! itself) and the frame has been painted; the first report of the process is logged as one
//! info line, `first paint`, with `ms` since the start. Later reports (the window built again
//! after hiding to the tray) are not first paints and are not logged.

use serde::Deserialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What the UI had painted when it reported.
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FirstPaint {
    /// Conversations in the list.
    pub conversations: u32,
    /// Messages of the open conversation (0 when none opened by itself).
    pub messages: u32,
}

/// The process's start, and whether its first paint has been reported.
#[derive(Debug)]
pub struct Launch {
    started: Instant,
    painted: AtomicBool,
}

impl Launch {
    pub fn new(started: Instant) -> Launch {
        Launch {
            started,
            painted: AtomicBool::new(false),
        }
    }

    /// The time from the start to `at` if this is the process's first paint, else `None`.
    pub fn first_paint(&self, at: Instant) -> Option<Duration> {
        if self.painted.swap(true, Ordering::SeqCst) {
            return None;
        }
        Some(at.saturating_duration_since(self.started))
    }

    /// Records a paint the UI reported: logs the first one.
    pub fn report(&self, paint: &FirstPaint) {
        if let Some(d) = self.first_paint(Instant::now()) {
            tracing::info!(
                ms = d.as_secs_f64() * 1000.0,
                conversations = paint.conversations,
                messages = paint.messages,
                "first paint"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_paint_counts() {
        let t0 = Instant::now();
        let launch = Launch::new(t0);
        let later = t0 + Duration::from_millis(420);
        assert_eq!(launch.first_paint(later), Some(Duration::from_millis(420)));
        assert_eq!(launch.first_paint(later + Duration::from_secs(5)), None);
    }
}
