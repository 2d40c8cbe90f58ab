"""Checks the Parquet tables of one run with pyarrow: each file's schema is
exactly the one docs/schema.md documents (generated from the Rust table
definitions), and row counts agree with the JSON output of the same run.

Usage: check_tables.py TABLES_DIR RUN.json docs/schema.md
"""

import json
import re
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

TYPES = {
    "string": pa.string(),
    "bool": pa.bool_(),
    "uint8": pa.uint8(),
    "uint16": pa.uint16(),
    "uint32": pa.uint32(),
    "uint64": pa.uint64(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "timestamp[ns, UTC]": pa.timestamp("ns", tz="UTC"),
}

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print(f"FAIL {what}")


def documented(schema_md):
    """table name -> [(column, type, nullable)] from docs/schema.md."""
    tables, current = {}, None
    for line in Path(schema_md).read_text().splitlines():
        m = re.match(r"^## (\w+)\.parquet$", line)
        if m:
            current = tables.setdefault(m.group(1), [])
            continue
        m = re.match(r"^\| `(\w+)` \| ([^|]+) \| (yes|no) \|", line)
        if m and current is not None:
            current.append((m.group(1), TYPES[m.group(2).strip()], m.group(3) == "yes"))
    return tables


def main(tables_dir, run_json, schema_md):
    doc = documented(schema_md)
    run = json.loads(Path(run_json).read_text())
    flows = run["flows"]
    t = {}
    for name in ("flows", "events", "dns", "packets"):
        path = Path(tables_dir) / f"{name}.parquet"
        table = pq.read_table(path)
        t[name] = table
        want = doc[name]
        got = [(f.name, f.type, f.nullable) for f in table.schema]
        check(got == want, f"{name}: schema as documented")
        meta = pq.ParquetFile(path).metadata.metadata or {}  # file key-value metadata
        check(meta.get(b"retina.table") == name.encode(), f"{name}: retina.table metadata")
        check(b"retina.input_files" in meta, f"{name}: input files in the metadata")
        check(meta.get(b"retina.tool_version") == run["tool"]["version"].encode(), f"{name}: tool version")

    n = len(flows)
    check(t["flows"].num_rows == n, f"flows rows {t['flows'].num_rows} == JSON flows {n}")
    check(t["flows"]["flow_id"].to_pylist() == [f["id"] for f in flows], "flow ids as in the JSON")
    check(t["flows"]["community_id"].to_pylist() == [f["community_id"] for f in flows], "community ids")

    tcp = [f["tcp"] for f in flows if f["tcp"]]
    both = lambda d: d["client"] + d["server"]
    kinds = Counter()
    for kind, count in zip(t["events"]["kind"].to_pylist(), t["events"]["count"].to_pylist()):
        kinds[kind] += count
    expect = {
        "retransmission": sum(both({k: v["segments"] for k, v in x["retransmissions"].items()}) for x in tcp),
        "out_of_order": sum(both(x["out_of_order"]) for x in tcp),
        "capture_loss": sum(both(x["capture_lost_segments"]) for x in tcp),
        "zero_window": sum(both(x["zero_windows"]) for x in tcp),
        "reset": sum(both(x["resets"]) for x in tcp),
        "syn_retry": sum(x["syn_retransmissions"] for x in tcp),
        "duplicate": sum(both(x["duplicates"]) for x in tcp),
        "dns_timeout": sum(f["dns"]["unanswered"] for f in flows if f["dns"]),
    }
    for kind, want in expect.items():
        check(kinds.get(kind, 0) == want, f"events {kind}: {kinds.get(kind, 0)} == JSON {want}")

    queries = sum(f["dns"]["queries"] for f in flows if f["dns"])
    check(t["dns"].num_rows == queries, f"dns rows {t['dns'].num_rows} == JSON queries {queries}")
    packets = sum(both(f["packets"]) for f in flows)
    check(t["packets"].num_rows == packets, f"packets rows {t['packets'].num_rows} == JSON flow packets {packets}")

    ids = set(range(n))
    for name in ("events", "dns", "packets"):
        col = t[name]["flow_id"]
        check(set(col.to_pylist()) <= ids, f"{name}: every flow_id joins flows")
    per_flow = Counter(t["packets"]["flow_id"].to_pylist())
    check(all(per_flow.get(f["id"], 0) == both(f["packets"]) for f in flows), "packets per flow as in the JSON")
    check(pc.min(t["flows"]["first_time"]).value == min(f["first_ts_ns"] for f in flows), "first_time exact")

    print(f"check_tables: {len(failures) == 0 and 'ok' or 'FAILED'} ({len(failures)} failure(s)) on {', '.join(f'{k} {v.num_rows} rows' for k, v in t.items())}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
