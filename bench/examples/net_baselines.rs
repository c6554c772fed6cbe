//! Prints the loopback baselines: one TCP stream with `write`, and with `sendfile` of a
//! page-cached file. `cargo run --release -p ringlog-bench --example net_baselines [MiB]`.

use ringlog_bench::net_baselines::{sendfile_loopback, tcp_loopback, write_file};

fn main() -> anyhow::Result<()> {
    let mib: u64 = std::env::args().nth(1).map_or(Ok(1024), |a| a.parse())?;
    let bytes = mib << 20;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("data");
    write_file(&path, bytes)?;
    for _ in 0..3 {
        let tcp = tcp_loopback(bytes)?;
        let sendfile = sendfile_loopback(&path, bytes)?;
        println!(
            "tcp write {:.2} GB/s   sendfile {:.2} GB/s",
            tcp.bytes_per_sec() / 1e9,
            sendfile.bytes_per_sec() / 1e9
        );
    }
    Ok(())
}
