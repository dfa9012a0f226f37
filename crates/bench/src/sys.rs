//! What a process tree uses, read from /proc: resident memory and CPU time.

use std::time::Instant;

/// The soft limit on open files of this process (`ulimit -n`).
pub fn nofile_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// `pid` and all its descendants.
pub fn tree(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(stat) = stat_fields(p) {
                if let Some(pp) = stat.get(1).and_then(|v| v.parse().ok()) {
                    parents.push((p, pp));
                }
            }
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let cur = out[i];
        out.extend(parents.iter().filter(|(_, pp)| *pp == cur).map(|(p, _)| *p));
        i += 1;
    }
    out
}

/// The fields of /proc/PID/stat after the command name (state is index 0).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 2..];
    Some(after.split_whitespace().map(str::to_owned).collect())
}

/// Resident set size of the process tree, in bytes.
pub fn rss_bytes(pid: u32) -> u64 {
    tree(pid)
        .into_iter()
        .filter_map(|p| {
            std::fs::read_to_string(format!("/proc/{p}/status"))
                .ok()?
                .lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
        })
        .sum::<u64>()
        * 1024
}

/// CPU seconds (user + system) used so far by the process tree.
pub fn cpu_seconds(pid: u32) -> f64 {
    // utime and stime are fields 14 and 15 of stat (1-based), in clock ticks; Linux uses
    // 100 ticks per second on every architecture Tidings runs on.
    const TICKS: f64 = 100.0;
    tree(pid)
        .into_iter()
        .filter_map(|p| {
            let f = stat_fields(p)?;
            let u: u64 = f.get(11)?.parse().ok()?;
            let s: u64 = f.get(12)?.parse().ok()?;
            Some((u + s) as f64 / TICKS)
        })
        .sum()
}

/// CPU used by a process tree over a window.
#[derive(Debug)]
pub struct CpuWindow {
    pid: u32,
    start_cpu: f64,
    start: Instant,
}

impl CpuWindow {
    pub fn start(pid: u32) -> CpuWindow {
        CpuWindow {
            pid,
            start_cpu: cpu_seconds(pid),
            start: Instant::now(),
        }
    }

    /// (CPU seconds used, wall seconds passed).
    pub fn finish(&self) -> (f64, f64) {
        (
            cpu_seconds(self.pid) - self.start_cpu,
            self.start.elapsed().as_secs_f64(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(
            rss_bytes(me) > 1024 * 1024,
            "a Rust test binary has over 1 MB resident"
        );
        assert!(tree(me).contains(&me));
        assert!(nofile_limit() > 0);
    }
}
