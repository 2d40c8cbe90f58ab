//! The notebooks in notebooks/ run headless on tables this binary writes
//! from testdata, and a pyarrow check compares every table with the JSON of
//! the same run (scripts/run-notebooks.sh). Needs the Python venv that
//! scripts/install-notebook-deps.sh makes (scripts/install-deps.sh calls
//! it): in CI its absence fails; elsewhere the test skips saying why.

mod common;

use std::path::PathBuf;

#[test]
fn notebooks_run_on_tables_of_testdata() {
    let venv = std::env::var_os("RETINA_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/retina-venv"));
    let venv_ready = if venv.join("bin/python").exists() {
        Ok(())
    } else {
        Err(format!(
            "no Python venv at {} (run scripts/install-notebook-deps.sh)",
            venv.display()
        ))
    };
    if !common::require(venv_ready) {
        return;
    }
    let root = common::repo_root();
    let out = std::process::Command::new(root.join("scripts/run-notebooks.sh"))
        .env("RETINA_ANALYZE", env!("CARGO_BIN_EXE_retina-analyze"))
        .env("RETINA_VENV", &venv)
        .output()
        .expect("run scripts/run-notebooks.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "notebooks failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("check_tables: ok") && stdout.contains("notebooks: 3 passed, 0 failed"),
        "{stdout}"
    );
}
