//! `secretwatch`: watches who touches secrets.

mod bench;
mod bench_live;
mod bench_query;
mod bench_state;
mod cli;
mod config;
mod eval;
mod merge;
mod report;
mod rules_cmd;
mod sample_config;
mod scan;
mod serve;

use std::process::ExitCode;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // One line naming what failed.
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("secretwatch: error: {msg}");
            ExitCode::from(1)
        }
    }
}
