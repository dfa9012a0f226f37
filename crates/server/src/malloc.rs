//! The C allocator's settings for a server that peers can flood.
//!
//! Rust's own allocations go to mimalloc (the `#[global_allocator]` in `main.rs`); glibc's
//! malloc still serves the C code linked in (SQLite) and any test binary that links the
//! library, so these settings stay.
//!
//! glibc serves a large allocation (above `M_MMAP_THRESHOLD`, 128 KiB at first) from a
//! mapping of its own and unmaps it on free, but after the first such free it raises the
//! threshold to that size, so later large buffers come from the heap. A peer sending many
//! ~130 KB messages (heart-beat newlines before a one-byte frame) then has each message's
//! transient buffers allocated on the heap between small allocations that outlive them (the
//! kept message), and the heap grows by about a buffer per message: 1,000 such messages kept
//! 130 MB resident (`hostile_broker`), depending on the allocation history. A fixed threshold
//! keeps every buffer of 64 KiB or more in a mapping of its own, returned to the system when
//! freed, so the heap holds only small pieces.

/// Applies the settings; call first thing in `main`, before other threads start.
pub fn tune() {
    no_huge_pages();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets an allocator parameter, from the main thread before any
        // other thread exists; if glibc refuses (returns 0) its defaults stay in place.
        #[allow(unsafe_code)]
        let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024) };
        if ok == 0 {
            eprintln!("tidings-server: could not set M_MMAP_THRESHOLD; using glibc's default");
        }
    }
}

/// The environment variable that keeps transparent huge pages on (`1`): mimalloc's own
/// name for the same choice.
pub const ALLOW_THP: &str = "MIMALLOC_ALLOW_THP";

/// Turns transparent huge pages off for the process (Linux), unless [`ALLOW_THP`] is `1`.
///
/// With THP on (`always`, Debian's default), the kernel backs mimalloc's arenas with 2 MiB
/// pages, and a page that holds a few live objects after a flood of connections stays
/// resident whole: idle, 10.0-10.2 KB per connection at 10k and 9.3 at 19k with it,
/// 9.1-9.2 and 8.8-8.9 without (docs/benchmarks.md, "Idle"). The chat held the same
/// ladder step with it off in three alternating runs, and the fan-out no less. Redis and
/// most databases ask for THP off for the same reasons.
fn no_huge_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var(ALLOW_THP).is_ok_and(|v| v == "1") {
            return;
        }
        // SAFETY: PR_SET_THP_DISABLE only sets a flag on this process's memory map; it takes
        // no pointers. If the kernel refuses, huge pages stay as the system has them.
        #[allow(unsafe_code)]
        let r = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
        if r != 0 {
            eprintln!("tidings-server: could not turn transparent huge pages off; using the system's setting");
        }
    }
}
