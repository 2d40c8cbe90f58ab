fn main() {
    eprintln!("retina-capture: not built yet; see crates/capture-agent/README.md");
    std::process::exit(2);
}
