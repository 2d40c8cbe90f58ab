#!/usr/bin/env bash
# Creates the Python venv the notebook tests use (notebooks/requirements.txt,
# pinned) at $RETINA_VENV (default /opt/retina-venv). Re-running is cheap: it
# reinstalls only when requirements.txt changed. In CI (CI=true) any failure
# fails; elsewhere it warns and the notebook test skips with the reason.
set -uo pipefail
cd "$(dirname "$0")/.."

VENV="${RETINA_VENV:-/opt/retina-venv}"
REQ=notebooks/requirements.txt
STAMP="$VENV/.requirements.sha256"
PY="${PYTHON:-python3}"

fail() {
    echo "install-notebook-deps: $*" >&2
    if [ "${CI:-}" = "true" ]; then
        exit 1
    fi
    echo "install-notebook-deps: continuing without it (the notebook test will skip)" >&2
    exit 0
}

want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "install-notebook-deps: installing python3-venv" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv >/dev/null \
            || fail "cannot install python3-venv"
        PY=/usr/bin/python3
    else
        fail "$PY has no venv module (install python3-venv)"
    fi
fi
echo "install-notebook-deps: creating $VENV from $REQ" >&2
"$PY" -m venv "$VENV" || fail "cannot create a venv at $VENV (set RETINA_VENV)"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
"$VENV/bin/python" -m pip install -q -r "$REQ" || fail "pip install -r $REQ failed"
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null \
    || fail "cannot register the venv's Jupyter kernel"
echo "$want" > "$STAMP"
