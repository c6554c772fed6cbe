//! Free loopback ports for the addresses of brokers that are not started yet: `ringlog dev
//! --base-port 0`, the benchmark harness's clusters and the tests' clusters.
//!
//! A port the kernel hands out for `bind(0)` and that is let go at once comes from its
//! ephemeral range (`net.ipv4.ip_local_port_range`), the range outgoing connections take
//! their local ports from. Between being picked and being bound by its broker, such a port
//! can become the local end of some connection (another broker starting, a test next door),
//! and the broker then exits "address in use". The ports here are picked below that range,
//! where only a listener can take one, and a process never picks the same one twice (a shared
//! cursor, starting somewhere of the process's own so processes seldom probe the same ports).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Mutex;

/// The lowest port picked: above the registered services most hosts run.
pub const FIRST: u16 = 10_000;

/// Where the next pick starts, once set; a process's picks go round `FIRST..end()`.
static CURSOR: Mutex<Option<u16>> = Mutex::new(None);

/// A port on 127.0.0.1 nothing listens on now, below the ephemeral range, not handed out
/// before by this process (until the range is gone through).
pub fn free_addr() -> io::Result<SocketAddr> {
    let end = end();
    let mut cursor = CURSOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut next = cursor.unwrap_or_else(|| start(end));
    for _ in FIRST..end {
        let port = next;
        next = if port + 1 >= end { FIRST } else { port + 1 };
        if let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            *cursor = Some(next);
            return listener.local_addr();
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!("no free port on 127.0.0.1 between {FIRST} and {end}"),
    ))
}

/// The first port of the kernel's ephemeral range, the end of the picks.
pub fn end() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .filter(|&low| low > FIRST + 1_000)
        .unwrap_or(32_768)
}

/// A start of this process's own in `FIRST..end`.
fn start(end: u16) -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or(0);
    let seed = std::process::id().wrapping_mul(2_654_435_761) ^ nanos;
    let offset = seed % u32::from(end - FIRST);
    FIRST + u16::try_from(offset).expect("below the span")
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test: a second one running beside it would move the shared cursor.
    #[test]
    fn ports_are_distinct_free_and_below_the_ephemeral_range() {
        let end = end();
        let mut ports: Vec<u16> = (0..200).map(|_| free_addr().unwrap().port()).collect();
        assert!(
            ports.iter().all(|&p| (FIRST..end).contains(&p)),
            "{ports:?} not all in {FIRST}..{end}"
        );
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 200, "a port handed out twice");

        // A port something listens on is skipped: put the cursor back onto one.
        let taken = free_addr().unwrap();
        let _listener = TcpListener::bind(taken).unwrap();
        *CURSOR.lock().unwrap() = Some(taken.port());
        assert_ne!(free_addr().unwrap(), taken);
    }
}
