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
