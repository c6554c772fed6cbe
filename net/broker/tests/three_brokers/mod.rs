//! Three brokers in the test's process, every one a controller voter, on free loopback ports
//! with their data in temporary directories: what the broker's Kafka-listener tests of a
//! cluster start from (each wraps it with the calls it needs).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ringlog_broker::{Broker, ServerOptions};
use ringlog_replication::BrokerId;

/// The brokers (index 0 is broker 1), each in `Some` while it runs, and their data dirs.
pub(crate) struct ThreeBrokers {
    pub(crate) dirs: Vec<tempfile::TempDir>,
    pub(crate) brokers: Vec<Option<Broker>>,
}

/// Starts three brokers (one shard each, short session and heartbeat timings, `tune` applied
/// last) and waits up to `ready` for each to serve.
pub(crate) fn start(ready: Duration, tune: impl Fn(&mut ServerOptions)) -> ThreeBrokers {
    let listen: Vec<SocketAddr> = (0..3)
        .map(|_| ringlog_ports::free_addr().unwrap())
        .collect();
    let voters: Vec<String> = (1..=3)
        .map(|id| format!("{id}@{}", ringlog_ports::free_addr().unwrap()))
        .collect();
    let voters = voters.join(",");
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let brokers: Vec<Option<Broker>> = (0..3)
        .map(|index| {
            let mut options = ServerOptions::new(dirs[index].path().to_path_buf(), listen[index]);
            let id = BrokerId(index as u32 + 1);
            options.node_id = id;
            options.config.node_id = id;
            options.config.controller_quorum_voters = voters.parse().unwrap();
            options.config.broker_session_timeout = Duration::from_millis(3000);
            options.config.broker_heartbeat_interval = Duration::from_millis(500);
            options.shards = 1;
            tune(&mut options);
            Some(Broker::start(options).unwrap())
        })
        .collect();
    for broker in brokers.iter().flatten() {
        broker.wait_ready(ready).unwrap();
    }
    ThreeBrokers { dirs, brokers }
}

/// The index of the running broker whose controller leads the quorum, waiting up to `timeout`
/// for one.
#[allow(
    dead_code,
    reason = "not every test file waits for the controller's leader"
)]
pub(crate) fn controller_leader(brokers: &[Option<Broker>], timeout: Duration) -> usize {
    let started = Instant::now();
    loop {
        let leading = brokers.iter().position(|broker| {
            broker
                .as_ref()
                .is_some_and(|b| b.controller().status().is_leader)
        });
        if let Some(index) = leading {
            return index;
        }
        assert!(started.elapsed() < timeout, "no controller leader");
        std::thread::sleep(Duration::from_millis(50));
    }
}
