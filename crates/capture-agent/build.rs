//! Compiles the BPF programs of crates/ebpf (`*.bpf.c`) with clang into
//! `$OUT_DIR/<name>.bpf.o`, embedded by src/bpf.rs.
//!
//! clang: `$RETINA_CLANG` if set, else `clang-19`, else `clang`. When none is
//! found (or the target is not Linux) the agent is built without its BPF
//! programs: the build prints a warning saying what is missing and the
//! binary exits with that message (status 1). The analyzer never depends on
//! this crate.

use std::path::{Path, PathBuf};
use std::process::Command;

const PROGRAMS: [&str; 3] = ["packets", "drops", "retrans"];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(retina_bpf)");
    println!("cargo::rerun-if-env-changed=RETINA_CLANG");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let ebpf = manifest.join("../ebpf");
    println!("cargo::rerun-if-changed={}", ebpf.join("src").display());
    println!("cargo::rerun-if-changed={}", ebpf.join("include").display());
    for entry in ["src", "include"]
        .iter()
        .flat_map(|d| std::fs::read_dir(ebpf.join(d)).into_iter().flatten())
        .flatten()
    {
        println!("cargo::rerun-if-changed={}", entry.path().display());
    }

    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os != "linux" {
        println!(
            "cargo::rustc-env=RETINA_NO_BPF_REASON=retina-capture is Linux-only (built for {target_os})"
        );
        return;
    }
    let Some(clang) = find_clang() else {
        let msg = "clang-19 not found (nor clang, nor $RETINA_CLANG): the BPF programs were not \
                   compiled; run scripts/install-deps.sh (as root) and rebuild";
        println!("cargo::warning=retina-capture: {msg}");
        println!("cargo::rustc-env=RETINA_NO_BPF_REASON={msg}");
        return;
    };

    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let arch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86",
        Ok("aarch64") => "arm64",
        Ok(other) => other.to_string().leak(),
        Err(_) => "x86",
    };
    let multiarch = match arch {
        "x86" => "/usr/include/x86_64-linux-gnu",
        "arm64" => "/usr/include/aarch64-linux-gnu",
        _ => "/usr/include",
    };
    for name in PROGRAMS {
        let src = ebpf.join("src").join(format!("{name}.bpf.c"));
        let obj = out.join(format!("{name}.bpf.o"));
        compile(&clang, arch, multiarch, &ebpf.join("include"), &src, &obj);
    }
    println!("cargo::rustc-cfg=retina_bpf");
}

fn find_clang() -> Option<String> {
    let candidates: Vec<String> = match std::env::var("RETINA_CLANG") {
        Ok(c) if !c.is_empty() => vec![c],
        _ => vec!["clang-19".into(), "clang".into()],
    };
    candidates.into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

fn compile(clang: &str, arch: &str, multiarch: &str, include: &Path, src: &Path, obj: &Path) {
    let output = Command::new(clang)
        .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
        .arg(format!("-D__TARGET_ARCH_{arch}"))
        .arg(format!("-I{multiarch}"))
        .arg("-I")
        .arg(include)
        .arg("-c")
        .arg(src)
        .arg("-o")
        .arg(obj)
        .output()
        .unwrap_or_else(|e| panic!("running {clang}: {e}"));
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("bpf/bpf_helpers.h") || stderr.contains("asm/types.h") {
            "\nmissing headers: install libbpf-dev and linux-libc-dev (scripts/install-deps.sh)"
        } else {
            ""
        };
        panic!(
            "{clang} failed to compile {}:\n{stderr}{hint}",
            src.display()
        );
    }
}
