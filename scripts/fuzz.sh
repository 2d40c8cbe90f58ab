#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for SECONDS each and prints the
# executions per target; exits non-zero on any crash, timeout or memory
# blow-up. Builds with cargo-fuzz on stable Rust (no sanitizer, release with
# debug assertions, so integer overflow panics too), installing cargo-fuzz
# from crates.io when missing.
#
#   scripts/fuzz.sh SECONDS [TARGET...]
#
# Seeds come from testdata/ and, when present, ../shared/corpus (public
# captures of other projects' test suites, never copied into the repo).
# What the fuzzer learns stays in $RETINA_FUZZ_DIR (default
# /var/tmp/retina-fuzz) between runs; crashing inputs are written to
# $RETINA_FUZZ_DIR/artifacts/TARGET/ and must become regression tests
# (tests/fuzz_regressions.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
    echo "usage: scripts/fuzz.sh SECONDS [TARGET...]" >&2
    exit 2
fi
SECONDS_EACH=$1
shift
WORK="${RETINA_FUZZ_DIR:-/var/tmp/retina-fuzz}"
# Instrumented builds get their own target directory: their flags differ
# from the main build's, and sharing one would rebuild both every time.
export CARGO_TARGET_DIR="${RETINA_FUZZ_TARGET:-/var/cache/retina-analyze/fuzz-target}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz from crates.io" >&2
    cargo install --locked cargo-fuzz >/dev/null
fi

ALL=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^retina-fuzz$')
TARGETS=${*:-$ALL}
for t in $TARGETS; do
    if ! grep -qx "$t" <<<"$ALL"; then
        echo "fuzz: no target '$t' (targets: $(echo $ALL))" >&2
        exit 2
    fi
done

echo "fuzz: building $(echo $TARGETS | wc -w) targets" >&2
if [ $# -eq 0 ]; then
    (cd fuzz && cargo fuzz build -s none -O -a) >&2
else
    for t in $TARGETS; do (cd fuzz && cargo fuzz build -s none -O -a "$t") >&2; done
fi
BIN="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"

# Seeds: files of the kinds each target reads, small enough to mutate fast,
# copied for this run only (runs side by side do not share them).
SEEDS="$WORK/seeds-$$"
trap 'rm -rf "$SEEDS"' EXIT
seed() { # target, then find(1) predicates
    local t=$1
    shift
    local dir="$SEEDS/$t"
    rm -rf "$dir"
    mkdir -p "$dir"
    for base in "$ROOT/testdata" "$ROOT/../shared/corpus"; do
        [ -d "$base" ] || continue
        find "$base" -type f -size -300k "$@" -print0 |
            while IFS= read -r -d '' f; do
                cp "$f" "$dir/$(echo "$f" | md5sum | cut -c1-16)"
            done
    done
}
no_seeds() { # targets whose input is structured bytes: start from nothing
    mkdir -p "$SEEDS/$1"
}
unpack_gz() { # the gzip seeds, decompressed, join the capture seeds
    local dir="$SEEDS/capture"
    for f in "$SEEDS"/gzip/*; do
        [ -f "$f" ] && gzip -dc "$f" 2>/dev/null | head -c 300000 >"$dir/$(basename "$f").raw" || true
    done
}
mkdir -p "$SEEDS"
seed capture \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' -o -name '*.pcapng.*' \) ! -name '*.gz'
seed gzip -name '*.gz' ! -name '*.tar.gz'
unpack_gz
no_seeds frame
no_seeds tcp
no_seeds dns
seed hubble \( -name '*.jsonpb' -o -path '*hubble*.json' \)
seed kubectl -path '*k8s*.json'
seed archive \( -name '*.tar.gz' -o -name '*.tar' -o -name '*.tgz' \)
seed agent_parquet -name '*.parquet'
for f in "$ROOT"/testdata/bundle/*.tar.gz; do
    tar -xzf "$f" -O --wildcards '*.parquet' >"$SEEDS/agent_parquet/$(basename "$f").parquet" 2>/dev/null || true
done
no_seeds agent_ringbuf
no_seeds filter
printf 'tcp port 80 and not host 10.0.0.1' >"$SEEDS/filter/port"
printf '(src net 10.0.0.0/8 or ip6) and portrange 1000-2000 and pod default/web-*' >"$SEEDS/filter/k8s"
no_seeds l7

# Input size limits: large enough for the seeds' structure, small enough
# for many executions a second (a TCP segment is 20 bytes of input).
max_len() {
    case $1 in
        archive | agent_parquet) echo 65536 ;;
        capture | gzip) echo 16384 ;;
        tcp) echo 1024 ;;
        *) echo 4096 ;;
    esac
}

failed=0
printf '%-14s %14s %10s %s\n' target executions exec/s result
for t in $TARGETS; do
    corpus="$WORK/corpus/$t"
    artifacts="$WORK/artifacts/$t"
    mkdir -p "$corpus" "$artifacts"
    log="$WORK/$t.log"
    set +e
    "$BIN/$t" "$corpus" "$SEEDS/$t" \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -max_len="$(max_len "$t")" -print_final_stats=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    if [ $rc -eq 0 ]; then
        result=ok
    else
        result="FAILED (exit $rc): $(ls -t "$artifacts" | head -1); log $log"
        failed=1
    fi
    printf '%-14s %14s %10s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$result"
done
if [ $failed -ne 0 ]; then
    echo "fuzz: a target failed; its input is in $WORK/artifacts (make it a regression test)" >&2
    exit 1
fi
