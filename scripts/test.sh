#!/usr/bin/env bash
# The project's test command (README): installs what the tests need, then runs
# every test of the workspace. Tests that need root or network namespaces skip
# with a printed reason outside CI and must run in CI (CI=true, as root).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo test --workspace --all-targets "$@"
