//! What the run's machine is: cores, CPU, memory, kernel, the data directory's filesystem, the
//! git commit and the load, read from `/proc`, `statfs(2)` and `git`. Anything that cannot be
//! read is `unknown`, never an error: the figures matter more than their labels.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use ringlog_engine::IoBackendKind;
use ringlog_engine::io::open_backend;

use super::results::Machine;

const UNKNOWN: &str = "unknown";

/// The machine as it is now; `load_after` is filled in at the end of the run.
pub fn describe(data_dir: &Path, io_backend: &str) -> Machine {
    Machine {
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu: cpu_model(),
        memory_gib: memory_gib(),
        kernel: read_trimmed("/proc/sys/kernel/osrelease"),
        io_backend: io_backend_in_use(io_backend),
        filesystem: filesystem(data_dir),
        git_commit: git_commit(),
        date: utc_date_time(SystemTime::now()),
        load_before: load_average(),
        load_after: 0.0,
    }
}

/// The 1-minute load average.
pub fn load_average() -> f64 {
    read_trimmed("/proc/loadavg")
        .split_whitespace()
        .next()
        .and_then(|load| load.parse().ok())
        .unwrap_or(0.0)
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map_or_else(|_| UNKNOWN.to_string(), |s| s.trim().to_string())
}

fn cpu_model() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name")?.split_once(':'))
        .map_or_else(
            || UNKNOWN.to_string(),
            |(_, model)| model.trim().to_string(),
        )
}

fn memory_gib() -> f64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib: f64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    (kib / (1024.0 * 1024.0) * 10.0).round() / 10.0
}

/// What `--io-backend VALUE` is on this machine: `auto` resolves as the broker resolves it.
fn io_backend_in_use(requested: &str) -> String {
    let Ok(kind) = requested.parse::<IoBackendKind>() else {
        return requested.to_string();
    };
    match open_backend(kind) {
        Ok(backend) if kind == IoBackendKind::Auto => format!("auto ({})", backend.name()),
        Ok(backend) => backend.name().to_string(),
        Err(e) => format!("{requested} (unavailable: {e})"),
    }
}

/// The filesystem type of `dir`, by its `statfs` magic number.
fn filesystem(dir: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return UNKNOWN.to_string();
    };
    // SAFETY: statfs(2) with a NUL-terminated path and a zeroed struct the kernel fills.
    let (result, stat) = unsafe {
        let mut stat: libc::statfs = std::mem::zeroed();
        (libc::statfs(path.as_ptr(), &mut stat), stat)
    };
    if result != 0 {
        return UNKNOWN.to_string();
    }
    let name = match stat.f_type as u64 {
        0xEF53 => "ext4",
        0x0102_1994 => "tmpfs",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x794C_7630 => "overlayfs",
        0xF2F5_2010 => "f2fs",
        0x0102_1997 => "9p",
        other => return format!("{other:#x}"),
    };
    name.to_string()
}

/// `git rev-parse HEAD` of the current directory, with `-dirty` if tracked files changed.
fn git_commit() -> String {
    let git = |args: &[&str]| -> Option<String> {
        let output = Command::new("git")
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    match git(&["rev-parse", "HEAD"]) {
        Some(commit) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|status| !status.is_empty());
            if dirty {
                format!("{commit}-dirty")
            } else {
                commit
            }
        }
        None => UNKNOWN.to_string(),
    }
}

/// `at` as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_date_time(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_are_utc_and_gregorian() {
        let at = |secs| utc_date_time(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(at(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn this_machine_is_described() {
        let dir = tempfile::tempdir().unwrap();
        let machine = describe(dir.path(), "portable");
        assert!(machine.cores >= 1, "{machine:?}");
        assert_ne!(machine.kernel, UNKNOWN, "{machine:?}");
        assert_ne!(machine.filesystem, UNKNOWN, "{machine:?}");
        assert_eq!(machine.io_backend, "portable");
        assert!(machine.date.ends_with('Z'), "{machine:?}");
    }
}
