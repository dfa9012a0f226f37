//! The tray process and the window's process (issue 19 goal 6; docs/desktop-app.md, "The tray
//! without WebKit"): what they say to each other, one JSON object a line, over the window
//! process's standard input (tray → window) and output (window → tray).
//!
//! *Why the child's pipes and not a named socket.* The tray process starts the window's
//! process, so the two already share a channel that exists the same way on Linux, macOS and
//! Windows (`std::process` pipes): no name to choose or clean up, no permissions to set, no
//! stranger can connect, and the end of the window's process is the end of its output. Lines
//! of the window's output that are not the app's (a library printing to stdout) are told
//! apart by [`PREFIX`]. A second launch of the app, which must reach a process it did not
//! start, is another matter (see the docs: single instance).
//!
//! *Who owns the accounts.* One process at a time runs an account's engine: the tray process
//! stops its engines before it starts the window's process, which opens the same caches and
//! runs its own (the window's commands read and write the cache in process, as always), and
//! starts them again when that process ends. So one connection per account and one writer
//! per cache at any time, and the notifier of the process that knows whether the window is
//! focused decides what pops up. What arrived during the handover is caught up by the next
//! engine from the cache's last sequence, and pops up as news (the notifier's baseline is the
//! cache as the engine starts).

use crate::state::Opening;
use crate::tray::Look;
use serde::{Deserialize, Serialize};

/// What starts each line of the protocol on the window process's output.
pub const PREFIX: &str = "tidings-ipc ";

/// The flag that starts the window's process.
pub const WINDOW_FLAG: &str = "--window";

/// The flag before what the window opens first (an [`Opening`] as JSON: a notification's
/// click while no window was there). Read before the window is built, so the page asks for
/// it once loaded, as a window built again in the same process does.
pub const OPEN_FLAG: &str = "--open";

/// The opening on the command line, if any.
pub fn opening_arg() -> Option<Opening> {
    let mut args = std::env::args().skip_while(|a| a != OPEN_FLAG).skip(1);
    serde_json::from_str(&args.next()?).ok()
}

/// From the tray process to the window's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "kebab-case")]
pub enum ToWindow {
    /// Show the window (a second click on Show, a notification's click), opening this.
    Show { open: Option<Opening> },
    /// Show/Hide while shown: the window process ends.
    Hide,
    /// The tray's Do not disturb.
    DoNotDisturb,
    /// The tray's Quit: the window process ends, and the tray process after it.
    Quit,
}

/// From the window's process to the tray process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "kebab-case")]
pub enum ToTray {
    /// What the tray shows, as the window process's engines have it.
    Tray { line: String, look: Look, dnd: bool },
    /// The user quit from the window (closing it with close-to-tray off): all of the app ends.
    Quit,
}

/// One line of the protocol.
pub fn encode<T: Serialize>(msg: &T) -> String {
    // Serializing these types cannot fail (no maps with non-string keys, no foreign types).
    format!(
        "{PREFIX}{}\n",
        serde_json::to_string(msg).unwrap_or_default()
    )
}

/// The message of a line, if it is one of the protocol's.
pub fn decode<T: for<'de> Deserialize<'de>>(line: &str) -> Option<T> {
    serde_json::from_str(line.trim_end().strip_prefix(PREFIX)?).ok()
}

/// In the window's process: the way to the tray process (its standard output), kept by the
/// app so that the tray's drawing and Quit find it.
#[derive(Debug)]
pub struct Link;

impl Link {
    pub fn send(&self, m: &ToTray) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        // The tray process gone: nothing to tell (the window goes on until closed).
        let _ = out
            .write_all(encode(m).as_bytes())
            .and_then(|()| out.flush());
    }
}

/// In the window's process: hears the tray process (its standard input) on a thread of its
/// own, until the tray process closes it.
pub fn listen<R: tauri::Runtime>(app: &tauri::AppHandle<R>) {
    use std::io::BufRead;
    let app = app.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { return };
            match decode::<ToWindow>(&line) {
                Some(ToWindow::Show { open }) => crate::window::show(&app, open),
                Some(ToWindow::Hide) => crate::window::hide(&app),
                Some(ToWindow::DoNotDisturb) => crate::tray::toggle_dnd(&app),
                Some(ToWindow::Quit) => crate::window::quit(&app),
                None => tracing::warn!(line, "not a message from the tray process"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::OpenTarget;

    #[test]
    fn messages_go_over_a_line_and_other_output_is_ignored() {
        let show = ToWindow::Show {
            open: Some(Opening::Conversation(OpenTarget {
                account: "alice@host".into(),
                conversation: "c1".into(),
            })),
        };
        let line = encode(&show);
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        assert_eq!(decode::<ToWindow>(&line), Some(show));
        let tray = ToTray::Tray {
            line: "Tidings — 2 unread — live".into(),
            look: Look::Unread,
            dnd: false,
        };
        assert_eq!(decode::<ToTray>(&encode(&tray)), Some(tray));
        assert_eq!(decode::<ToTray>("Gtk-Message: something\n"), None);
        assert_eq!(decode::<ToTray>("tidings-ipc {\"do\":\"nonsense\"}"), None);
    }
}
