//! `lab bench …`, `lab soak …` and `lab sim …`: the benchmarks, the soak and the
//! cluster simulation (`lab/src/sim.rs`). The first two run through
//! `cargo xtask bench` and `cargo xtask soak`, which take the same options, install
//! the peers and build the release binaries this one starts first.

use std::process::ExitCode;

use anyhow::{Result, bail};

use flashless_lab::{bench, project_root, sim, soak};

fn main() -> ExitCode {
    // Printed with `{:#}`: the chain names the step and the command.
    match dispatch() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = project_root();
    match args.split_first() {
        Some((command, rest)) if command == "bench" => {
            bench::run(&root, &bench::Args::parse(rest)?)
        }
        Some((command, rest)) if command == "soak" => soak::run(&root, &soak::Args::parse(rest)?),
        Some((command, rest)) if command == "sim" => sim::run(&root, &sim::Args::parse(rest)?),
        _ => bail!("usage: lab bench|soak|sim [options] (see `cargo xtask help`)"),
    }
}
