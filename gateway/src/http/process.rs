//! The standard `process_*` metrics of Prometheus clients, read from `/proc/self` on
//! Linux; elsewhere there is no such file and they are left out, as the Go and Python
//! clients do.

use std::fmt::Write;

/// Clock ticks per second of `/proc/self/stat`'s times: `USER_HZ`, fixed at 100 by the
/// kernel's ABI on every architecture that exposes it to user space.
const USER_HZ: f64 = 100.0;

/// Appends `process_cpu_seconds_total`, `process_resident_memory_bytes` and
/// `process_open_fds`, each only where the system tells it.
pub fn render(out: &mut String) {
    if let Some(seconds) = cpu_seconds() {
        family(
            out,
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent, in seconds.",
            seconds,
        );
    }
    if let Some(bytes) = resident_bytes() {
        family(
            out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            bytes as f64,
        );
    }
    if let Some(fds) = open_fds() {
        family(
            out,
            "process_open_fds",
            "gauge",
            "Open file descriptors.",
            fds as f64,
        );
    }
}

/// One family with a single unlabelled sample.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

/// utime + stime of `/proc/self/stat`: fields 14 and 15, counted after the command
/// name, which is in parentheses and may itself hold spaces.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let (_, after_name) = stat.rsplit_once(')')?;
    // After the name: field 3 (state) is first, so utime (14) is the 12th.
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// `VmRSS` of `/proc/self/status`, which the kernel gives in KiB.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}

fn open_fds() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn linux_has_every_process_metric() {
        let mut out = String::new();
        super::render(&mut out);
        for name in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
        ] {
            assert!(out.contains(name), "{name} missing from {out}");
        }
    }
}
