//! The subcommands, one file each. Each has an `Args` (clap derive) and a `run`.

pub mod broker;
pub mod dump_log;
pub mod perf_log;
