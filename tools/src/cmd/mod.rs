//! The subcommands, one file each. Each has an `Args` (clap derive) and a `run`. The client
//! commands (everything but `broker`, `dev`, `bench`, `perf log` and `dump-log`) build their
//! own tokio runtime in `run` and share the helpers of `client`, `partition_offsets` and
//! `perf_report`.

pub mod bench;
pub mod broker;
pub mod consume;
pub mod dev;
pub mod dump_log;
pub mod perf_consume;
pub mod perf_log;
pub mod perf_produce;
pub mod produce;
pub mod topic;
pub mod verifiable_consumer;
pub mod verifiable_producer;

mod client;
mod partition_offsets;
mod perf_report;
