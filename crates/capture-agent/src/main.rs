//! retina-capture: the eBPF capture agent (see README.md).

// Without its BPF programs (no clang, or not Linux) the binary only explains
// why; the decoding and writing code it would use stays compiled and tested.
#![cfg_attr(not(all(target_os = "linux", retina_bpf)), allow(dead_code))]

mod bundle;
#[cfg(all(target_os = "linux", retina_bpf))]
mod capture;
mod kallsyms;
mod pcapng;
#[cfg(all(target_os = "linux", retina_bpf))]
mod programs;
mod tracefmt;

// `abi` serves the capture modules, which a build without BPF leaves out.
#[cfg_attr(not(all(target_os = "linux", retina_bpf)), allow(unused_imports))]
use retina_capture::{abi, cli};

use clap::Parser;

fn main() {
    let args = cli::Args::parse();
    if let Err(msg) = args.validate() {
        eprintln!("retina-capture: {msg}");
        std::process::exit(2);
    }
    match run(&args) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("retina-capture: error: {e:#}");
            std::process::exit(1);
        }
    }
}

#[cfg(all(target_os = "linux", retina_bpf))]
fn run(args: &cli::Args) -> anyhow::Result<()> {
    capture::run(args)
}

#[cfg(not(all(target_os = "linux", retina_bpf)))]
fn run(_args: &cli::Args) -> anyhow::Result<()> {
    anyhow::bail!(
        "this build has no BPF programs: {}",
        option_env!("RETINA_NO_BPF_REASON").unwrap_or("built without clang")
    )
}
