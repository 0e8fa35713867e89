"""How long ``%load_ext wif_notebook`` takes, against ``import pymongo``, in the same run.

Each measurement runs in a fresh interpreter (nothing cached in ``sys.modules``), alternating the
two so machine load affects both alike:

- load: an ``InteractiveShell`` exists (as in any notebook), then ``%load_ext wif_notebook`` is timed;
- anchor: ``import pymongo`` is timed.

Goal: the median load time is under half the median ``import pymongo`` time (ratio < 0.5).

    .venv/bin/python benchmarks/magics_load.py [--runs 21] [--output benchmarks/results/magics_load.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

LOAD = (
    "import time\n"
    "from IPython.core.interactiveshell import InteractiveShell\n"
    "ip = InteractiveShell.instance()\n"
    "t = time.perf_counter()\n"
    "ip.run_line_magic('load_ext', 'wif_notebook')\n"
    "print(time.perf_counter() - t)\n"
)
ANCHOR = "import time\nt = time.perf_counter()\nimport pymongo\nprint(time.perf_counter() - t)\n"


def _once(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    _once(LOAD), _once(ANCHOR)  # warm the OS file cache for both
    loads, anchors = [], []
    for _ in range(args.runs):
        loads.append(_once(LOAD))
        anchors.append(_once(ANCHOR))
    load_ms = statistics.median(loads) * 1000
    anchor_ms = statistics.median(anchors) * 1000
    import pymongo

    result = {
        "benchmark": "magics_load",
        "command": "python benchmarks/magics_load.py " + " ".join(sys.argv[1:]),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "pymongo": pymongo.version,
        "runs": args.runs,
        "load_ext_median_ms": round(load_ms, 2),
        "import_pymongo_median_ms": round(anchor_ms, 2),
        "ratio": round(load_ms / anchor_ms, 3),
        "goal": "ratio < 0.5",
        "goal_met": load_ms / anchor_ms < 0.5,
        "load_ext_ms": [round(x * 1000, 2) for x in loads],
        "import_pymongo_ms": [round(x * 1000, 2) for x in anchors],
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.output is not None:
        args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
