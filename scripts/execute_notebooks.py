"""Executes notebooks headless with nbclient; fails on any cell error, and
on committed outputs (notebooks are committed stripped).

Usage: execute_notebooks.py NOTEBOOK...
"""

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def main(paths):
    passed, failed = 0, 0
    for p in paths:
        nb = nbformat.read(p, as_version=4)
        dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
        if dirty:
            print(f"FAIL {p}: committed with outputs in cells {dirty} (strip them)")
            failed += 1
            continue
        client = NotebookClient(nb, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(Path(p).parent)}})
        try:
            client.execute()
        except CellExecutionError as e:
            print(f"FAIL {p}:\n{e}")
            failed += 1
            continue
        print(f"ok   {p} ({len(nb.cells)} cells)")
        passed += 1
    print(f"notebooks: {passed} passed, {failed} failed")
    return 1 if failed or not paths else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
