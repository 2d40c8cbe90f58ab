#!/usr/bin/env bash
# Runs the notebooks/ headless on tables of testdata captures:
#   1. writes Parquet tables with the built binary into a temporary directory
#      (one incident with --parquet-packets, and a small hive-partitioned
#      fleet node=…/date=…),
#   2. checks every table with pyarrow against the JSON of the same run and
#      against docs/schema.md (scripts/check_tables.py),
#   3. executes every notebook with nbclient, failing on any cell error
#      (scripts/execute_notebooks.py).
# Env: RETINA_ANALYZE (binary, default target/debug/retina-analyze),
#      RETINA_VENV (default /opt/retina-venv, see scripts/install-notebook-deps.sh),
#      KEEP_TABLES=DIR to keep the generated tables there (for running the
#      notebooks in Jupyter: RETINA_TABLES=DIR/tables RETINA_FLEET=DIR/fleet).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${RETINA_ANALYZE:-target/debug/retina-analyze}"
VENV="${RETINA_VENV:-/opt/retina-venv}"
PY="$VENV/bin/python"
if [ ! -x "$BIN" ]; then
    echo "run-notebooks: no binary at $BIN (cargo build, or set RETINA_ANALYZE)" >&2
    exit 1
fi
if [ ! -x "$PY" ]; then
    echo "run-notebooks: no Python venv at $VENV (run scripts/install-notebook-deps.sh)" >&2
    exit 1
fi
if [ -n "${KEEP_TABLES:-}" ]; then
    WORK="$KEEP_TABLES"
    mkdir -p "$WORK"
else
    WORK="$(mktemp -d)"
    trap 'rm -rf "$WORK"' EXIT
fi

# One incident: the loss and DNS ground-truth captures analyzed together.
"$BIN" testdata/groundtruth/loss.pcap testdata/groundtruth/dns.pcap --quiet --format json \
    --output "$WORK/capture.json" --parquet "$WORK/tables" --parquet-packets --force

# A fleet: one capture per node and day, in the layout Spark, Trino and DuckDB read.
while read -r node date capture; do
    dir="$WORK/fleet/node=$node/date=$date"
    "$BIN" "testdata/$capture" --quiet --format json --output "$WORK/fleet-$node-$date.json" \
        --parquet "$dir" --force
done <<'FLEET'
node-a 2026-11-25 groundtruth/loss.pcap
node-a 2026-11-26 groundtruth/think.pcap
node-b 2026-11-25 groundtruth/loss.receiver.pcap
node-b 2026-11-26 groundtruth/dns.pcap
node-c 2026-11-26 groundtruth/states.pcap
FLEET

export RETINA_TABLES="$WORK/tables" RETINA_JSON="$WORK/capture.json" RETINA_FLEET="$WORK/fleet"
export MPLBACKEND=Agg
"$PY" scripts/check_tables.py "$WORK/tables" "$WORK/capture.json" docs/schema.md
"$PY" scripts/execute_notebooks.py notebooks/*.ipynb
