//! The subcommands, one file each. Each has an `Args` (clap derive) and a `run`. The client
//! commands (everything but `broker`, `dev`, `bench`, `perf log` and `dump-log`) build their
//! own tokio runtime in `run` and share the helpers of `client`, `partition_offsets` and
//! `perf_report`.

pub(crate) mod acl;
pub(crate) mod bench;
pub(crate) mod broker;
pub(crate) mod consume;
pub(crate) mod dev;
pub(crate) mod dump_log;
pub(crate) mod group;
pub(crate) mod perf_consume;
pub(crate) mod perf_group_member;
pub(crate) mod perf_log;
pub(crate) mod perf_produce;
pub(crate) mod produce;
pub(crate) mod topic;
pub(crate) mod user;
pub(crate) mod verifiable_consumer;
pub(crate) mod verifiable_producer;

mod client;
mod partition_offsets;
mod perf_report;
