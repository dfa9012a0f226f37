//! One writer per upload: a `PATCH`, a `HEAD` (which must see a settled offset), a
//! cancellation and the finishing of one upload take its lock in turn. Entries live only
//! while someone holds or waits for them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

type Entry = Arc<tokio::sync::Mutex<()>>;

#[derive(Debug, Default)]
pub struct UploadLocks {
    // A std mutex: held only to find or drop an entry, never across an await.
    map: Arc<Mutex<HashMap<String, Entry>>>,
}

/// Holds an upload's lock; releases it (and forgets the entry if nobody waits) on drop.
#[derive(Debug)]
pub struct UploadGuard {
    id: String,
    entry: Entry,
    guard: Option<OwnedMutexGuard<()>>,
    map: Arc<Mutex<HashMap<String, Entry>>>,
}

impl UploadLocks {
    pub async fn lock(&self, id: &str) -> UploadGuard {
        let entry = {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(id.to_owned()).or_default().clone()
        };
        let guard = entry.clone().lock_owned().await;
        UploadGuard {
            id: id.to_owned(),
            entry,
            guard: Some(guard),
            map: self.map.clone(),
        }
    }
}

impl Drop for UploadGuard {
    fn drop(&mut self) {
        self.guard.take();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        // Ours and the map's: nobody else holds or waits for it.
        if Arc::strong_count(&self.entry) <= 2 {
            map.remove(&self.id);
        }
    }
}
