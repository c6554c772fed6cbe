//! `ringlog bench`: Kafka's 2014 benchmark scenarios against brokers this command starts on
//! 127.0.0.1 (from this same executable), next to the hardware baselines of the same run;
//! writes `results.json`, `report.md` and PNG plots into `--out`. The harness is
//! `ringlog_bench::harness`; this command only hands it its options and this executable's
//! path.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args as ClapArgs;
use ringlog_bench::harness::{self, Options};

#[derive(ClapArgs, Debug)]
pub(crate) struct Args {
    /// A smoke check: every scenario and output with few records (about a minute).
    #[arg(long)]
    pub quick: bool,
    /// Where results.json, report.md and the plots go.
    #[arg(long, default_value = "ringlog-bench-results")]
    pub out: PathBuf,
    /// Where the brokers' data and the baselines' files go (a temporary directory inside it,
    /// removed afterwards). Put it on the disk to measure: a tmpfs makes every sync free.
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    pub work_dir: PathBuf,
    /// `io_backend` of every broker: `auto`, `uring` or `portable`.
    #[arg(long, default_value = "auto", value_parser = ["auto", "uring", "portable"])]
    pub io_backend: String,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let ringlog = std::env::current_exe().context("find the ringlog executable")?;
    harness::run(&Options {
        ringlog,
        out_dir: args.out,
        work_dir: args.work_dir,
        quick: args.quick,
        io_backend: args.io_backend,
    })?;
    Ok(())
}
