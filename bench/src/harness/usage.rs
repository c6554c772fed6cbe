//! What the brokers spend on a row: each broker process's CPU time and the bytes its metrics
//! say it sent, sampled before the row's clients start and after they are done, and the
//! difference taken; and the same over an idle window just before the row.
//!
//! | figure        | source                                                              |
//! |---------------|---------------------------------------------------------------------|
//! | CPU time      | `/proc/PID/stat`, fields 14 and 15 (`utime`, `stime`, all threads), in clock ticks (`sysconf(_SC_CLK_TCK)`, 100 on Linux: 10 ms resolution) |
//! | zero-copy     | `ringlog_fetch_bytes_total{mode="zerocopy"}` at `http://METRICS/metrics`: record bytes fetches sent with sendfile/splice |
//! | bytes out     | `ringlog_bytes_out_total`, same page: every byte written to connections |
//!
//! A counter that was never incremented is not on the page: it reads 0. The parsing is pure
//! ([`cpu_ticks`], [`counter`]); [`sample`] does the reading.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// The zero-copy counter's series, as the broker's metrics page spells it.
pub const ZERO_COPY_SERIES: &str = r#"ringlog_fetch_bytes_total{mode="zerocopy"}"#;
/// The bytes-out counter's series.
pub const BYTES_OUT_SERIES: &str = "ringlog_bytes_out_total";

/// The gauge saying whether a broker's TLS connections go through the kernel's TLS (1) or
/// rustls in user space (0).
pub const KERNEL_TLS_SERIES: &str = "ringlog_tls_kernel_offload";

/// How long reading a broker's metrics page may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// The most bytes of a metrics page read (a few hundred series; far less in practice).
const SCRAPE_BYTES_MAX: u64 = 16 << 20;

/// One broker's counters at one moment, or (from [`Spent::between`]) their growth over a row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spent {
    /// utime + stime, clock ticks.
    pub cpu_ticks: u64,
    /// Record bytes fetches sent by sendfile/splice.
    pub zero_copy_bytes: u64,
    /// Bytes written to connections.
    pub bytes_out: u64,
}

impl Spent {
    /// What grew from `before` to `after`, broker by broker (both in the cluster's broker
    /// order). Counters only grow while a broker runs: a smaller `after` is a restarted broker,
    /// a bug of the harness.
    pub fn between(before: &[Spent], after: &[Spent]) -> Vec<Spent> {
        assert_eq!(
            before.len(),
            after.len(),
            "brokers sampled before and after"
        );
        before
            .iter()
            .zip(after)
            .map(|(b, a)| {
                debug_assert!(a.cpu_ticks >= b.cpu_ticks, "cpu {b:?} then {a:?}");
                Spent {
                    cpu_ticks: a.cpu_ticks.saturating_sub(b.cpu_ticks),
                    zero_copy_bytes: a.zero_copy_bytes.saturating_sub(b.zero_copy_bytes),
                    bytes_out: a.bytes_out.saturating_sub(b.bytes_out),
                }
            })
            .collect()
    }
}

/// Broker `pid`'s counters now, its metrics read from `metrics`.
pub fn sample(pid: u32, metrics: SocketAddr) -> Result<Spent> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    let cpu_ticks = cpu_ticks(&stat).with_context(|| format!("parse {path}: {stat:?}"))?;
    let page = scrape(metrics)?;
    Ok(Spent {
        cpu_ticks,
        zero_copy_bytes: counter(&page, ZERO_COPY_SERIES)
            .with_context(|| format!("{ZERO_COPY_SERIES} at {metrics}"))?,
        bytes_out: counter(&page, BYTES_OUT_SERIES)
            .with_context(|| format!("{BYTES_OUT_SERIES} at {metrics}"))?,
    })
}

/// Clock ticks per second, the unit of `/proc/PID/stat`'s times.
pub fn ticks_per_sec() -> u64 {
    // SAFETY: sysconf(3) reads a constant of the system; no memory is shared.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

/// utime + stime of a `/proc/PID/stat` line. The command name (field 2) is in parentheses and
/// may hold spaces and parentheses itself: fields are counted after the last `)`.
pub fn cpu_ticks(stat: &str) -> Result<u64> {
    // After the name come field 3 (state) onwards: utime (14) is the 12th, stime (15) the 13th.
    const UTIME_AFTER_NAME: usize = 14 - 3;
    let (_, rest) = stat
        .rsplit_once(')')
        .context("no command name in parentheses")?;
    let mut fields = rest.split_whitespace().skip(UTIME_AFTER_NAME);
    let mut next = |name: &str| -> Result<u64> {
        let field = fields.next().with_context(|| format!("no {name} field"))?;
        field
            .parse()
            .with_context(|| format!("{name} field {field:?} is not a count"))
    };
    let utime = next("utime")?;
    let stime = next("stime")?;
    Ok(utime + stime)
}

/// The value of `series` (a metric name with its labels, exactly as the page prints them) on a
/// Prometheus text page; 0 when the page does not have it.
pub fn counter(page: &str, series: &str) -> Result<u64> {
    let Some(value) = page.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        // `name ` or `name{...} `, not a longer name sharing the prefix.
        rest.starts_with(' ')
            .then(|| rest.split_whitespace().next())?
    }) else {
        return Ok(0);
    };
    if let Ok(count) = value.parse::<u64>() {
        return Ok(count);
    }
    match value.parse::<f64>() {
        Ok(float) if float >= 0.0 && float.is_finite() => Ok(float as u64),
        _ => bail!("{series} is {value:?}, not a count"),
    }
}

/// The broker at `metrics`' [`KERNEL_TLS_SERIES`] gauge; none when its page does not have it.
pub fn kernel_tls_gauge(metrics: SocketAddr) -> Result<Option<f64>> {
    let page = scrape(metrics)?;
    Ok(gauge(&page, KERNEL_TLS_SERIES))
}

/// The value of gauge `series` on a Prometheus text page, if it is there and a number.
pub fn gauge(page: &str, series: &str) -> Option<f64> {
    page.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        let value = rest.strip_prefix(' ')?.split_whitespace().next()?;
        value.parse().ok()
    })
}

/// `GET /metrics` from `addr`; the body.
fn scrape(addr: SocketAddr) -> Result<String> {
    let fail = || format!("read the metrics at http://{addr}/metrics");
    let mut stream = TcpStream::connect_timeout(&addr, SCRAPE_TIMEOUT).with_context(fail)?;
    stream
        .set_read_timeout(Some(SCRAPE_TIMEOUT))
        .with_context(fail)?;
    stream
        .set_write_timeout(Some(SCRAPE_TIMEOUT))
        .with_context(fail)?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: ringlog\r\nConnection: close\r\n\r\n")
        .with_context(fail)?;
    let mut response = String::new();
    stream
        .take(SCRAPE_BYTES_MAX)
        .read_to_string(&mut response)
        .with_context(fail)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .with_context(|| format!("{}: no end to the response head", fail()))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        bail!("{}: answered {status:?}", fail());
    }
    Ok(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_tls_gauge_is_read_when_there() {
        let page = "# TYPE ringlog_tls_kernel_offload gauge\nringlog_tls_kernel_offload 0\n\
                    ringlog_tls_kernel_offload_x 5\n";
        assert_eq!(gauge(page, KERNEL_TLS_SERIES), Some(0.0));
        assert_eq!(
            gauge("ringlog_tls_kernel_offload 1\n", KERNEL_TLS_SERIES),
            Some(1.0)
        );
        assert_eq!(
            gauge("ringlog_bytes_out_total 5\n", KERNEL_TLS_SERIES),
            None
        );
    }

    /// A broker's stat line (Linux 6.x, 52 fields), its name with a space and a parenthesis.
    const STAT: &str = "4242 (ringlog (x) y) S 4100 4242 4100 0 -1 4194368 35571 0 0 0 \
        1234 567 0 0 20 0 9 0 3086620 1540206592 14339 18446744073709551615 1 1 0 0 0 0 0 \
        4096 1088 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    #[test]
    fn cpu_time_is_utime_plus_stime() {
        assert_eq!(cpu_ticks(STAT).unwrap(), 1234 + 567);
    }

    #[test]
    fn a_stat_line_without_its_fields_is_an_error() {
        let error = cpu_ticks("4242 (ringlog) S 1 2 3").unwrap_err().to_string();
        assert!(error.contains("utime"), "{error}");
        assert!(cpu_ticks("no name at all").is_err());
        let error = cpu_ticks(&STAT.replace(" 1234 ", " x "))
            .unwrap_err()
            .to_string();
        assert!(error.contains("\"x\""), "{error}");
    }

    #[test]
    fn counters_are_read_by_their_exact_series() {
        let page = "# HELP ringlog_bytes_out_total Bytes written.\n\
            # TYPE ringlog_bytes_out_total counter\n\
            ringlog_bytes_out_total 123456789\n\
            ringlog_bytes_out_total_extra 5\n\
            ringlog_fetch_bytes_total{mode=\"copy\"} 7\n\
            ringlog_fetch_bytes_total{mode=\"zerocopy\"} 4096\n";
        assert_eq!(counter(page, BYTES_OUT_SERIES).unwrap(), 123_456_789);
        assert_eq!(counter(page, ZERO_COPY_SERIES).unwrap(), 4096);
        assert_eq!(counter("", ZERO_COPY_SERIES).unwrap(), 0);
        assert_eq!(
            counter("ringlog_bytes_out_total 2e3\n", BYTES_OUT_SERIES).unwrap(),
            2000
        );
        assert!(counter("ringlog_bytes_out_total NaN\n", BYTES_OUT_SERIES).is_err());
    }

    #[test]
    fn what_grew_is_taken_broker_by_broker() {
        let before = [
            Spent {
                cpu_ticks: 10,
                zero_copy_bytes: 100,
                bytes_out: 1000,
            },
            Spent::default(),
        ];
        let after = [
            Spent {
                cpu_ticks: 35,
                zero_copy_bytes: 600,
                bytes_out: 1700,
            },
            Spent {
                cpu_ticks: 3,
                zero_copy_bytes: 0,
                bytes_out: 9,
            },
        ];
        assert_eq!(
            Spent::between(&before, &after),
            vec![
                Spent {
                    cpu_ticks: 25,
                    zero_copy_bytes: 500,
                    bytes_out: 700,
                },
                Spent {
                    cpu_ticks: 3,
                    zero_copy_bytes: 0,
                    bytes_out: 9,
                },
            ]
        );
    }

    #[test]
    fn this_process_has_a_cpu_time() {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        cpu_ticks(&stat).unwrap();
        assert!(ticks_per_sec() > 0);
    }
}
